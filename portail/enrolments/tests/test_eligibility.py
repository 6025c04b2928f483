"""The one eligibility rule, table-driven: age and school-level bands at their boundaries, the
enrolment window at its exact boundaries, group of another activity, duplicates, inactive files."""

import datetime as dt

import pytest
from django.utils import timezone

from portail.enrolments.eligibility import check_eligibility
from portail.enrolments.models import EnrolmentStatus
from portail.households.models import HouseholdStatus
from tests.factories import ActivityFactory, ChildFactory, GroupFactory, HouseholdFactory, PeriodFactory

from .factories import EnrolmentFactory

pytestmark = pytest.mark.django_db

START = dt.date(2026, 9, 2)  # the period's first day: ages are counted on it
OPENS = timezone.make_aware(dt.datetime(2026, 6, 1, 8, 0))
CLOSES = timezone.make_aware(dt.datetime(2026, 7, 1, 12, 0))
INSIDE = timezone.make_aware(dt.datetime(2026, 6, 15, 10, 0))
TICK = dt.timedelta(microseconds=1)


@pytest.fixture
def period():
    return PeriodFactory(
        start_date=START, end_date=dt.date(2027, 7, 3), enrolment_opens_at=OPENS, enrolment_closes_at=CLOSES
    )


def codes(refusals):
    return [refusal.code for refusal in refusals]


@pytest.mark.parametrize(
    ("min_age", "max_age", "birth_date", "expected"),
    [
        # 6–8 years: turns 6 on the start day → 6, one day later → still 5.
        (6, 8, dt.date(2020, 9, 2), []),
        (6, 8, dt.date(2020, 9, 3), ["too_young"]),
        (6, 8, dt.date(2020, 9, 1), []),
        # Turns 9 the day after the start → still 8 (in); on the start day → 9 (out).
        (6, 8, dt.date(2017, 9, 3), []),
        (6, 8, dt.date(2017, 9, 2), ["too_old"]),
        # Lower bound only / upper bound only.
        (6, None, dt.date(2020, 9, 3), ["too_young"]),
        (6, None, dt.date(2010, 1, 1), []),
        (None, 3, dt.date(2022, 9, 3), []),
        (None, 3, dt.date(2022, 9, 2), ["too_old"]),
        # No restriction means everyone.
        (None, None, dt.date(2025, 1, 1), []),
        (None, None, dt.date(2010, 1, 1), []),
    ],
)
def test_age_band_is_checked_in_whole_years_on_the_period_start(period, min_age, max_age, birth_date, expected):
    group = GroupFactory(activity=period.activity, min_age=min_age, max_age=max_age)
    child = ChildFactory(birth_date=birth_date, school_level="")
    assert codes(check_eligibility(child=child, period=period, group=group, now=INSIDE)) == expected


@pytest.mark.parametrize(
    ("low", "high", "level", "expected"),
    [
        ("CP", "", "GS", ["level_out_of_band"]),  # min only
        ("CP", "", "CP", []),
        ("CP", "", "3E", []),
        ("", "CM2", "CM2", []),  # max only
        ("", "CM2", "6E", ["level_out_of_band"]),
        ("", "CM2", "TPS", []),
        ("CP", "CM2", "CE1", []),  # both
        ("CP", "CM2", "GS", ["level_out_of_band"]),
        ("CP", "CM2", "6E", ["level_out_of_band"]),
        ("", "", "", []),  # no restriction, even without a level
        ("", "", "4E", []),
        ("CP", "CM2", "", ["no_school_level"]),  # a child with no level and a restricted group
        ("", "CM2", "", ["no_school_level"]),
    ],
)
def test_school_level_band_uses_schooling_order(period, low, high, level, expected):
    group = GroupFactory(activity=period.activity, min_school_level=low, max_school_level=high)
    child = ChildFactory(school_level=level)
    assert codes(check_eligibility(child=child, period=period, group=group, now=INSIDE)) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (OPENS - TICK, ["window_not_open"]),
        (OPENS, []),
        (INSIDE, []),
        (CLOSES - TICK, []),
        (CLOSES, ["window_closed"]),
        (CLOSES + dt.timedelta(days=3), ["window_closed"]),
    ],
)
def test_enrolment_window_opens_inclusive_and_closes_exclusive(period, now, expected):
    group = GroupFactory(activity=period.activity)
    child = ChildFactory()
    assert codes(check_eligibility(child=child, period=period, group=group, now=now)) == expected


