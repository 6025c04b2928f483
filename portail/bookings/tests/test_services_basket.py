"""The basket of pending changes and the states of a cell, through the services.

free → (tick) pending add → (Valider) booked → (untick) pending remove → (Valider) cancelled,
with "undo by ticking again" at each pending step; paid and awaiting-payment bookings are not
the family's to change; several cells are all or nothing; every change is audited; the recap
e-mail leaves after the commit, never for a refused validation.
"""

import datetime as dt

import pytest

from portail.bookings import services
from portail.bookings.errors import BookingError
from portail.bookings.models import BasketLine, Booking, BookingStatus, LineKind
from portail.bookings.selectors import basket_summary, household_calendar, places_taken
from portail.catalog.models import PaymentMode
from portail.core.models import Channel, LogEntry
from portail.enrolments.models import EnrolmentStatus

from .factories import make_bookable, make_booking, paris

pytestmark = pytest.mark.django_db
NOW = paris(2026, 11, 20, 10)


def tick(setup, session, *, child=None, now=NOW, actor="guardian", channel=Channel.WEB):
    return services.toggle_cell(
        household=setup.household,
        child=child or setup.children[0],
        session_id=session.pk,
        actor=setup.guardian.user if actor == "guardian" else actor,
        channel=channel,
        now=now,
    )


def validate(setup, now=NOW):
    return services.confirm_basket(household=setup.household, actor=setup.guardian.user, channel=Channel.WEB, now=now)


def state(setup, session, *, child_index=0, now=NOW):
    calendar = household_calendar(setup.household, start=session.date, end=session.date, now=now)
    return calendar.children[child_index].rows[0].cells[0]


# --- the states of a cell -------------------------------------------------------------------


def test_free_cell_ticked_becomes_a_pending_add_that_holds_a_place():
    setup = make_bookable(capacity=3)
    session = setup.sessions[0]
    assert state(setup, session).state == "free"
    change = tick(setup, session)
    assert change.line.kind == LineKind.ADD and not change.undone
    assert change.line.price_cents == 1000
    cell = state(setup, session)
    assert (cell.state, cell.ticked, cell.editable) == ("pending_add", True, True)
    assert places_taken(session.pk, NOW) == 1
    assert not Booking.objects.exists()


def test_ticking_a_pending_add_again_undoes_it_and_frees_the_place():
    setup = make_bookable(capacity=3)
    session = setup.sessions[0]
    tick(setup, session)
    change = tick(setup, session)
    assert change.undone and change.line is None
    assert not BasketLine.objects.exists()
    assert places_taken(session.pk, NOW) == 0
    assert state(setup, session).state == "free"


def test_validating_turns_the_pending_add_into_a_confirmed_booking():
    setup = make_bookable()
    session = setup.sessions[0]
    tick(setup, session)
    result = validate(setup)
    (booking,) = result.booked
    assert (booking.status, booking.channel, booking.price_cents) == (BookingStatus.CONFIRMED, Channel.WEB, 1000)
    assert booking.created_by == setup.guardian.user
    assert booking.enrolment == setup.enrolments[0]
    assert not BasketLine.objects.exists()
    assert state(setup, session).state == "booked"
    assert places_taken(session.pk, NOW) == 1


def test_unticking_a_booking_makes_a_pending_remove_that_keeps_the_place_until_validated():
    setup = make_bookable(capacity=1)
    session = setup.sessions[0]
    booking = make_booking(setup.children[0], session)
    change = tick(setup, session)
    assert change.line.kind == LineKind.REMOVE and change.line.booking == booking
    cell = state(setup, session)
    assert (cell.state, cell.ticked) == ("pending_remove", False)
    assert places_taken(session.pk, NOW) == 1  # the booking still holds it
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_ticking_a_pending_remove_again_keeps_the_booking():
    setup = make_bookable()
    session = setup.sessions[0]
    make_booking(setup.children[0], session)
    tick(setup, session)
    assert tick(setup, session).undone
    assert state(setup, session).state == "booked"
    assert not BasketLine.objects.exists()


