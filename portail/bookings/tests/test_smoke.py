"""The main path of the planning services, end to end on the database."""

import datetime as dt

import pytest
from django.utils import timezone

from portail.bookings import services
from portail.bookings.errors import BookingError
from portail.bookings.models import Booking, BookingStatus, LineKind
from portail.bookings.selectors import basket_summary, household_calendar
from portail.core.models import Channel

from .factories import make_bookable

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=timezone.get_current_timezone())


def test_tick_validate_then_untick_and_validate_cancels():
    setup = make_bookable(children=2, capacity=5)
    child, other = setup.children
    actor = setup.guardian.user
    services.toggle_cell(
        household=setup.household,
        child=child,
        session_id=setup.sessions[0].pk,
        actor=actor,
        channel=Channel.WEB,
        now=NOW,
    )
    services.toggle_cell(
        household=setup.household,
        child=other,
        session_id=setup.sessions[0].pk,
        actor=actor,
        channel=Channel.WEB,
        now=NOW,
    )
    summary = basket_summary(setup.household, now=NOW)
    assert (summary.adds, summary.removes, summary.cost_cents) == (2, 0, 2000)
    result = services.confirm_basket(household=setup.household, actor=actor, channel=Channel.WEB, now=NOW)
    assert len(result.booked) == 2
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() == 2
    change = services.toggle_cell(
        household=setup.household,
        child=child,
        session_id=setup.sessions[0].pk,
        actor=actor,
        channel=Channel.WEB,
        now=NOW,
    )
    assert change.line.kind == LineKind.REMOVE
    services.confirm_basket(household=setup.household, actor=actor, channel=Channel.WEB, now=NOW)
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() == 1
    calendar = household_calendar(setup.household, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 31), now=NOW)
    states = [cell.state for row in calendar.children[1].rows for cell in row.cells if cell.session]
    assert states == ["booked", "free", "free"]


def test_full_session_refuses_the_tick():
    setup = make_bookable(children=2, capacity=1)
    child, other = setup.children
    services.toggle_cell(
        household=setup.household,
        child=child,
        session_id=setup.sessions[0].pk,
        actor=None,
        channel=Channel.WEB,
        now=NOW,
    )
    with pytest.raises(BookingError) as info:
        services.toggle_cell(
            household=setup.household,
            child=other,
            session_id=setup.sessions[0].pk,
            actor=None,
            channel=Channel.WEB,
            now=NOW,
        )
    assert info.value.code == "full"
