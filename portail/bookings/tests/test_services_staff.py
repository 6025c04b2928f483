"""The Mairie acting for a family: booking and cancelling at once (no basket), past deadlines,
never past capacity, always audited ("par la Mairie", "hors délai")."""

import datetime as dt

import pytest

from portail.bookings import services
from portail.bookings.errors import BookingError
from portail.bookings.models import AbsenceReason, BasketLine, Booking, BookingStatus, LineKind
from portail.bookings.selectors import booking_history, places_taken
from portail.catalog.models import PaymentMode
from portail.core.models import Channel, LogEntry

from .factories import make_bookable, make_booking, make_rule, paris, staff_member

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 12, 9)
BEFORE = paris(2026, 12, 1, 9)  # the "vendredi 12 h" deadline is Friday 4 December at noon
LATE = paris(2026, 12, 8, 9)


@pytest.fixture
def setup():
    return make_bookable(dates=[DAY], deadline_rule=make_rule(), capacity=2)


@pytest.fixture
def agent():
    return staff_member()


def test_staff_book_creates_a_confirmed_booking_at_once(setup, agent):
    booking = services.staff_book(child=setup.children[0], session_id=setup.sessions[0].pk, actor=agent, now=BEFORE)
    assert (booking.status, booking.channel, booking.created_by) == (BookingStatus.CONFIRMED, Channel.STAFF, agent)
    assert booking.price_cents == setup.unit.price_cents
    assert not BasketLine.objects.exists()
    entry = LogEntry.objects.get(action="booking.created")
    assert (entry.household, entry.channel, entry.actor) == (setup.household, Channel.STAFF, agent)


def test_staff_book_past_the_deadline_is_marked_late(setup, agent):
    booking = services.staff_book(child=setup.children[0], session_id=setup.sessions[0].pk, actor=agent, now=LATE)
    entry = LogEntry.objects.get(action="booking.created", object_id=str(booking.pk))
    assert entry.message.endswith("(hors délai, par la Mairie)")
    (history,) = booking_history(setup.household, since=dt.date(2026, 9, 1))
    assert history == entry


def test_staff_never_bypass_capacity(setup, agent):
    for _ in range(2):
        other = make_bookable(activity=setup.activity, unit=setup.unit)
        make_booking(other.children[0], setup.sessions[0])
    with pytest.raises(BookingError) as info:
        services.staff_book(child=setup.children[0], session_id=setup.sessions[0].pk, actor=agent, now=LATE)
    assert info.value.code == "full"
    assert not LogEntry.objects.exists()


def test_staff_book_needs_a_validated_enrolment(setup, agent):
    other = make_bookable()
    with pytest.raises(BookingError) as info:
        services.staff_book(child=other.children[0], session_id=setup.sessions[0].pk, actor=agent, now=BEFORE)
    assert info.value.code == "not_enrolled"


def test_staff_book_twice_is_refused(setup, agent):
    services.staff_book(child=setup.children[0], session_id=setup.sessions[0].pk, actor=agent, now=BEFORE)
    with pytest.raises(BookingError) as info:
        services.staff_book(child=setup.children[0], session_id=setup.sessions[0].pk, actor=agent, now=BEFORE)
    assert info.value.code == "already_booked"


def test_staff_book_supersedes_the_familys_pending_tick(agent):
    """The family's add line held the last place for this very child: staff booking takes it over,
    and the family's later "Valider" does not fail on it."""
    setup = make_bookable(dates=[DAY], deadline_rule=make_rule(), capacity=1)
    services.toggle_cell(
        household=setup.household,
        child=setup.children[0],
        session_id=setup.sessions[0].pk,
        actor=None,
        channel=Channel.WEB,
        now=BEFORE,
    )
    services.staff_book(child=setup.children[0], session_id=setup.sessions[0].pk, actor=agent, now=BEFORE)
    assert not BasketLine.objects.exists()
    assert places_taken(setup.sessions[0].pk, BEFORE) == 1


def test_family_validation_drops_a_line_the_mairie_already_did(setup, agent):
    child = setup.children[0]
    services.toggle_cell(
        household=setup.household, child=child, session_id=setup.sessions[0].pk, actor=None, channel="web", now=BEFORE
    )
    # Written behind the service's back, as another door (import, payment) might.
    make_booking(child, setup.sessions[0])
    result = services.confirm_basket(household=setup.household, actor=None, channel=Channel.WEB, now=BEFORE)
    assert result.booked == [] and not BasketLine.objects.exists()
    assert Booking.objects.count() == 1


