from datetime import date, timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from portail.accounts.models import AccessCode, User
from portail.catalog.models import Activity, Period, Session, Unit
from portail.demo import constants as C
from portail.demo.catalog import FRIDAY_NOON, PARIS, TWO_WORKING_DAYS
from portail.demo.loader import load_demo
from portail.households.models import ChangeRequest, Guardian, HealthRecord, Household, RequestStatus
from portail.organisations.holidays import school_holidays
from portail.organisations.models import Closure, SchoolYear, Town

pytestmark = pytest.mark.django_db

TOUSSAINT = (date(2026, 10, 17), date(2026, 11, 1))


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.fixture
def demo():
    return load_demo()


def session_dates(activity_slug: str, unit_name: str) -> list[date]:
    return list(
        Session.objects.filter(unit__activity__slug=activity_slug, unit__name=unit_name)
        .order_by("date")
        .values_list("date", flat=True)
    )


def test_running_load_demo_twice_changes_nothing_and_creates_no_duplicate():
    call_command("load_demo", stdout=StringIO())
    first = row_counts()
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert row_counts() == first
    assert "Rien à faire" in out.getvalue()
    assert first["households.Household"] == 3
    assert first["accounts.AccessCode"] == 1


def test_second_run_writes_nothing(demo):
    again = load_demo()
    assert not again.tally.changed


def test_rerun_restores_a_demo_value_changed_by_hand(demo):
    Town.objects.filter(name=C.TOWN_NAME).update(phone="01 00 00 00 00")
    result = load_demo()
    assert Town.objects.get(name=C.TOWN_NAME).phone == "01 99 00 00 00"
    assert result.tally.updated["organisations.Town"] == 1


def test_summary_prints_every_login_and_the_child_codes():
    out = StringIO()
    call_command("load_demo", stdout=out)
    text = out.getvalue()
    for email, role in C.STAFF_ACCOUNTS:
        assert email in text and role in text
    for value in (
        C.MARTIN_EMAIL,
        C.BERNARD_EMAIL,
        C.FAMILY_PASSWORD,
        C.STAFF_PASSWORD,
        C.DEMO_CHILD_CODE,
        C.DEMO_PAYER_CODE,
    ):
        assert value in text


def test_town_and_school_year_are_set_up(demo):
    town = Town.objects.get(name=C.TOWN_NAME)
    assert town.email == C.TOWN_EMAIL and town.school_holiday_zone == "A" and town.address and town.phone
    year = SchoolYear.objects.get(town=town, label="2026-2027")
    assert (year.start_date, year.end_date) == (date(2026, 9, 1), date(2027, 7, 3))
    assert town.schools.count() >= 2
    assert Closure.objects.filter(town=town, label="Pont de l'Ascension").exists()


@pytest.mark.parametrize("email", [C.MARTIN_EMAIL, C.BERNARD_EMAIL])
def test_demo_family_logs_in_through_the_login_form(client, demo, email):
    response = client.post(reverse("accounts:login"), {"email": email, "password": C.FAMILY_PASSWORD})
    assert response.status_code == 302
    user = User.objects.get(email=email)
    assert client.session["_auth_user_id"] == str(user.pk)
    assert Guardian.objects.get(user=user).is_payer


def test_demo_child_codes_open_the_martin_household(client, demo):
    load_demo()  # a re-run must not revoke the printed codes
    response = client.post(
        reverse("accounts:login_codes"), {"child_code": C.DEMO_CHILD_CODE, "payer_code": C.DEMO_PAYER_CODE}
    )
    assert response.status_code == 302
    payer = Guardian.objects.get(household__reference="D000001", is_payer=True)
    assert client.session["_auth_user_id"] == str(payer.user_id)
    assert AccessCode.objects.active().count() == 1


def test_demo_codes_are_reissued_when_staff_replaced_them(demo):
    AccessCode.objects.update(revoked_at=timezone.now())
    result = load_demo()
    assert result.tally.created["accounts.AccessCode"] == 1
    assert AccessCode.objects.active().count() == 1


def test_each_staff_role_has_one_account_in_its_group(demo):
    for email, role in C.STAFF_ACCOUNTS:
        user = User.objects.get(email=email)
        assert user.is_staff and not user.is_superuser
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.check_password(C.STAFF_PASSWORD)
    assert User.objects.get(email=f"admin@{C.DEMO_DOMAIN}").has_perm("accounts.access_admin")


def test_family_passwords_meet_the_minimum_length():
    assert len(C.FAMILY_PASSWORD) >= 12 and len(C.STAFF_PASSWORD) >= 12


def test_pai_child_has_its_health_record(demo):
    record = HealthRecord.objects.get(has_care_plan=True)
    assert record.allergies == "Arachide"
    assert record.child.household.reference == "D000001"