def test_validating_a_pending_remove_cancels_the_booking_and_frees_the_place():
    setup = make_bookable(capacity=1)
    session = setup.sessions[0]
    booking = make_booking(setup.children[0], session)
    tick(setup, session)
    result = validate(setup)
    assert result.cancelled == [booking]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert (booking.cancelled_at, booking.cancelled_by, booking.cancel_channel) == (
        NOW,
        setup.guardian.user,
        Channel.WEB,
    )
    assert places_taken(session.pk, NOW) == 0
    assert state(setup, session).state == "free"


def test_a_cancelled_cell_can_be_booked_again():
    setup = make_bookable()
    session = setup.sessions[0]
    tick(setup, session)
    validate(setup)
    tick(setup, session)
    validate(setup)
    tick(setup, session)
    validate(setup)
    statuses = list(Booking.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == [BookingStatus.CANCELLED, BookingStatus.CONFIRMED]


def test_paid_booking_refuses_cancellation_by_the_family():
    setup = make_bookable(payment_mode=PaymentMode.PREPAID)
    session = setup.sessions[0]
    make_booking(setup.children[0], session, paid_at=NOW - dt.timedelta(days=3))
    with pytest.raises(BookingError) as info:
        tick(setup, session)
    assert info.value.code == "paid"
    assert info.value.message == "Cette réservation est payée : seule la Mairie peut l'annuler."
    cell = state(setup, session)
    assert (cell.state, cell.editable) == ("paid", False)
    assert "Mairie" in cell.reason


def test_booking_awaiting_payment_refuses_any_change_and_holds_its_place():
    setup = make_bookable(capacity=1, children=2, payment_mode=PaymentMode.PREPAID)
    session = setup.sessions[0]
    make_booking(setup.children[0], session, status=BookingStatus.AWAITING_PAYMENT)
    with pytest.raises(BookingError) as info:
        tick(setup, session)
    assert info.value.code == "awaiting_payment"
    with pytest.raises(BookingError) as info:
        tick(setup, session, child=setup.children[1])
    assert info.value.code == "full"
    assert state(setup, session).state == "awaiting_payment"


def test_prepaid_lines_wait_for_payment_while_invoiced_ones_are_booked():
    invoiced = make_bookable()
    prepaid = make_bookable(payment_mode=PaymentMode.PREPAID)
    # The same household enrolled in both activities.
    prepaid.enrolments[0].delete()
    child = invoiced.children[0]
    from portail.enrolments.tests.factories import EnrolmentFactory

    EnrolmentFactory(
        child=child,
        group=prepaid.activity.groups.first(),
        activity=prepaid.activity,
        period=prepaid.activity.periods.first(),
        status=EnrolmentStatus.VALIDATED,
    )
    tick(invoiced, invoiced.sessions[0])
    tick(invoiced, prepaid.sessions[1], child=child)
    summary = basket_summary(invoiced.household, now=NOW)
    assert (summary.has_invoiced, summary.has_prepaid) == (True, True)
    result = validate(invoiced)
    assert [b.session for b in result.booked] == [invoiced.sessions[0]]
    assert [line.session for line in result.left_for_payment] == [prepaid.sessions[1]]
    assert BasketLine.objects.get().session == prepaid.sessions[1]


# --- refusals ------------------------------------------------------------------------------------


def test_child_without_validated_enrolment_cannot_book():
    setup = make_bookable()
    setup.enrolments[0].status = EnrolmentStatus.REQUESTED
    setup.enrolments[0].save()
    with pytest.raises(BookingError) as info:
        tick(setup, setup.sessions[0])
    assert info.value.code == "not_enrolled"
    assert setup.activity.name in info.value.message


def test_session_outside_the_enrolment_period_cannot_be_booked():
    setup = make_bookable(dates=[dt.date(2027, 7, 20)])  # the period ends on 3 July
    with pytest.raises(BookingError) as info:
        tick(setup, setup.sessions[0])
    assert info.value.code == "not_enrolled"


def test_activity_paid_at_enrolment_has_nothing_to_tick():
    setup = make_bookable(payment_mode=PaymentMode.AT_ENROLMENT)
    with pytest.raises(BookingError) as info:
        tick(setup, setup.sessions[0])
    assert info.value.code == "at_enrolment"


def test_cancelled_session_cannot_be_booked():
    setup = make_bookable()
    session = setup.sessions[0]
    session.is_cancelled = True
    session.save()
    with pytest.raises(BookingError) as info:
        tick(setup, session)
    assert info.value.code == "session_cancelled"
    assert state(setup, session).state == "closed"


def test_another_households_child_is_refused():
    mine = make_bookable()
    theirs = make_bookable(activity=mine.activity, unit=mine.unit)
    with pytest.raises(BookingError):
        tick(mine, mine.sessions[0], child=theirs.children[0])
    assert not BasketLine.objects.exists()


def test_full_session_answers_complet_with_the_day():
    setup = make_bookable(capacity=1)
    other = make_bookable(activity=setup.activity, unit=setup.unit)
    tick(other, setup.sessions[0])
    with pytest.raises(BookingError) as info:
        tick(setup, setup.sessions[0])
    assert info.value.code == "full"
    assert info.value.message == "Complet : il n'y a plus de place le mercredi 2 décembre 2026 (Journée)."
    assert state(setup, setup.sessions[0]).state == "full"


def test_session_capacity_overrides_the_units():
    setup = make_bookable(capacity=10)
    session = setup.sessions[0]
    session.capacity = 0
    session.save()
    with pytest.raises(BookingError) as info:
        tick(setup, session)
    assert info.value.code == "full"


# --- several cells: all or nothing ------------------------------------------------------------


def test_several_cells_with_one_full_session_save_nothing():
    setup = make_bookable(capacity=1, children=2)
    other = make_bookable(activity=setup.activity, unit=setup.unit)
    tick(other, setup.sessions[1])  # the second Wednesday is now full
    cells = [(child, session.pk) for child in setup.children for session in setup.sessions]
    with pytest.raises(BookingError) as info:
        services.change_cells(household=setup.household, cells=cells, actor=None, channel=Channel.WEB, now=NOW)
    assert info.value.code == "full"
    assert not BasketLine.objects.filter(basket__household=setup.household).exists()
    assert places_taken(setup.sessions[0].pk, NOW) == 0


def test_several_cells_are_saved_together():
    setup = make_bookable(capacity=2, children=2)
    cells = [(child, setup.sessions[0].pk) for child in setup.children]
    changes = services.change_cells(household=setup.household, cells=cells, actor=None, channel=Channel.WEB, now=NOW)
    assert [c.line.kind for c in changes] == [LineKind.ADD, LineKind.ADD]
    assert places_taken(setup.sessions[0].pk, NOW) == 2


def test_validation_with_one_broken_line_saves_nothing():
    setup = make_bookable(children=2)
    first, second = setup.children
    tick(setup, setup.sessions[0], child=first)
    tick(setup, setup.sessions[0], child=second)
    # Meanwhile the second child's enrolment is cancelled by the Mairie.
    setup.enrolments[1].status = EnrolmentStatus.CANCELLED
    setup.enrolments[1].save()
    with pytest.raises(BookingError) as info:
        validate(setup)
    assert info.value.code == "not_enrolled"
    assert info.value.message.startswith(f"{second.first_name} – mercredi 2 décembre 2026")
    assert not Booking.objects.exists()
    assert not LogEntry.objects.filter(action__startswith="booking.").exists()
    assert BasketLine.objects.count() == 2


def test_validating_an_empty_basket_is_refused():
    setup = make_bookable()
    with pytest.raises(BookingError) as info:
        validate(setup)
    assert info.value.code == "empty_basket"


# --- the banner and "Tout supprimer" ---------------------------------------------------------


def test_banner_counts_and_cost_of_the_period():
    setup = make_bookable(children=2, price_cents=1000)
    first, second = setup.children
    make_booking(first, setup.sessions[2], price_cents=800)
    tick(setup, setup.sessions[0], child=first)
    tick(setup, setup.sessions[1], child=second)
    tick(setup, setup.sessions[2], child=first)  # cancel the booking at 8 €
    summary = basket_summary(setup.household, now=NOW)
    assert (summary.adds, summary.removes, summary.cost_cents) == (2, 1, 1200)
    assert summary.expires_at == NOW + dt.timedelta(minutes=20)
    quick = basket_summary(setup.household, now=NOW, with_lines=False)
    assert (quick.adds, quick.removes) == (2, 1)


def test_clear_basket_drops_every_pending_change_and_frees_the_places():
    setup = make_bookable(capacity=1)
    tick(setup, setup.sessions[0])
    assert services.clear_basket(household=setup.household, actor=None, channel=Channel.WEB) == 1
    assert places_taken(setup.sessions[0].pk, NOW) == 0


def test_basket_is_shared_by_the_guardians_of_the_household():
    from tests.factories import GuardianFactory

    setup = make_bookable()
    other_parent = GuardianFactory(household=setup.household, is_payer=False)
    tick(setup, setup.sessions[0], actor=other_parent.user)
    assert basket_summary(setup.household, now=NOW).adds == 1


# --- audit and e-mail ------------------------------------------------------------------------


def test_every_validated_change_writes_a_log_entry_with_household_and_channel():
    setup = make_bookable()
    session = setup.sessions[0]
    tick(setup, session)
    (booking,) = validate(setup).booked
    tick(setup, session)
    validate(setup)
    entries = list(LogEntry.objects.filter(object_type="bookings.Booking").order_by("pk"))
    assert [e.action for e in entries] == ["booking.created", "booking.cancelled"]
    for entry in entries:
        assert entry.household == setup.household
        assert entry.channel == Channel.WEB
        assert entry.actor == setup.guardian.user
        assert entry.object_id == str(booking.pk)
        assert entry.after["session"] == session.pk and entry.after["child"] == setup.children[0].pk
    assert (
        entries[0].message
        == f"{setup.children[0].first_name} – mercredi 2 décembre 2026 – {setup.activity.name}, Journée"
    )
    assert entries[1].before == {"status": "confirmed"} and entries[1].after["status"] == "cancelled"


def test_recap_email_is_sent_after_commit(django_capture_on_commit_callbacks, mailoutbox):
    setup = make_bookable()
    tick(setup, setup.sessions[0])
    make_booking(setup.children[0], setup.sessions[1])
    tick(setup, setup.sessions[1])
    with django_capture_on_commit_callbacks() as callbacks:
        validate(setup)
    assert mailoutbox == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    (mail,) = mailoutbox
    assert mail.to == [setup.guardian.email]
    assert mail.subject == "Vos modifications de réservation sont enregistrées"
    assert "Réservations :" in mail.body and "Annulations :" in mail.body
    assert "mercredi 2 décembre 2026" in mail.body and "mercredi 9 décembre 2026" in mail.body


def test_refused_validation_sends_no_email(django_capture_on_commit_callbacks, mailoutbox):
    setup = make_bookable()
    tick(setup, setup.sessions[0])
    setup.enrolments[0].status = EnrolmentStatus.CANCELLED
    setup.enrolments[0].save()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(BookingError):
        validate(setup)
    assert mailoutbox == []


def test_only_prepaid_lines_sends_no_email(django_capture_on_commit_callbacks, mailoutbox):
    setup = make_bookable(payment_mode=PaymentMode.PREPAID)
    tick(setup, setup.sessions[0])
    with django_capture_on_commit_callbacks(execute=True):
        result = validate(setup)
    assert result.left_for_payment and not result.booked
    assert mailoutbox == []
