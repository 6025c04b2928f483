"""The guided "Nouvelle inscription" form: steps narrowed by GET (no JavaScript needed), places,
prices, eligibility shown before submitting, and one outcome per child on submit."""

import datetime as dt
import html as htmllib
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portail.catalog.models import Activity, PaymentMode, UnitKind
from portail.catalog.tests.factories import SessionFactory
from portail.core.models import LogEntry
from portail.enrolments.models import Enrolment, EnrolmentStatus
from tests.factories import (
    ActivityFactory,
    ActivityTypeFactory,
    FacilityFactory,
    GroupFactory,
    PeriodFactory,
    UnitFactory,
    make_family,
)

from .factories import make_child, make_offer, request

pytestmark = pytest.mark.django_db
NEW = reverse("portal:enrolment_new")


@pytest.fixture
def family():
    household, guardian, kids = make_family(children=2)
    kids[0].first_name, kids[1].first_name = "Léa", "Tom"
    for kid in kids:
        kid.save(update_fields=["first_name"])
    return SimpleNamespace(household=household, guardian=guardian, user=guardian.user, kids=kids)


@pytest.fixture
def family_client(client, family):
    client.force_login(family.user)
    return client


@pytest.fixture
def pommiers():
    """Two facilities, so that the first step is a real choice; Pommiers has two activity types."""
    sports = FacilityFactory(name="École des sports", slug="sports")
    ActivityFactory(
        facility=sports,
        name="Escalade",
        slug="escalade",
        activity_type=ActivityTypeFactory(name="Sport", slug="sport"),
    )
    facility = FacilityFactory(name="Centre de loisirs Les Pommiers", slug="pommiers")
    ActivityFactory(
        facility=facility,
        activity_type=ActivityTypeFactory(name="Vacances", slug="vacances"),
        name="Pommiers été",
        slug="pommiers-ete",
    )
    activity = ActivityFactory(
        facility=facility,
        name="Pommiers mercredis",
        slug="pommiers-mercredis",
        payment_mode=PaymentMode.PREPAID,
        price_info="Tarif selon le quotient familial.",
        validation_mode=Activity.ValidationMode.AUTO,
    )
    period = PeriodFactory(activity=activity, name="Année 2026-2027")
    PeriodFactory(activity=activity, name="Été 2027", start_date=dt.date(2027, 7, 5), end_date=dt.date(2027, 7, 30))
    big = GroupFactory(activity=activity, name="6-11 ans", min_age=6, max_age=11, capacity=12, position=1)
    small = GroupFactory(activity=activity, name="3-5 ans", min_age=3, max_age=5, capacity=1, position=0)
    morning = UnitFactory(activity=activity, name="Matin", kind=UnitKind.MORNING, price_cents=400, position=0)
    day = UnitFactory(activity=activity, name="Journée", kind=UnitKind.DAY, price_cents=1000, position=1)
    return SimpleNamespace(activity=activity, period=period, big=big, small=small, morning=morning, day=day)


def html_of(response):
    return htmllib.unescape(response.content.decode())


def choose(p, group=None):
    params = {"structure": "pommiers", "type": "mercredis", "activite": "pommiers-mercredis", "periode": p.period.pk}
    if group is not None:
        params["groupe"] = group.pk
    return params


def post_url(p, group):
    return f"{NEW}?activite={p.activity.slug}&periode={p.period.pk}&groupe={group.pk}"


# --- The steps -----------------------------------------------------------------------------


def test_each_step_narrows_the_next_one_without_javascript(family_client, pommiers):
    response = family_client.get(NEW)
    form = response.context["choice"]
    assert list(form.fields) == ["structure"]
    assert [label for _, label in form.fields["structure"].choices][1:] == [
        "Centre de loisirs Les Pommiers",
        "École des sports",
    ]
    html = html_of(response)
    assert 'method="get"' in html and ">Continuer</button>" in html

    form = family_client.get(NEW, {"structure": "pommiers"}).context["choice"]
    assert list(form.fields) == ["structure", "type"]
    assert {label for _, label in form.fields["type"].choices[1:]} == {"Mercredis", "Vacances"}

    form = family_client.get(NEW, {"structure": "pommiers", "type": "mercredis"}).context["choice"]
    # A single activity in the type is chosen for the family; two periods remain to choose from.
    assert form.activity == pommiers.activity
    assert list(form.fields) == ["structure", "type", "activite", "periode"]

    form = family_client.get(NEW, choose(pommiers)).context["choice"]
    assert form.period == pommiers.period and not form.complete
    assert [label for _, label in form.fields["groupe"].choices[1:]] == [
        "3-5 ans – 3 à 5 ans – 1 place restante",
        "6-11 ans – 6 à 11 ans – 12 places restantes",
    ]

    response = family_client.get(NEW, choose(pommiers, pommiers.big))
    assert response.context["choice"].complete
    assert 'method="post"' in html_of(response)


