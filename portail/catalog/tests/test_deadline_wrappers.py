"""deadline_for / deadline_for_session / is_open_for_changes: the town's holidays fed to the pure rule."""

from datetime import UTC, date, datetime, time

import pytest

from portail.catalog.deadlines import PARIS, deadline_for, deadline_for_session, is_open_for_changes
from portail.catalog.models import DeadlineKind
from tests.factories import TownFactory, UnitFactory

from .factories import BookingDeadlineRuleFactory, SessionFactory

pytestmark = pytest.mark.django_db


def test_session_deadline_uses_its_unit_rule():
    rule = BookingDeadlineRuleFactory()  # vendredi 12 h pour la semaine suivante
    session = SessionFactory(unit=UnitFactory(deadline_rule=rule), date=date(2026, 5, 4))
    assert deadline_for_session(session) == datetime(2026, 4, 30, 12, 0, tzinfo=PARIS)  # 1 May skipped


def test_moselle_town_skips_good_friday():
    rule = BookingDeadlineRuleFactory()
    assert deadline_for(rule, date(2026, 4, 6), TownFactory()) == datetime(2026, 4, 3, 12, tzinfo=PARIS)
    moselle = TownFactory(name="Metz", holiday_subdivision="57")
    assert deadline_for(rule, date(2026, 4, 6), moselle) == datetime(2026, 4, 2, 12, tzinfo=PARIS)


def test_school_holidays_follow_the_town_zone():
    rule = BookingDeadlineRuleFactory(
        kind=DeadlineKind.WORKING_DAYS_BEFORE, days=1, weekday=None, skip_school_holidays=True
    )
    # Monday 22 Feb 2027: zone A is on winter holidays 13–28 Feb, zone C from 6 to 21 Feb.
    zone_a = TownFactory(name="A-ville", school_holiday_zone="A")
    zone_c = TownFactory(name="C-ville", school_holiday_zone="C")
    assert deadline_for(rule, date(2027, 2, 22), zone_a) == datetime(2027, 2, 12, 12, tzinfo=PARIS)
    assert deadline_for(rule, date(2027, 2, 22), zone_c) == datetime(2027, 2, 5, 12, tzinfo=PARIS)


def test_deadline_reaching_previous_year_sees_its_holidays():
    rule = BookingDeadlineRuleFactory(kind=DeadlineKind.WORKING_DAYS_BEFORE, days=2, weekday=None)
    assert deadline_for(rule, date(2027, 1, 4), TownFactory()) == datetime(2026, 12, 30, 12, tzinfo=PARIS)


def test_without_town_the_current_town_is_used():
    TownFactory(holiday_subdivision="57")
    rule = BookingDeadlineRuleFactory()
    assert deadline_for(rule, date(2026, 4, 6)) == datetime(2026, 4, 2, 12, tzinfo=PARIS)


def test_unit_without_rule_closes_at_midnight_of_the_session_day():
    session = SessionFactory(unit=UnitFactory(deadline_rule=None), date=date(2026, 10, 7))
    assert deadline_for_session(session) == datetime(2026, 10, 7, 0, 0, tzinfo=PARIS)


@pytest.mark.parametrize(
    "now,expected",
    [
        (datetime(2026, 10, 2, 11, 59, 59, tzinfo=PARIS), True),
        (datetime(2026, 10, 2, 12, 0, 0, tzinfo=PARIS), False),
        (datetime(2026, 10, 2, 9, 59, tzinfo=UTC), True),
        (datetime(2026, 10, 2, 10, 0, tzinfo=UTC), False),
    ],
)
def test_open_for_changes_strictly_before_deadline(now, expected):
    rule = BookingDeadlineRuleFactory(at_time=time(12))
    assert is_open_for_changes(rule, date(2026, 10, 7), now, TownFactory()) is expected