def test_every_household_has_one_payer_and_a_quotient(demo):
    for household in Household.objects.filter(reference__startswith="D"):
        assert household.guardians.filter(is_payer=True).count() == 1
        assert 1 <= household.children.count() <= 3
        assert household.quotients.exists()
    assert ChangeRequest.objects.filter(status=RequestStatus.PENDING).exists()


def test_a_decided_demo_request_stays_decided_on_rerun(demo):
    ChangeRequest.objects.update(status=RequestStatus.REFUSED)
    load_demo()
    assert not ChangeRequest.objects.filter(status=RequestStatus.PENDING).exists()


def test_wednesday_sessions_skip_public_and_school_holidays(demo):
    dates = session_dates("pommiers-mercredis-2026-2027", "Journée")
    assert len(dates) == 35
    assert all(day.weekday() == 2 for day in dates)
    assert date(2026, 11, 11) not in dates  # Armistice, a Wednesday
    assert not [day for day in dates if TOUSSAINT[0] <= day <= TOUSSAINT[1]]
    assert date(2026, 11, 4) in dates and date(2026, 10, 14) in dates
    assert not Session.objects.filter(date=date(2026, 11, 11)).exists()


def test_holiday_centre_opens_only_during_school_holidays_and_not_on_closures(demo):
    dates = session_dates("pommiers-vacances-2026-2027", "Journée")
    holidays = school_holidays(date(2026, 9, 1), date(2027, 7, 3), "A")
    assert dates and all(day in holidays for day in dates)
    assert date(2026, 10, 19) in dates
    assert date(2026, 12, 29) not in dates  # "Fermeture entre les fêtes"
    periods = Period.objects.filter(activity__slug="pommiers-vacances-2026-2027")
    assert periods.count() == 4
    assert all(p.enrolment_opens_at < p.enrolment_closes_at for p in periods)


def test_school_day_services_open_monday_tuesday_thursday_friday(demo):
    for slug, unit in (("restauration-scolaire-2026-2027", "Repas"), ("accueil-periscolaire-2026-2027", "Soir")):
        dates = session_dates(slug, unit)
        assert {day.weekday() for day in dates} == {0, 1, 3, 4}
        assert not [day for day in dates if TOUSSAINT[0] <= day <= TOUSSAINT[1]]
    meal = Unit.objects.get(activity__slug="restauration-scolaire-2026-2027", name="Repas")
    assert meal.deadline_rule.name == TWO_WORKING_DAYS and meal.price_cents == 380


def test_wednesday_activity_is_invoiced_with_an_open_year_window(demo):
    activity = Activity.objects.get(slug="pommiers-mercredis-2026-2027")
    assert activity.payment_mode == "invoiced"  # billed monthly; the holiday centre stays paid at booking
    assert Activity.objects.get(slug="pommiers-vacances-2026-2027").payment_mode == "prepaid"
    period = activity.periods.get()
    assert period.enrolment_opens_at.astimezone(PARIS).date() == date(2026, 6, 1)
    assert period.enrolment_closes_at.astimezone(PARIS).date() == date(2027, 6, 30)
    groups = {g.name: (g.min_age, g.max_age, g.capacity) for g in activity.groups.all()}
    assert groups == {"3-5 ans": (3, 5, 24), "6-11 ans": (6, 11, 36)}
    units = {
        u.name: (u.price_cents, u.deadline_rule.name, u.capacity)
        for u in activity.units.select_related("deadline_rule")
    }
    assert units == {
        "Matin": (400, FRIDAY_NOON, 24),
        "Après-midi": (600, FRIDAY_NOON, 24),
        "Journée": (1000, FRIDAY_NOON, 40),
    }


def test_sports_school_has_three_trimesters_and_age_groups(demo):
    activity = Activity.objects.get(slug="ecole-municipale-des-sports-2026-2027")
    assert activity.payment_mode == "at_enrolment"
    assert activity.periods.count() == 3
    assert activity.groups.filter(name="7/11 ans Escalade", min_age=7, max_age=11).exists()
    assert activity.groups.filter(name="8/11 ans Badminton", min_age=8).exists()
    last = Session.objects.filter(unit__activity=activity).latest("date").date
    assert last - timedelta(days=7) < date(2027, 6, 30)


def test_pommiers_activities_have_a_waiting_list_on_full_sessions(demo):
    with_list = set(Activity.objects.filter(session_waiting_list=True).values_list("slug", flat=True))
    assert with_list == {"pommiers-mercredis-2026-2027", "pommiers-vacances-2026-2027"}
    Activity.objects.filter(slug="pommiers-vacances-2026-2027").update(session_waiting_list=False)
    assert load_demo().tally.changed
    assert Activity.objects.get(slug="pommiers-vacances-2026-2027").session_waiting_list is True
    assert not load_demo().tally.changed