def test_catalog_link_with_activity_and_period_fills_the_facility_and_type(family_client, pommiers):
    form = family_client.get(NEW, {"activite": "pommiers-mercredis", "periode": pommiers.period.pk}).context["choice"]
    assert form.facility.slug == "pommiers"
    assert form.activity_type.slug == "mercredis"
    assert form.period == pommiers.period


def test_a_choice_that_no_longer_fits_the_step_above_is_dropped(family_client, pommiers):
    form = family_client.get(NEW, {**choose(pommiers, pommiers.big), "structure": "sports"}).context["choice"]
    assert form.facility.slug == "sports"
    assert form.activity.slug == "escalade"  # the only activity there
    assert form.period is None and form.group is None


def test_unknown_values_are_ignored(family_client, pommiers):
    response = family_client.get(NEW, {"structure": "nulle-part", "periode": "abc", "groupe": "999999"})
    assert response.status_code == 200
    assert response.context["choice"].facility is None


def test_unpublished_activities_are_not_offered(family_client, pommiers):
    ActivityFactory(facility=pommiers.activity.facility, name="Brouillon", slug="brouillon", is_published=False)
    response = family_client.get(NEW, {"activite": "brouillon"})
    assert response.context["choice"].activity is None
    assert "Brouillon" not in html_of(response)


def test_chosen_period_shows_window_places_and_prices(family_client, pommiers):
    request(make_child(birth_date=dt.date(2022, 1, 1)), pommiers.period, pommiers.small)
    html = html_of(family_client.get(NEW, choose(pommiers, pommiers.big)))
    period = pommiers.period
    opens = timezone.localtime(period.enrolment_opens_at)
    closes = timezone.localtime(period.enrolment_closes_at)
    for text in [
        f"Période d'inscription du {opens:%d/%m/%Y} au {closes:%d/%m/%Y}",
        "inscriptions ouvertes",
        "complet – liste d'attente",
        "12 places restantes",
        "Matin 8 h 30 – 17 h 30 : 4,00 €",
        "Journée 8 h 30 – 17 h 30 : 10,00 €",
        "Tarif selon le quotient familial.",
        "Payée à la réservation",
    ]:
        assert text in html, text


def test_htmx_enhancement_only_swaps_the_next_step(family_client, pommiers):
    html = html_of(family_client.get(NEW))
    assert f'hx-get="{NEW}"' in html and 'hx-trigger="change"' in html and 'hx-select="#inscription"' in html


# --- Eligibility before submitting ---------------------------------------------------------


def test_children_who_cannot_enrol_are_shown_with_the_reason_before_submitting(family_client, family, pommiers):
    tom = family.kids[1]
    tom.birth_date = dt.date(2023, 3, 1)
    tom.save(update_fields=["birth_date"])
    request(family.kids[0], pommiers.period, pommiers.big)
    html = html_of(family_client.get(NEW, choose(pommiers, pommiers.big)))
    assert "Tom aura 3 ans le 02/09/2026 : le groupe « 6-11 ans » accueille les enfants de 6 à 11 ans." in html
    assert "Léa a déjà une inscription en cours pour cette activité et cette période." in html


def test_preselected_child_from_a_link_is_ticked(family_client, family, pommiers):
    response = family_client.get(NEW, {**choose(pommiers, pommiers.big), "enfant": family.kids[1].pk})
    html = html_of(response)
    assert f'value="{family.kids[1].pk}" id="enfant-{family.kids[1].pk}" checked' in html
    assert f'value="{family.kids[0].pk}" id="enfant-{family.kids[0].pk}" aria' in html


# --- Submitting ----------------------------------------------------------------------------


def test_one_request_per_child_each_with_its_outcome(family_client, family, pommiers):
    lea, tom = family.kids
    tom.birth_date = dt.date(2023, 3, 1)
    tom.save(update_fields=["birth_date"])
    response = family_client.post(post_url(pommiers, pommiers.big), {"enfants": [lea.pk, tom.pk]}, follow=True)
    html = html_of(response)
    assert response.redirect_chain[-1][0] == reverse("portal:enrolments")
    assert "Léa : inscription validée." in html
    assert "Tom : demande refusée." in html and "accueille les enfants de 6 à 11 ans" in html
    assert Enrolment.objects.get(child=lea).status == EnrolmentStatus.VALIDATED
    assert not Enrolment.objects.filter(child=tom).exists()
    entry = LogEntry.objects.get(action="enrolment.requested")
    assert entry.actor == family.user and entry.channel == "web"


def test_when_no_child_can_enrol_nothing_is_saved_and_the_reasons_are_shown(family_client, family, pommiers):
    lea, tom = family.kids
    response = family_client.post(post_url(pommiers, pommiers.small), {"enfants": [lea.pk, tom.pk]})
    assert response.status_code == 200
    html = html_of(response)
    assert "Votre demande n'a pas été enregistrée." in html
    assert "Léa : Léa aura 8 ans le 02/09/2026" in html
    assert "Tom : Tom aura 8 ans" in html
    assert not Enrolment.objects.exists()


