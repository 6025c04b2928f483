"""Tariffs, database side (billing.tariffs), the staff pages (backoffice "Tarifs") and the demo grids."""

import datetime as dt
import html
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from portail.billing.models import SiblingOrder, TariffBracket, TariffGrid, TariffPrice
from portail.billing.pricing import Bracket, PricingError, validate_grid
from portail.billing.tariffs import (
    HouseholdFacts,
    QuotientFact,
    TariffValidationError,
    grid_for,
    household_facts,
    load_grids,
    quote_booking,
    save_grid,
)
from portail.catalog.models import UnitKind
from portail.core.models import LogEntry
from portail.enrolments.models import EnrolmentStatus
from portail.enrolments.tests.factories import EnrolmentFactory
from portail.households.models import FamilyQuotient
from tests.factories import (
    ActivityFactory,
    ChildFactory,
    GroupFactory,
    GuardianFactory,
    HouseholdFactory,
    PeriodFactory,
    StaffFactory,
    TownFactory,
    UnitFactory,
    make_family,
)

pytestmark = pytest.mark.django_db


BOUNDS = [(0, 600), (600, 1000), (1000, 1400), (1400, None)]
DAY = dt.date(2026, 10, 7)


def make_grid(activity, *, valid_from, valid_until=None, prices=None, bounds=BOUNDS, name=None, **rules):
    """A stored grid; prices = {unit: [cents per bracket of bounds]}."""
    grid = TariffGrid.objects.create(
        activity=activity,
        name=name or f"Tarifs {valid_from:%Y}",
        valid_from=valid_from,
        valid_until=valid_until,
        **rules,
    )
    for index, (low, high) in enumerate(bounds):
        bracket = TariffBracket.objects.create(grid=grid, min_quotient=low, max_quotient=high)
        for unit, cents in (prices or {}).items():
            TariffPrice.objects.create(bracket=bracket, unit=unit, price_cents=cents[index])
    return grid


@pytest.fixture
def town():
    return TownFactory(postcode="99999", city="Ville-Fleurie")


@pytest.fixture
def activity():
    return ActivityFactory(name="Mercredis")


@pytest.fixture
def unit(activity):
    return UnitFactory(activity=activity, name="Matin", kind=UnitKind.MORNING)


@pytest.fixture
def grid(activity, unit):
    return make_grid(
        activity,
        valid_from=dt.date(2026, 9, 1),
        prices={unit: [400, 500, 600, 700]},
        non_resident_surcharge_percent=Decimal(20),
        sibling_discount_percents=[0, 10, 20],
        late_booking_surcharge_cents=200,
    )


def family(*, postcode="99999", city="Ville-Fleurie", quotient=700, births=(dt.date(2018, 5, 14),)):
    household = HouseholdFactory()
    GuardianFactory(household=household, user=None, postcode=postcode, city=city)
    if quotient is not None:
        FamilyQuotient.objects.create(
            household=household, value=quotient, valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31)
        )
    children = [ChildFactory(household=household, birth_date=birth) for birth in births]
    return household, children


def enrol(child, activity, *, start=dt.date(2026, 9, 1), end=dt.date(2027, 7, 3), status=EnrolmentStatus.VALIDATED):
    group = GroupFactory(activity=activity)
    period = PeriodFactory(activity=activity, start_date=start, end_date=end)
    return EnrolmentFactory(child=child, group=group, period=period, status=status)


# --- Grids ----------------------------------------------------------------------------------------------


def test_grid_for_picks_the_version_valid_on_the_date(activity, unit, django_assert_num_queries):
    old = make_grid(
        activity, valid_from=dt.date(2025, 9, 1), valid_until=dt.date(2026, 8, 31), prices={unit: [1, 2, 3, 4]}
    )
    new = make_grid(activity, valid_from=dt.date(2026, 9, 1), prices={unit: [400, 500, 600, 700]})
    make_grid(ActivityFactory(), valid_from=dt.date(2020, 1, 1))  # another activity's grid is never picked
    with django_assert_num_queries(2):
        loaded = grid_for(activity.pk, dt.date(2026, 8, 31))
    assert loaded.id == old.pk and loaded.brackets[0].prices == {unit.pk: 1}
    loaded = grid_for(activity.pk, dt.date(2026, 9, 1))
    assert loaded.id == new.pk
    assert [(b.min_quotient, b.max_quotient) for b in loaded.brackets] == BOUNDS
    assert [b.prices[unit.pk] for b in loaded.brackets] == [400, 500, 600, 700]
    assert validate_grid(loaded) == []
    with django_assert_num_queries(1):
        assert grid_for(activity.pk, dt.date(2025, 8, 31)) is None