def test_window_messages_give_the_dates_in_french(period):
    group = GroupFactory(activity=period.activity)
    child = ChildFactory()
    early = check_eligibility(child=child, period=period, group=group, now=OPENS - TICK)
    late = check_eligibility(child=child, period=period, group=group, now=CLOSES)
    assert early[0].message == "Les inscriptions ouvrent le 01/06/2026 à 08:00."
    assert late[0].message == "Les inscriptions sont closes depuis le 01/07/2026 à 12:00."


def test_age_refusal_explains_the_band(period):
    group = GroupFactory(activity=period.activity, name="6-8 ans", min_age=6, max_age=8)
    child = ChildFactory(first_name="Léa", birth_date=dt.date(2020, 9, 3))
    [refusal] = check_eligibility(child=child, period=period, group=group, now=INSIDE)
    assert refusal.message == "Léa aura 5 ans le 02/09/2026 : le groupe « 6-8 ans » accueille les enfants de 6 à 8 ans."


def test_group_of_another_activity_is_refused(period):
    other_group = GroupFactory(activity=ActivityFactory(), min_age=99)
    child = ChildFactory()
    # The band of a foreign group is not even considered: one clear reason.
    assert codes(check_eligibility(child=child, period=period, group=other_group, now=INSIDE)) == ["group_mismatch"]


@pytest.mark.parametrize(
    ("existing_status", "expected"),
    [
        (EnrolmentStatus.REQUESTED, ["already_enrolled"]),
        (EnrolmentStatus.PRE_ENROLMENT, ["already_enrolled"]),
        (EnrolmentStatus.WAITING, ["already_enrolled"]),
        (EnrolmentStatus.OFFERED, ["already_enrolled"]),
        (EnrolmentStatus.VALIDATED, ["already_enrolled"]),
        (EnrolmentStatus.REFUSED, []),
        (EnrolmentStatus.CANCELLED, []),
    ],
)
def test_a_live_enrolment_for_the_same_activity_and_period_blocks_another(period, existing_status, expected):
    group = GroupFactory(activity=period.activity)
    other_group = GroupFactory(activity=period.activity)
    child = ChildFactory()
    EnrolmentFactory(child=child, group=other_group, period=period, status=existing_status, refusal_reason="complet")
    assert codes(check_eligibility(child=child, period=period, group=group, now=INSIDE)) == expected


def test_live_enrolment_in_another_period_does_not_block(period):
    group = GroupFactory(activity=period.activity)
    other_period = PeriodFactory(activity=period.activity, name="Autre période")
    child = ChildFactory()
    EnrolmentFactory(child=child, group=group, period=other_period)
    assert check_eligibility(child=child, period=period, group=group, now=INSIDE) == []


@pytest.mark.parametrize(
    ("child_active", "household_status", "expected"),
    [
        (True, HouseholdStatus.ACTIVE, []),
        (False, HouseholdStatus.ACTIVE, ["child_inactive"]),
        (True, HouseholdStatus.PENDING, ["household_inactive"]),
        (True, HouseholdStatus.ARCHIVED, ["household_inactive"]),
    ],
)
def test_inactive_child_or_household_is_refused(period, child_active, household_status, expected):
    group = GroupFactory(activity=period.activity)
    child = ChildFactory(is_active=child_active, household=HouseholdFactory(status=household_status))
    assert codes(check_eligibility(child=child, period=period, group=group, now=INSIDE)) == expected


def test_every_reason_is_reported_at_once(period):
    group = GroupFactory(activity=period.activity, min_age=10, min_school_level="6E")
    child = ChildFactory(birth_date=dt.date(2020, 1, 1), school_level="CP", is_active=False)
    assert codes(check_eligibility(child=child, period=period, group=group, now=CLOSES)) == [
        "window_closed",
        "too_young",
        "level_out_of_band",
        "child_inactive",
    ]