def test_closed_window_is_refused_with_its_reason(family_client, family, pommiers):
    pommiers.period.enrolment_opens_at = timezone.now() - dt.timedelta(days=60)
    pommiers.period.enrolment_closes_at = timezone.now() - dt.timedelta(days=1)
    pommiers.period.save()
    response = family_client.post(post_url(pommiers, pommiers.big), {"enfants": [family.kids[0].pk]})
    assert "Les inscriptions sont closes depuis le" in html_of(response)
    assert not Enrolment.objects.exists()


@pytest.mark.parametrize(
    "setup, expected_status, expected_text",
    [
        ({"validation_mode": Activity.ValidationMode.MANUAL}, EnrolmentStatus.REQUESTED, "en attente de validation"),
        ({"requires_pre_enrolment": True}, EnrolmentStatus.PRE_ENROLMENT, "pré-inscription enregistrée"),
        ({"full": True}, EnrolmentStatus.WAITING, "2e sur la liste d'attente"),
    ],
)
def test_outcome_is_shown_for_each_state(family_client, family, pommiers, setup, expected_status, expected_text):
    setup = dict(setup)
    if setup.pop("full", False):
        pommiers.big.capacity = 0
        pommiers.big.save(update_fields=["capacity"])
        request(make_child(), pommiers.period, pommiers.big)  # first on the list
    Activity.objects.filter(pk=pommiers.activity.pk).update(**setup)
    response = family_client.post(post_url(pommiers, pommiers.big), {"enfants": [family.kids[0].pk]}, follow=True)
    assert expected_text in html_of(response)
    assert Enrolment.objects.get(child=family.kids[0]).status == expected_status


def test_memo_and_weekly_pattern_are_stored(family_client, family, pommiers):
    wednesday = dt.date(2026, 9, 2)
    for unit in (pommiers.morning, pommiers.day):
        SessionFactory(unit=unit, date=wednesday)
    SessionFactory(unit=pommiers.day, date=wednesday + dt.timedelta(days=7))
    page = family_client.get(NEW, choose(pommiers, pommiers.big))
    form = page.context["form"]
    # Only the weekdays the activity opens on (here: Wednesdays) are offered.
    assert [row.label for row in form.pattern_rows] == ["Mercredi"]
    family_client.post(
        post_url(pommiers, pommiers.big),
        {
            "enfants": [family.kids[0].pk],
            "semaine": [f"2-{pommiers.morning.pk}", f"2-{pommiers.day.pk}"],
            "memo": "  Léa arrive à 9 h  ",
        },
    )
    enrolment = Enrolment.objects.get(child=family.kids[0])
    assert enrolment.memo == "Léa arrive à 9 h"
    assert sorted((line.weekday, line.unit_id) for line in enrolment.weekly_pattern.all()) == [
        (2, pommiers.morning.pk),
        (2, pommiers.day.pk),
    ]


def test_without_sessions_the_school_week_is_offered(family_client, pommiers):
    form = family_client.get(NEW, choose(pommiers, pommiers.big)).context["form"]
    assert [row.label for row in form.pattern_rows] == ["Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi"]


def test_weekly_pattern_with_a_foreign_unit_is_refused(family_client, family, pommiers):
    foreign = UnitFactory()
    response = family_client.post(
        post_url(pommiers, pommiers.big), {"enfants": [family.kids[0].pk], "semaine": [f"2-{foreign.pk}"]}
    )
    assert response.status_code == 200 and response.context["form"].errors["semaine"]
    assert not Enrolment.objects.exists()


def test_another_households_child_cannot_be_enrolled(family_client, pommiers):
    stranger = make_child()
    response = family_client.post(post_url(pommiers, pommiers.big), {"enfants": [stranger.pk]})
    assert response.status_code == 200 and response.context["form"].errors["enfants"]
    assert not Enrolment.objects.exists()


def test_no_child_ticked_is_an_error(family_client, pommiers):
    response = family_client.post(post_url(pommiers, pommiers.big), {})
    assert "Choisissez au moins un enfant." in html_of(response)
    assert not Enrolment.objects.exists()


def test_posting_before_choosing_the_group_saves_nothing(family_client, family, pommiers):
    response = family_client.post(NEW, {"enfants": [family.kids[0].pk]})
    assert response.status_code == 200
    assert "Choisissez d'abord l'activité, la période et le groupe." in html_of(response)
    assert not Enrolment.objects.exists()


def test_guided_form_query_count_does_not_grow_with_the_catalog(family_client, pommiers, django_assert_max_num_queries):
    params = choose(pommiers, pommiers.big)
    family_client.get(NEW, params)
    with CaptureQueriesContext(connection) as small:
        family_client.get(NEW, params)
    for _ in range(8):
        activity, period, group = make_offer()
        UnitFactory(activity=activity)
    with django_assert_max_num_queries(len(small)):
        family_client.get(NEW, params)