def test_load_grids_reads_every_version_of_many_activities_in_two_queries(unit, grid, django_assert_num_queries):
    others = [ActivityFactory() for _ in range(5)]
    for other in others:
        make_grid(other, valid_from=dt.date(2026, 9, 1), prices={UnitFactory(activity=other): [1, 2, 3, 4]})
    with django_assert_num_queries(2):
        grids = load_grids([grid.activity_id, *(a.pk for a in others)])
    assert len(grids) == 6
    assert grids[grid.activity_id][0].sibling_discount_percents == (0, 10, 20)
    assert grids[grid.activity_id][0].non_resident_surcharge_percent == Decimal(20)


# --- Household facts and quotes ------------------------------------------------------------------------


def test_quote_booking_from_database_facts(town, activity, unit, grid):
    household, (elder, younger) = family(births=(dt.date(2015, 3, 1), dt.date(2018, 5, 14)))
    enrol(elder, activity)
    enrol(younger, activity)
    quote = quote_booking(child=younger, household=household, unit=unit, service_date=DAY)
    assert quote.amount_cents == 450  # QF 700: 5,00 €, 2nd child −10 %
    assert quote.unit_price_cents == 500
    assert quote.trail == ("Tranche QF 600 – 1000 : 5,00 €", "Frère/sœur (2e enfant) : −10 %")
    assert quote_booking(child=elder, household=household, unit=unit, service_date=DAY).amount_cents == 500


def test_siblings_count_only_active_children_with_a_validated_enrolment_covering_the_date(town, activity, unit, grid):
    household, (eldest, inactive, other_activity, waiting, finished, child) = family(
        births=[dt.date(2012 + i, 1, 1) for i in range(6)]
    )
    enrol(eldest, activity)
    enrol(inactive, activity)
    inactive.is_active = False
    inactive.save()
    enrol(other_activity, ActivityFactory())
    enrol(waiting, activity, status=EnrolmentStatus.WAITING)
    enrol(finished, activity, start=dt.date(2025, 9, 1), end=dt.date(2026, 7, 3))
    enrol(child, activity)
    quote = quote_booking(child=child, household=household, unit=unit, service_date=DAY)
    assert "Frère/sœur (2e enfant) : −10 %" in quote.trail


def test_sibling_order_of_the_grid_decides_who_is_first(town, activity, unit, grid):
    grid.sibling_order = SiblingOrder.YOUNGEST_FIRST
    grid.save()
    household, (elder, younger) = family(births=(dt.date(2015, 3, 1), dt.date(2018, 5, 14)))
    enrol(elder, activity)
    enrol(younger, activity)
    assert quote_booking(child=younger, household=household, unit=unit, service_date=DAY).amount_cents == 500
    assert quote_booking(child=elder, household=household, unit=unit, service_date=DAY).amount_cents == 450


@pytest.mark.parametrize(
    ("postcode", "city", "quotient", "service_date", "late", "amount", "rule"),
    [
        ("99999", "Ville-Fleurie", 700, DAY, False, 500, None),
        ("75001", "Paris", 700, DAY, False, 600, "Hors commune : +20 %"),
        ("", "VILLE FLEURIE", 700, DAY, False, 500, None),  # no postcode: the city decides
        ("99999", "Ville-Fleurie", None, DAY, False, 700, "QF absent ou expiré : tranche la plus haute"),
        ("99999", "Ville-Fleurie", 700, dt.date(2027, 1, 6), False, 700, "QF absent ou expiré : tranche la plus haute"),
        ("99999", "Ville-Fleurie", 700, DAY, True, 700, "Réservation hors délai : +2,00 €"),
    ],
)
def test_quote_booking_residency_quotient_and_late(
    town, activity, unit, grid, postcode, city, quotient, service_date, late, amount, rule
):
    household, (child,) = family(postcode=postcode, city=city, quotient=quotient)
    quote = quote_booking(child=child, household=household, unit=unit, service_date=service_date, late=late)
    assert quote.amount_cents == amount
    if rule:
        assert rule in quote.trail


