"""Generating sessions over the 2026-2027 school year (zone A), cancelling and reopening them."""

from datetime import date

import pytest

from portail.catalog.calendar import cancel_session, generate_sessions, reopen_session
from portail.catalog.models import Session
from portail.catalog.selectors import open_sessions_for_month
from portail.core.errors import BusinessError
from portail.core.models import LogEntry
from tests.factories import StaffFactory, TownFactory, UnitFactory

from .factories import ClosureFactory, SessionFactory

pytestmark = pytest.mark.django_db

WEDNESDAY = 2
YEAR_START, YEAR_END = date(2026, 9, 1), date(2027, 7, 3)


@pytest.fixture
def unit():
    return UnitFactory(activity__facility__town=TownFactory(school_holiday_zone="A"))


def dates(unit):
    return set(Session.objects.filter(unit=unit).values_list("date", flat=True))


def generate(unit, **kwargs):
    params = {"start": YEAR_START, "end": YEAR_END, "weekdays": {WEDNESDAY}, "town": unit.activity.facility.town}
    params.update(kwargs)
    return generate_sessions(unit=unit, **params)


def test_wednesdays_of_the_school_year_skip_toussaint_and_11_november(unit):
    created = generate(unit, skip_school_holidays=True)
    got = dates(unit)
    assert created == len(got) > 30
    assert all(day.weekday() == WEDNESDAY for day in got)
    assert date(2026, 10, 21) not in got and date(2026, 10, 28) not in got  # Toussaint zone A
    assert date(2026, 11, 11) not in got  # Armistice, a Wednesday in 2026
    assert {date(2026, 10, 14), date(2026, 11, 4), date(2026, 11, 18)} <= got
    assert date(2027, 2, 17) not in got and date(2027, 2, 10) in got  # hiver zone A


def test_generation_is_idempotent(unit):
    first = generate(unit, skip_school_holidays=True)
    assert first > 0
    assert generate(unit, skip_school_holidays=True) == 0
    assert Session.objects.filter(unit=unit).count() == first


def test_overlapping_run_only_adds_the_missing_dates(unit):
    generate(unit, start=date(2026, 9, 1), end=date(2026, 9, 30))
    assert generate(unit, start=date(2026, 9, 1), end=date(2026, 10, 14)) == 2  # 7 and 14 October
    assert Session.objects.filter(unit=unit).count() == 7  # five Wednesdays in September


def test_school_holidays_kept_unless_asked(unit):
    generate(unit)
    got = dates(unit)
    assert date(2026, 10, 21) in got
    assert date(2026, 11, 11) not in got  # public holidays are skipped by default


def test_public_holidays_kept_when_flag_off(unit):
    generate(unit, skip_public_holidays=False, start=date(2026, 11, 1), end=date(2026, 11, 30))
    assert date(2026, 11, 11) in dates(unit)


def test_holiday_centre_opens_only_during_school_holidays(unit):
    created = generate(
        unit, weekdays={0, 1, 2, 3, 4}, only_school_holidays=True, start=date(2026, 10, 1), end=date(2026, 11, 30)
    )
    got = dates(unit)
    assert created == 10
    assert min(got) == date(2026, 10, 19) and max(got) == date(2026, 10, 30)
    assert date(2026, 10, 21) in got and date(2026, 11, 4) not in got


def test_closure_days_are_never_opened(unit):
    ClosureFactory(town=unit.activity.facility.town, start_date=date(2026, 11, 4), end_date=date(2026, 11, 4))
    ClosureFactory(town=TownFactory(name="Ailleurs"), start_date=date(2026, 11, 18), end_date=date(2026, 11, 18))
    generate(unit, start=date(2026, 11, 1), end=date(2026, 11, 30))
    assert dates(unit) == {date(2026, 11, 18), date(2026, 11, 25)}


