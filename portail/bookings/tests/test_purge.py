"""Basket expiry: a ticked cell holds its place for the activity's hold time, then stops counting
by its timestamp alone (no job needed); the periodic purge only trims the table; "Valider"
ignores expired lines. The clock is moved with time-machine, the services read the real clock.
"""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from portail.bookings import services
from portail.bookings.errors import BookingError
from portail.bookings.models import BasketLine, Booking
from portail.bookings.selectors import basket_summary, household_calendar, places_taken, with_places_taken
from portail.catalog.models import Session
from portail.core.models import Channel

from .factories import make_bookable, paris

pytestmark = pytest.mark.django_db
TICKED_AT = paris(2026, 11, 20, 10)
HOLD = dt.timedelta(minutes=20)


def tick(setup, session, child=None):
    """Through the service's own clock (no `now=`): time-machine decides what time it is."""
    return services.toggle_cell(
        household=setup.household,
        child=child or setup.children[0],
        session_id=session.pk,
        actor=setup.guardian.user,
        channel=Channel.WEB,
    )


@pytest.fixture
def last_place():
    """One place left; our family ticks it at TICKED_AT; another family waits for it."""
    ours = make_bookable(capacity=1)
    theirs = make_bookable(activity=ours.activity, unit=ours.unit)
    with time_machine.travel(TICKED_AT, tick=False):
        line = tick(ours, ours.sessions[0]).line
    assert line.expires_at == TICKED_AT + HOLD
    return ours, theirs


def test_line_holds_the_place_until_one_second_before_it_expires(last_place):
    ours, theirs = last_place
    with time_machine.travel(TICKED_AT + HOLD - dt.timedelta(seconds=1), tick=False):
        with pytest.raises(BookingError) as info:
            tick(theirs, ours.sessions[0])
        assert info.value.code == "full"


def test_expired_line_stops_counting_by_its_timestamp_without_any_job(last_place):
    ours, theirs = last_place
    with time_machine.travel(TICKED_AT + HOLD, tick=False):
        session = ours.sessions[0]
        assert BasketLine.objects.filter(basket__household=ours.household).exists()  # not purged
        assert places_taken(session.pk, TICKED_AT + HOLD) == 0
        annotated = with_places_taken(Session.objects.filter(pk=session.pk), TICKED_AT + HOLD).get()
        assert (annotated.booked, annotated.held) == (0, 0)
        change = tick(theirs, session)
    assert change.line.basket.household == theirs.household


def test_expired_line_no_longer_shows_in_the_calendar_nor_the_banner(last_place):
    ours, _ = last_place
    later = TICKED_AT + HOLD
    day = ours.sessions[0].date
    cell = household_calendar(ours.household, start=day, end=day, now=later).children[0].rows[0].cells[0]
    assert cell.state == "free" and cell.line is None
    assert basket_summary(ours.household, now=later).adds == 0


def test_ticking_after_expiry_starts_a_new_hold(last_place):
    ours, _ = last_place
    with time_machine.travel(TICKED_AT + HOLD + dt.timedelta(minutes=1), tick=False):
        change = tick(ours, ours.sessions[0])
    assert not change.undone  # the old line expired: this is a new tick, not an undo
    assert change.line.expires_at == TICKED_AT + HOLD + dt.timedelta(minutes=21)
    assert BasketLine.objects.count() == 1


def test_purge_removes_only_expired_lines_and_is_idempotent(last_place):
    ours, theirs = last_place
    with time_machine.travel(TICKED_AT + dt.timedelta(minutes=10), tick=False):
        fresh = tick(theirs, ours.sessions[1]).line
    assert services.purge_expired_lines(now=TICKED_AT + HOLD - dt.timedelta(seconds=1)) == 0
    assert services.purge_expired_lines(now=TICKED_AT + HOLD) == 1
    assert services.purge_expired_lines(now=TICKED_AT + HOLD) == 0
    assert list(BasketLine.objects.all()) == [fresh]


def test_purge_command_uses_the_clock(last_place):
    out = StringIO()
    with time_machine.travel(TICKED_AT + HOLD + dt.timedelta(seconds=1), tick=False):
        call_command("purge_expired_basket_lines", stdout=out)
    assert "1 modification(s) expirée(s) supprimée(s)" in out.getvalue()
    assert not BasketLine.objects.exists()


def test_validation_ignores_expired_lines(last_place):
    ours, _ = last_place
    with time_machine.travel(TICKED_AT + dt.timedelta(minutes=15), tick=False):
        tick(ours, ours.sessions[1])
    with time_machine.travel(TICKED_AT + dt.timedelta(minutes=25), tick=False):
        result = services.confirm_basket(household=ours.household, actor=None, channel=Channel.WEB)
    assert [b.session for b in result.booked] == [ours.sessions[1]]
    assert not Booking.objects.filter(session=ours.sessions[0]).exists()


def test_validation_with_only_expired_lines_is_an_empty_basket(last_place):
    ours, _ = last_place
    with time_machine.travel(TICKED_AT + HOLD, tick=False), pytest.raises(BookingError) as info:
        services.confirm_basket(household=ours.household, actor=None, channel=Channel.WEB)
    assert info.value.code == "empty_basket"
    assert not Booking.objects.exists()


def test_hold_time_is_set_per_activity():
    setup = make_bookable()
    setup.activity.basket_hold_minutes = 45
    setup.activity.save()
    with time_machine.travel(TICKED_AT, tick=False):
        line = tick(setup, setup.sessions[0]).line
    assert line.expires_at == TICKED_AT + dt.timedelta(minutes=45)
    assert basket_summary(setup.household, now=TICKED_AT).expires_at == line.expires_at


def test_lines_survive_a_logout_until_they_expire():
    """Nothing is tied to the web session: the basket belongs to the household."""
    setup = make_bookable()
    with time_machine.travel(TICKED_AT, tick=False):
        tick(setup, setup.sessions[0])
    assert basket_summary(setup.household, now=TICKED_AT + dt.timedelta(minutes=19)).adds == 1