def test_quote_booking_reads_a_booking_and_billed_absence(town, activity, unit, grid):
    household, (child,) = family()
    booking = SimpleNamespace(child=child, session=SimpleNamespace(unit=unit, date=DAY))
    assert quote_booking(booking=booking, household=household).amount_cents == 500
    absence = quote_booking(booking=booking, kind="billed_absence")
    assert absence.trail[-1] == "Absence facturée : 100 % du prix"


def test_quote_booking_without_a_grid_is_a_pricing_error(town, activity, unit, grid):
    household, (child,) = family()
    with pytest.raises(PricingError) as error:
        quote_booking(child=child, household=household, unit=unit, service_date=dt.date(2026, 8, 31))
    assert error.value.message == "Aucune grille tarifaire pour « Mercredis » le 31/08/2026."


def test_quote_booking_with_facts_and_grids_cache_runs_no_query(town, activity, unit, grid, django_assert_num_queries):
    household, (child,) = family()
    facts = household_facts([household.pk], town=town)
    cache = load_grids([activity.pk])
    unit = type(unit).objects.select_related("activity").get(pk=unit.pk)
    with django_assert_num_queries(0):
        for day in (DAY, DAY + dt.timedelta(days=7)):
            assert (
                quote_booking(
                    child=child, household=household, unit=unit, service_date=day, grids_cache=cache, facts=facts
                ).amount_cents
                == 500
            )


def test_quote_booking_loads_missing_grids_into_the_cache(town, activity, unit, grid):
    household, (child,) = family()
    cache = {}
    quote_booking(child=child, household=household, unit=unit, service_date=DAY, grids_cache=cache)
    assert [g.id for g in cache[activity.pk]] == [grid.pk]


@pytest.mark.parametrize("count", [1, 50])
def test_household_facts_query_count_is_bounded(town, activity, count, django_assert_max_num_queries):
    ids = []
    for index in range(count):
        household, children = family(
            postcode="99999" if index % 2 else "75001", births=(dt.date(2015, 1, 1), dt.date(2018, 1, 1))
        )
        for child in children:
            enrol(child, activity)
        ids.append(household.pk)
    with django_assert_max_num_queries(4):
        facts = household_facts(ids)
    assert set(facts) == set(ids)
    with django_assert_max_num_queries(3):
        assert household_facts(ids, town=town) == facts
    first = facts[ids[0]]
    assert first.resident is False
    assert len(first.children) == 2 and len(first.enrolments) == 2
    assert first.quotient_on(DAY) == (700, dt.date(2026, 12, 31))


