"""The weekly pattern ("semaine type") applied to a date range: every matching session goes to the
basket in one transaction; the ones that cannot be booked are listed with the reason."""

import datetime as dt

import pytest

from portail.bookings import services
from portail.bookings.errors import BookingError
from portail.bookings.models import BasketLine, LineKind
from portail.catalog.models import UnitKind
from portail.core.models import Channel
from portail.enrolments.models import EnrolmentStatus, WeeklyPattern
from tests.factories import SessionFactory, UnitFactory

from .factories import make_bookable, make_booking, make_rule, paris

pytestmark = pytest.mark.django_db
NOW = paris(2026, 11, 20, 10)
# Mondays and Wednesdays of December 2026 (before the Christmas holidays).
DAYS = [dt.date(2026, 12, d) for d in (7, 9, 14, 16)]


@pytest.fixture
def setup():
    setup = make_bookable(dates=DAYS, deadline_rule=make_rule(), capacity=5)
    WeeklyPattern.objects.create(enrolment=setup.enrolments[0], weekday=2, unit=setup.unit)  # Wednesdays
    return setup


def apply(setup, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 31), now=NOW, enrolment=None, household=None):
    return services.apply_weekly_pattern(
        household=household or setup.household,
        enrolment=enrolment or setup.enrolments[0],
        start=start,
        end=end,
        actor=setup.guardian.user,
        channel=Channel.WEB,
        now=now,
    )


def test_pattern_puts_every_matching_session_in_the_basket(setup):
    result = apply(setup)
    assert [s.date for s in result.added] == [dt.date(2026, 12, 9), dt.date(2026, 12, 16)]
    assert result.refused == [] and result.already == 0
    assert {line.kind for line in BasketLine.objects.all()} == {LineKind.ADD}
    assert BasketLine.objects.count() == 2


def test_pattern_with_several_units_of_one_day(setup):
    # The day unit runs 8 h 30 – 17 h 30; an after-school unit does not overlap it.
    morning = UnitFactory(
        activity=setup.activity,
        name="Soir",
        kind=UnitKind.EVENING,
        price_cents=400,
        start_time=dt.time(17, 30),
        end_time=dt.time(19, 0),
    )
    SessionFactory(unit=morning, date=dt.date(2026, 12, 9))
    WeeklyPattern.objects.create(enrolment=setup.enrolments[0], weekday=2, unit=morning)
    result = apply(setup)
    assert len(result.added) == 3


def test_applying_twice_adds_nothing_new(setup):
    apply(setup)
    again = apply(setup)
    assert again.added == [] and again.already == 2
    assert BasketLine.objects.count() == 2


def test_booked_sessions_are_counted_as_already_there(setup):
    make_booking(setup.children[0], setup.sessions[1])
    result = apply(setup)
    assert result.already == 1 and len(result.added) == 1


def test_refused_sessions_are_listed_with_the_reason_and_the_others_added(setup):
    full = setup.sessions[3]  # 16 December
    full.capacity = 0
    full.save()
    result = apply(setup, now=paris(2026, 12, 4, 12))  # the deadline of the week of 7 December is past
    assert result.added == []
    reasons = {session.date: reason for session, reason in result.refused}
    assert reasons[dt.date(2026, 12, 9)].startswith("Réservation possible jusqu'au vendredi 4 décembre à 12 h")
    assert reasons[dt.date(2026, 12, 16)] == "Complet : il n'y a plus de place le mercredi 16 décembre 2026 (Journée)."


def test_range_must_be_inside_the_period(setup):
    with pytest.raises(BookingError) as info:
        apply(setup, start=dt.date(2026, 8, 1))
    assert info.value.code == "bad_range"
    with pytest.raises(BookingError):
        apply(setup, start=dt.date(2026, 12, 20), end=dt.date(2026, 12, 10))


def test_enrolment_must_be_validated_and_the_households(setup):
    other = make_bookable(activity=setup.activity, unit=setup.unit)
    with pytest.raises(BookingError) as info:
        apply(setup, household=other.household)
    assert info.value.code == "not_enrolled"
    setup.enrolments[0].status = EnrolmentStatus.REQUESTED
    setup.enrolments[0].save()
    with pytest.raises(BookingError):
        apply(setup)
    assert not BasketLine.objects.exists()


def test_empty_pattern_does_nothing(setup):
    WeeklyPattern.objects.all().delete()
    result = apply(setup)
    assert (result.added, result.refused, result.already) == ([], [], 0)