def test_staff_cancel_with_a_reason_past_the_deadline(setup, agent):
    booking = make_booking(setup.children[0], setup.sessions[0])
    services.staff_cancel(booking=booking, actor=agent, reason="  Enfant malade, appel du père  ", now=LATE)
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_channel, booking.cancelled_by) == (
        BookingStatus.CANCELLED,
        Channel.STAFF,
        agent,
    )
    entry = LogEntry.objects.get(action="booking.cancelled")
    assert entry.message.endswith("(hors délai, par la Mairie) – Enfant malade, appel du père")
    assert entry.after["reason"] == "Enfant malade, appel du père" and entry.after["past_deadline"] is True
    assert (entry.household, entry.channel, entry.actor) == (setup.household, Channel.STAFF, agent)


def test_staff_cancel_a_paid_booking(agent):
    setup = make_bookable(dates=[DAY], payment_mode=PaymentMode.PREPAID)
    booking = make_booking(setup.children[0], setup.sessions[0], paid_at=BEFORE)
    services.staff_cancel(booking=booking, actor=agent, now=BEFORE)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED


def test_staff_cannot_cancel_a_booking_awaiting_payment(setup, agent):
    booking = make_booking(setup.children[0], setup.sessions[0], status=BookingStatus.AWAITING_PAYMENT)
    with pytest.raises(BookingError) as info:
        services.staff_cancel(booking=booking, actor=agent, now=BEFORE)
    assert info.value.code == "awaiting_payment"


def test_staff_cancel_refuses_a_booking_with_an_absence(setup, agent):
    """The absence is decided in the queue (excused or billed), not by cancelling under it."""
    booking = make_booking(setup.children[0], setup.sessions[0])
    services.declare_absence(
        household=setup.household,
        booking=booking,
        reason=AbsenceReason.ILLNESS,
        actor=agent,
        channel=Channel.STAFF,
        now=LATE,
    )
    with pytest.raises(BookingError) as info:
        services.staff_cancel(booking=booking, actor=agent, now=LATE)
    assert info.value.code == "has_absence"


def test_staff_cancel_twice_is_refused(setup, agent):
    booking = make_booking(setup.children[0], setup.sessions[0])
    services.staff_cancel(booking=booking, actor=agent, now=BEFORE)
    with pytest.raises(BookingError) as info:
        services.staff_cancel(booking=booking, actor=agent, now=BEFORE)
    assert info.value.code == "not_booked"


def test_staff_cancel_completes_the_familys_pending_cancellation(setup, agent):
    booking = make_booking(setup.children[0], setup.sessions[0])
    change = services.toggle_cell(
        household=setup.household,
        child=setup.children[0],
        session_id=setup.sessions[0].pk,
        actor=None,
        channel=Channel.WEB,
        now=BEFORE,
    )
    assert change.line.kind == LineKind.REMOVE
    services.staff_cancel(booking=booking, actor=agent, now=BEFORE)
    assert not BasketLine.objects.exists()
    with pytest.raises(BookingError) as info:  # nothing left to validate
        services.confirm_basket(household=setup.household, actor=None, channel=Channel.WEB, now=BEFORE)
    assert info.value.code == "empty_basket"


def test_history_says_who_and_through_which_door(setup, agent):
    child = setup.children[0]
    services.toggle_cell(
        household=setup.household,
        child=child,
        session_id=setup.sessions[0].pk,
        actor=setup.guardian.user,
        channel=Channel.WEB,
        now=BEFORE,
    )
    (booking,) = services.confirm_basket(
        household=setup.household, actor=setup.guardian.user, channel=Channel.WEB, now=BEFORE
    ).booked
    services.staff_cancel(booking=booking, actor=agent, now=LATE)
    entries = list(booking_history(setup.household, since=dt.date(2026, 9, 1)))
    assert [(e.action, e.channel, e.actor) for e in entries] == [
        ("booking.cancelled", Channel.STAFF, agent),
        ("booking.created", Channel.WEB, setup.guardian.user),
    ]
    assert [e.get_channel_display() for e in entries] == ["la Mairie", "le web"]