def test_town_defaults_to_the_facility_town(unit):
    ClosureFactory(town=unit.activity.facility.town, start_date=date(2026, 11, 4), end_date=date(2026, 11, 4))
    generate_sessions(unit=unit, start=date(2026, 11, 1), end=date(2026, 11, 10), weekdays={WEDNESDAY})
    assert dates(unit) == set()


def test_cancelled_session_stays_cancelled_when_regenerating(unit):
    SessionFactory(unit=unit, date=date(2026, 9, 2), is_cancelled=True)
    generate(unit, start=date(2026, 9, 1), end=date(2026, 9, 30))
    assert Session.objects.get(unit=unit, date=date(2026, 9, 2)).is_cancelled
    assert Session.objects.filter(unit=unit).count() == 5


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"start": date(2026, 10, 1), "end": date(2026, 9, 1)}, "date de fin"),
        ({"weekdays": set()}, "au moins un jour"),
        ({"weekdays": {7}}, "au moins un jour"),
        ({"skip_school_holidays": True, "only_school_holidays": True}, "soit"),
        ({"start": date(2026, 1, 1), "end": date(2029, 1, 1)}, "deux ans"),
    ],
)
def test_bad_input_is_refused_and_nothing_saved(unit, kwargs, message):
    with pytest.raises(BusinessError) as error:
        generate(unit, **kwargs)
    assert message in error.value.message
    assert not Session.objects.exists()
    assert not LogEntry.objects.exists()


def test_generation_is_audited_with_the_count(unit):
    agent = StaffFactory()
    created = generate(unit, start=date(2026, 9, 1), end=date(2026, 9, 30), actor=agent)
    entry = LogEntry.objects.get(action="catalog.sessions_generated")
    assert entry.actor == agent and entry.channel == "staff"
    assert entry.after["created"] == created == 5
    assert entry.after["weekdays"] == [WEDNESDAY]
    generate(unit, start=date(2026, 9, 1), end=date(2026, 9, 30), actor=agent)
    assert LogEntry.objects.filter(action="catalog.sessions_generated").count() == 1  # nothing new, nothing logged


def test_cancel_and_reopen_are_audited():
    agent = StaffFactory()
    session = SessionFactory()
    cancel_session(session=session, actor=agent, reason="Grève")
    session.refresh_from_db()
    assert session.is_cancelled
    entry = LogEntry.objects.get(action="catalog.session_cancelled")
    assert (entry.actor, entry.before, entry.after, entry.message) == (
        agent,
        {"is_cancelled": False},
        {"is_cancelled": True},
        "Grève",
    )
    reopen_session(session=session, actor=agent)
    session.refresh_from_db()
    assert not session.is_cancelled
    assert LogEntry.objects.filter(action="catalog.session_reopened", object_id=str(session.pk)).exists()


def test_cancelling_twice_is_refused():
    session = SessionFactory(is_cancelled=True)
    with pytest.raises(BusinessError):
        cancel_session(session=session, actor=None)
    with pytest.raises(BusinessError):
        reopen_session(session=SessionFactory(date=date(2026, 10, 14)), actor=None)
    assert not LogEntry.objects.exists()


def test_open_sessions_for_month(unit):
    other = UnitFactory()
    generate(unit, start=date(2026, 11, 1), end=date(2026, 12, 31))
    SessionFactory(unit=other, date=date(2026, 11, 4))
    Session.objects.filter(unit=unit, date=date(2026, 11, 25)).update(is_cancelled=True)
    november = list(open_sessions_for_month(activity=unit.activity, year=2026, month=11))
    assert [s.date for s in november] == [date(2026, 11, 4), date(2026, 11, 18)]
    december = list(open_sessions_for_month(activity=unit.activity, year=2026, month=12))
    assert [s.date for s in december] == [
        date(2026, 12, 2),
        date(2026, 12, 9),
        date(2026, 12, 16),
        date(2026, 12, 23),
        date(2026, 12, 30),
    ]