def test_quotient_on_prefers_the_valid_one_then_the_latest_expired():
    facts = HouseholdFacts(
        household_id=1,
        resident=True,
        quotients=(
            QuotientFact(400, dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
            QuotientFact(900, dt.date(2026, 1, 1), dt.date(2026, 6, 30)),
            QuotientFact(800, dt.date(2026, 9, 1), dt.date(2027, 8, 31)),
        ),
    )
    assert facts.quotient_on(dt.date(2026, 3, 1)) == (900, dt.date(2026, 6, 30))
    assert facts.quotient_on(dt.date(2026, 7, 15)) == (900, dt.date(2026, 6, 30))  # expired: highest bracket
    assert facts.quotient_on(dt.date(2026, 9, 1)) == (800, dt.date(2027, 8, 31))
    assert facts.quotient_on(dt.date(2024, 1, 1)) == (None, None)


def test_without_a_town_address_nobody_pays_the_non_resident_surcharge(activity, unit, grid):
    TownFactory()  # no postcode, no city: its name is used as the city
    household, _ = family(postcode="75001", city="Paris")
    assert household_facts([household.pk])[household.pk].resident is False
    resident, _ = family(postcode="", city="ville-sur-test")
    assert household_facts([resident.pk])[resident.pk].resident is True


# --- save_grid --------------------------------------------------------------------------------------------

TODAY = dt.date(2026, 11, 30)


def brackets_for(unit, prices=(400, 500, 600, 700), bounds=BOUNDS):
    return [Bracket(low, high, {unit.pk: cents}) for (low, high), cents in zip(bounds, prices, strict=True)]


def test_save_grid_creates_a_grid_with_brackets_and_prices_and_audits_it(activity, unit):
    manager = StaffFactory(role="Gestionnaire")
    result = save_grid(
        activity=activity,
        actor=manager,
        name="Tarifs 2027",
        valid_from=dt.date(2027, 1, 1),
        brackets=brackets_for(unit),
        non_resident_surcharge_percent=Decimal("12.5"),
        sibling_discount_percents=[Decimal(0), Decimal(10)],
        today=TODAY,
    )
    assert result.created and result.warnings == [] and result.notices == []
    loaded = grid_for(activity.pk, dt.date(2027, 1, 1))
    assert [b.prices[unit.pk] for b in loaded.brackets] == [400, 500, 600, 700]
    assert loaded.sibling_discount_percents == (0, 10)
    entry = LogEntry.objects.get(action="tariff.saved")
    assert entry.actor == manager and entry.object_id == str(result.grid.pk)
    assert entry.after["brackets"][1] == {"min": 600, "max": 1000, "prices": {str(unit.pk): 500}}
    assert entry.after["non_resident_surcharge_percent"] == "12.5"


@pytest.mark.parametrize(
    ("brackets", "message"),
    [
        (
            lambda u: brackets_for(u, bounds=[(0, 600), (700, 1000), (1000, 1400), (1400, None)]),
            "Trou entre les tranches",
        ),
        (lambda u: brackets_for(u, bounds=[(0, 700), (600, 1000), (1000, 1400), (1400, None)]), "se chevauchent"),
        (lambda u: brackets_for(u, bounds=[(0, 600), (600, 1000), (1000, 1400), (1400, 2000)]), "sans borne haute"),
        (lambda u: brackets_for(u, prices=(400, -1, 600, 700)), "Prix négatif pour « Matin »"),
        (lambda u: [Bracket(0, 600, {u.pk: 1}), Bracket(600, None, {})], "Prix manquant pour « Matin »"),
        (lambda u: [Bracket(0, None, {UnitFactory().pk: 1})], "n'est pas une unité de cette activité"),
    ],
)
def test_save_grid_refuses_invalid_grids_in_french(activity, unit, brackets, message):
    with pytest.raises(TariffValidationError) as refusal:
        save_grid(
            activity=activity,
            actor=None,
            name="X",
            valid_from=dt.date(2027, 1, 1),
            brackets=brackets(unit),
            today=TODAY,
        )
    assert any(message in error for error in refusal.value.errors), refusal.value.errors
    assert not TariffGrid.objects.exists() and not LogEntry.objects.filter(action="tariff.saved").exists()


def test_save_grid_refuses_overlapping_versions(activity, unit):
    make_grid(activity, valid_from=dt.date(2027, 9, 1), name="Rentrée 2027", prices={unit: [1, 2, 3, 4]})
    with pytest.raises(TariffValidationError) as refusal:
        save_grid(
            activity=activity,
            actor=None,
            name="Printemps",
            valid_from=dt.date(2027, 3, 1),
            brackets=brackets_for(unit),
            today=TODAY,
        )
    assert refusal.value.errors == [
        "Les dates chevauchent celles de la grille « Rentrée 2027 » (à partir du 01/09/2027)."
    ]
    # With an end before the next version it fits.
    save_grid(
        activity=activity,
        actor=None,
        name="Printemps",
        valid_from=dt.date(2027, 3, 1),
        valid_until=dt.date(2027, 8, 31),
        brackets=brackets_for(unit),
        today=TODAY,
    )


def test_a_new_version_closes_the_grid_in_force_the_day_before(activity, unit, grid):
    result = save_grid(
        activity=activity,
        actor=None,
        name="Tarifs 2027",
        valid_from=dt.date(2027, 1, 1),
        brackets=brackets_for(unit, prices=(410, 510, 610, 710)),
        today=TODAY,
    )
    grid.refresh_from_db()
    assert grid.valid_until == dt.date(2026, 12, 31)
    assert result.notices == [f"La grille « {grid.name} » s'applique désormais jusqu'au 31/12/2026."]
    closing = LogEntry.objects.get(action="tariff.saved", object_id=str(grid.pk))
    assert closing.before == {"valid_until": None} and closing.after == {"valid_until": "2026-12-31"}
    assert grid_for(activity.pk, dt.date(2026, 12, 31)).id == grid.pk
    assert grid_for(activity.pk, dt.date(2027, 1, 1)).id == result.grid.pk


def test_a_new_version_cannot_start_while_the_current_one_is_already_used(activity, unit, grid):
    with pytest.raises(TariffValidationError) as refusal:
        save_grid(activity=activity, actor=None, name="X", valid_from=TODAY, brackets=brackets_for(unit), today=TODAY)
    assert "une nouvelle version doit commencer après aujourd'hui" in refusal.value.errors[0]


def test_a_grid_in_force_cannot_be_edited(activity, unit, grid):
    with pytest.raises(TariffValidationError) as refusal:
        save_grid(
            activity=activity,
            actor=None,
            grid=grid,
            name=grid.name,
            valid_from=grid.valid_from,
            brackets=brackets_for(unit, prices=(1, 1, 1, 1)),
            today=TODAY,
        )
    assert refusal.value.errors == [
        f"La grille « {grid.name} » a pris effet le 01/09/2026 : elle ne peut plus être modifiée. "
        "Créez une nouvelle version."
    ]
    assert grid_for(activity.pk, DAY).brackets[0].prices == {unit.pk: 400}


def test_editing_a_version_to_come_replaces_its_prices_and_moves_the_previous_end(activity, unit, grid):
    created = save_grid(
        activity=activity,
        actor=None,
        name="2027",
        valid_from=dt.date(2027, 1, 1),
        brackets=brackets_for(unit),
        today=TODAY,
    ).grid
    result = save_grid(
        activity=activity,
        actor=None,
        grid=created,
        name="2027",
        valid_from=dt.date(2027, 2, 1),
        brackets=[Bracket(0, 1000, {unit.pk: 300}), Bracket(1000, None, {unit.pk: 900})],
        today=TODAY,
    )
    assert not result.created
    grid.refresh_from_db()
    assert grid.valid_until == dt.date(2027, 1, 31)  # the version in force follows the new start
    assert [
        (b.min_quotient, b.max_quotient, b.prices) for b in grid_for(activity.pk, dt.date(2027, 2, 1)).brackets
    ] == [
        (0, 1000, {unit.pk: 300}),
        (1000, None, {unit.pk: 900}),
    ]
    edit = LogEntry.objects.filter(action="tariff.saved", object_id=str(created.pk)).latest("pk")
    assert set(edit.after) == {"valid_from", "brackets"}


def test_save_grid_warns_about_the_canteen_rules(activity):
    meal = UnitFactory(activity=activity, name="Repas", kind=UnitKind.MEAL)
    result = save_grid(
        activity=activity,
        actor=None,
        name="Cantine",
        valid_from=dt.date(2027, 1, 1),
        brackets=brackets_for(meal, prices=(100, 100, 100, 420)),
        today=TODAY,
    )
    assert result.warnings == [
        "Cantine à 1 € : le tarif de 1,00 € de la tranche QF 1000 – 1400 est réservé aux QF jusqu'à 1 000."
    ]


# --- Staff pages -------------------------------------------------------------------------------------------


@pytest.fixture
def manager_client(client):
    client.force_login(StaffFactory(role="Gestionnaire"))
    return client


def post_data(unit, *, name="Tarifs", valid_from, rows=BOUNDS, prices=("4,00", "5,00", "6,00", "7,00"), **extra):
    data = {
        "name": name,
        "valid_from": valid_from.isoformat(),
        "valid_until": "",
        "deliberation": "",
        "non_resident_surcharge_percent": "20",
        "sibling_discount_percents": "0 ; 10 ; 20",
        "sibling_order": "oldest_first",
        "late_booking_surcharge_cents": "2,00",
        "unexpected_presence_cents": "",
        "billed_absence_percent": "100",
        "flat_fee_cents": "",
        "tranches": str(len(rows) + 1),
    }
    for index, ((low, high), price) in enumerate(zip(rows, prices, strict=True)):
        data[f"tranche-{index}-min"] = str(low)
        data[f"tranche-{index}-max"] = "" if high is None else str(high)
        data[f"tranche-{index}-prix-{unit.pk}"] = price
    data.update(extra)
    return data


def staff_urls(activity, grid):
    return [
        ("get", reverse("backoffice:tariffs")),
        ("get", reverse("backoffice:tariff_detail", args=[grid.pk])),
        ("get", reverse("backoffice:tariff_create", args=[activity.pk])),
        ("post", reverse("backoffice:tariff_create", args=[activity.pk])),
        ("get", reverse("backoffice:tariff_edit", args=[grid.pk])),
        ("post", reverse("backoffice:tariff_edit", args=[grid.pk])),
    ]


def test_front_desk_agents_and_families_are_refused_anonymous_sent_to_login(client, activity, grid):
    client.force_login(StaffFactory(role="Agent d'accueil"))
    for method, url in staff_urls(activity, grid):
        assert getattr(client, method)(url).status_code == 403, url
    _, guardian, _ = make_family()
    client.force_login(guardian.user)
    for method, url in staff_urls(activity, grid):
        assert getattr(client, method)(url).status_code == 403, url
    client.logout()
    for method, url in staff_urls(activity, grid):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/compte/" in response["Location"], url
    assert TariffGrid.objects.count() == 1


def test_administrator_may_open_the_pages(client, activity, grid):
    client.force_login(StaffFactory(role="Administrateur"))
    assert client.get(reverse("backoffice:tariffs")).status_code == 200


def test_list_marks_the_grid_in_force(manager_client, activity, unit, grid, django_assert_max_num_queries):
    make_grid(activity, valid_from=dt.date(2025, 9, 1), valid_until=dt.date(2026, 8, 31), name="Ancienne grille")
    ActivityFactory(name="Sans tarif")
    with django_assert_max_num_queries(12):
        page = manager_client.get(reverse("backoffice:tariffs")).content.decode()
    assert "Mercredis" in page and "Sans tarif" in page and "Aucune grille tarifaire." in page
    current = page.index(grid.name)
    assert "En vigueur" in page[current : current + 800]
    assert "Terminée" in page
    assert 'aria-current="true"' in page


def test_detail_shows_the_price_table(manager_client, grid):
    page = manager_client.get(reverse("backoffice:tariff_detail", args=[grid.pk])).content.decode()
    for text in ["QF 0 – 600", "QF 1400 et plus", "4,00 €", "7,00 €", "+20 %", "+2,00 €", "2e enfant : 10 %"]:
        assert text in page, text


def test_new_version_is_copied_from_the_current_grid_and_saved(manager_client, activity, unit, grid):
    url = reverse("backoffice:tariff_create", args=[activity.pk])
    page = manager_client.get(url).content.decode()
    assert 'value="4,00"' in page and 'value="7,00"' in page and 'value="0 ; 10 ; 20"' in page
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    assert f'value="{tomorrow.isoformat()}"' in page

    starts = timezone.localdate() + dt.timedelta(days=40)
    response = manager_client.post(
        url, post_data(unit, name="Nouveaux tarifs", valid_from=starts, prices=("4,50", "5,50", "6,50", "7,5"))
    )
    created = TariffGrid.objects.get(name="Nouveaux tarifs")
    assert response.status_code == 302 and response["Location"] == reverse(
        "backoffice:tariff_detail", args=[created.pk]
    )
    assert [b.prices[unit.pk] for b in grid_for(activity.pk, starts).brackets] == [450, 550, 650, 750]
    assert created.sibling_discount_percents == [0, 10, 20] and created.late_booking_surcharge_cents == 200
    grid.refresh_from_db()
    assert grid.valid_until == starts - dt.timedelta(days=1)
    assert LogEntry.objects.filter(action="tariff.saved").count() == 2


def test_validation_errors_are_shown_in_french_and_nothing_is_saved(manager_client, activity, unit, grid):
    starts = timezone.localdate() + dt.timedelta(days=40)
    url = reverse("backoffice:tariff_create", args=[activity.pk])
    gap = [(0, 600), (700, 1000), (1000, 1400), (1400, None)]
    response = manager_client.post(
        url, post_data(unit, valid_from=starts, rows=gap, prices=("4,00", "4,005", "abc", "7,00"))
    )
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "rien n'a été enregistré" in page
    assert "Tranche 2, Matin : « 4,005 » : deux chiffres après la virgule au plus." in page
    assert "Tranche 3, Matin : « abc » n'est pas un montant en euros valable." in page
    assert 'value="4,005"' in page  # the values typed come back
    response = manager_client.post(url, post_data(unit, valid_from=starts, rows=gap))
    assert response.status_code == 400
    assert "Trou entre les tranches : aucun tarif pour les QF de 600 à 699." in html.unescape(response.content.decode())
    assert TariffGrid.objects.count() == 1


def test_add_a_row_saves_nothing(manager_client, activity, unit):
    url = reverse("backoffice:tariff_create", args=[activity.pk])
    data = post_data(unit, valid_from=timezone.localdate() + dt.timedelta(days=3), ajouter="1")
    response = manager_client.post(url, data)
    assert response.status_code == 200
    assert 'name="tranche-5-min"' in response.content.decode()
    assert not TariffGrid.objects.exists()


def test_edit_a_version_to_come_and_refuse_one_in_force(manager_client, activity, unit, grid):
    in_force = reverse("backoffice:tariff_edit", args=[grid.pk])
    response = manager_client.get(in_force, follow=True)
    assert "elle ne peut plus être modifiée" in html.unescape(response.content.decode())
    starts = timezone.localdate() + dt.timedelta(days=10)
    response = manager_client.post(in_force, post_data(unit, valid_from=starts))
    assert response.status_code == 302 and TariffGrid.objects.count() == 1

    future = make_grid(
        activity, valid_from=timezone.localdate() + dt.timedelta(days=60), name="À venir", prices={unit: [1, 2, 3, 4]}
    )
    grid.valid_until = future.valid_from - dt.timedelta(days=1)
    grid.save()
    url = reverse("backoffice:tariff_edit", args=[future.pk])
    assert 'value="0,01"' in manager_client.get(url).content.decode()
    response = manager_client.post(url, post_data(unit, name="À venir", valid_from=future.valid_from))
    assert response.status_code == 302
    assert [b.prices[unit.pk] for b in grid_for(activity.pk, future.valid_from).brackets] == [400, 500, 600, 700]


# --- Demo grids -------------------------------------------------------------------------------------------


def test_demo_tariffs_are_valid_and_idempotent():
    from portail.catalog.models import Unit
    from portail.demo.catalog import ensure_catalog
    from portail.demo.tariffs import ensure_tariffs
    from portail.demo.upsert import Tally

    ensure_catalog(Tally())
    tally = Tally()
    grids = ensure_tariffs(tally)
    assert len(grids) == 5 and tally.created["billing.TariffGrid"] == 5
    loaded = load_grids([g.activity_id for g in grids.values()])
    for slug, stored in grids.items():
        pure = loaded[stored.activity_id][0]
        names = dict(Unit.objects.filter(activity_id=stored.activity_id).values_list("id", "name"))
        assert validate_grid(pure, unit_names=names) == [], slug
    canteen = loaded[grids["restauration-scolaire-2026-2027"].activity_id][0]
    assert [b.prices for b in canteen.brackets][0] and canteen.non_resident_surcharge_percent == 0
    assert [next(iter(b.prices.values())) for b in canteen.brackets] == [100, 240, 360, 420]
    assert loaded[grids["ecole-municipale-des-sports-2026-2027"].activity_id][0].flat_fee_cents == 4500

    again = Tally()
    ensure_tariffs(again)
    assert not again.changed

    # A value changed by hand, and a bracket added by hand, are put back.
    TariffPrice.objects.filter(bracket__grid=grids["restauration-scolaire-2026-2027"]).update(price_cents=1)
    TariffBracket.objects.create(grid=grids["pommiers-vacances-2026-2027"], min_quotient=2000, max_quotient=None)
    restore = Tally()
    ensure_tariffs(restore)
    assert restore.changed
    assert not TariffBracket.objects.filter(min_quotient=2000).exists()
    assert sorted(
        TariffPrice.objects.filter(bracket__grid=grids["restauration-scolaire-2026-2027"]).values_list(
            "price_cents", flat=True
        )
    ) == [100, 240, 360, 420]
