"""A child cannot hold two units of the same activity at the same hours on one day (Matin and
Journée): a booking or a pending tick on an overlapping unit refuses the other, for families, the
weekly pattern and staff alike; switching (untick one, tick the other) works."""

import datetime as dt

import pytest

from portail.bookings import services
from portail.bookings.errors import BookingError
from portail.core.models import Channel
from portail.enrolments.models import WeeklyPattern
from tests.factories import SessionFactory, StaffFactory, UnitFactory

from .factories import WEDNESDAYS, make_bookable, paris

pytestmark = pytest.mark.django_db
NOW = paris(2026, 11, 20, 10)


@pytest.fixture
def setup():
    setup = make_bookable()  # the unit is "Journée", 8 h 30 – 17 h 30
    morning = UnitFactory(activity=setup.activity, name="Matin", start_time=dt.time(8, 30), end_time=dt.time(12, 0))
    evening = UnitFactory(activity=setup.activity, name="Soir", start_time=dt.time(17, 30), end_time=dt.time(19, 0))
    setup.morning = [SessionFactory(unit=morning, date=day) for day in WEDNESDAYS]
    setup.evening = [SessionFactory(unit=evening, date=day) for day in WEDNESDAYS]
    return setup


def tick(setup, session):
    return services.toggle_cell(
        household=setup.household,
        child=setup.children[0],
        session_id=session.pk,
        actor=setup.guardian.user,
        channel=Channel.WEB,
        now=NOW,
    )


def confirm(setup):
    return services.confirm_basket(household=setup.household, actor=setup.guardian.user, channel=Channel.WEB, now=NOW)


def test_a_pending_day_refuses_the_morning_of_the_same_day(setup):
    tick(setup, setup.sessions[0])
    with pytest.raises(BookingError) as info:
        tick(setup, setup.morning[0])
    assert info.value.code == "overlap"
    assert "Journée" in info.value.message and "Matin" in info.value.message


def test_a_booked_day_refuses_the_morning_but_not_another_date_nor_adjacent_hours(setup):
    tick(setup, setup.sessions[0])
    confirm(setup)
    with pytest.raises(BookingError):
        tick(setup, setup.morning[0])
    tick(setup, setup.morning[1])  # another Wednesday
    tick(setup, setup.evening[0])  # starts when the day ends: no overlap


def test_switching_from_day_to_morning_works_when_the_day_is_being_cancelled(setup):
    tick(setup, setup.sessions[0])
    confirm(setup)
    tick(setup, setup.sessions[0])  # untick: a pending cancellation
    tick(setup, setup.morning[0])
    result = confirm(setup)
    assert [b.session.unit.name for b in result.booked] == ["Matin"]
    assert [b.session.unit.name for b in result.cancelled] == ["Journée"]


def test_staff_cannot_book_overlapping_units_either(setup):
    child = setup.children[0]
    agent = StaffFactory()
    services.staff_book(child=child, session_id=setup.sessions[0].pk, actor=agent, now=NOW)
    with pytest.raises(BookingError) as info:
        services.staff_book(child=child, session_id=setup.morning[0].pk, actor=agent, now=NOW)
    assert info.value.code == "overlap"


def test_weekly_pattern_with_day_and_morning_refuses_the_second_with_the_reason(setup):
    enrolment = setup.enrolments[0]
    WeeklyPattern.objects.create(enrolment=enrolment, weekday=2, unit=setup.unit)
    WeeklyPattern.objects.create(enrolment=enrolment, weekday=2, unit=setup.morning[0].unit)
    result = services.apply_weekly_pattern(
        household=setup.household,
        enrolment=enrolment,
        start=WEDNESDAYS[0],
        end=WEDNESDAYS[-1],
        actor=setup.guardian.user,
        channel=Channel.WEB,
        now=NOW,
    )
    assert len(result.added) == 3
    assert len(result.refused) == 3
    assert all("mêmes heures" in reason for _, reason in result.refused)
