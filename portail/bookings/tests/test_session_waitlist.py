"""The waiting list of a full session, through the services and the periodic job.

Joining: only for an activity with the option, a child who may book the session (validated
enrolment, before the deadline) and a session that is really full; once per child. The job
tells as many waiting families as there are free places, by arrival order, each entry once per
freed place, nothing after the deadline (entries expire), nothing new when run again. Booking
the session closes the entry; a cancellation tells the waiting families at once.
"""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from portail.bookings import services
from portail.bookings.errors import BookingError
from portail.bookings.models import BookingStatus, SessionWaitlistEntry, WaitlistStatus
from portail.bookings.selectors import booking_history, household_calendar
from portail.core.models import Channel, LogEntry
from portail.enrolments.models import EnrolmentStatus

from .factories import make_bookable, make_booking, make_rule, paris, staff_member

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 12, 9)  # a Wednesday; "vendredi 12 h" rule: deadline Friday 4 December at noon
NOW = paris(2026, 11, 20, 10)
AFTER_DEADLINE = paris(2026, 12, 4, 12)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def setup():
    """A family (Léa) in an activity with a waiting list, one session of 2 places."""
    setup = make_bookable(dates=[DAY], capacity=2, deadline_rule=make_rule())
    setup.activity.session_waiting_list = True
    setup.activity.save(update_fields=["session_waiting_list"])
    setup.children[0].first_name = "Léa"
    setup.children[0].save(update_fields=["first_name"])
    return setup


def other_family(setup):
    """Another household enrolled in the same activity (same sessions)."""
    return make_bookable(activity=setup.activity, unit=setup.unit)


def fill(setup, places=2):
    """Other families book every place; returns their bookings."""
    return [make_booking(other_family(setup).children[0], setup.sessions[0]) for _ in range(places)]


def join(family, *, now=NOW, child=None, session=None):
    return services.join_session_waitlist(
        household=family.household,
        child=child or family.children[0],
        session_id=(session or family.sessions[0]).pk,
        actor=family.guardian.user,
        channel=Channel.WEB,
        now=now,
    )


def refusal_code(call) -> str:
    with pytest.raises(BookingError) as refusal:
        call()
    return refusal.value.code


def free_places(bookings, count):
    for booking in bookings[:count]:
        booking.status = BookingStatus.CANCELLED
        booking.save(update_fields=["status"])


# --- joining ---------------------------------------------------------------------------------------


def test_a_family_joins_the_waiting_list_of_a_full_session_and_it_is_audited(setup):
    fill(setup)
    entry = join(setup)
    assert (entry.status, entry.household, entry.channel, entry.created_by) == (
        WaitlistStatus.WAITING,
        setup.household,
        Channel.WEB,
        setup.guardian.user,
    )
    log = LogEntry.objects.get(action="booking.waitlist_joined")
    assert log.household == setup.household and log.actor == setup.guardian.user
    assert "Léa – mercredi 9 décembre 2026" in log.message
    assert log in booking_history(setup.household, since=dt.date(2026, 9, 1))


def test_the_cell_of_a_waiting_child_shows_it_and_a_full_cell_offers_the_list(setup):
    fill(setup)
    cell = household_calendar(setup.household, start=DAY, end=DAY, now=NOW).children[0].rows[0].cells[0]
    assert (cell.state, cell.waitlist_open, cell.editable) == ("full", True, False)
    join(setup)
    cell = household_calendar(setup.household, start=DAY, end=DAY, now=NOW).children[0].rows[0].cells[0]
    assert (cell.state, cell.label, cell.waitlist_open, cell.editable) == (
        "waitlisted",
        "Sur liste d'attente",
        False,
        False,
    )


def test_join_refused_when_the_session_is_not_full(setup):
    fill(setup, places=1)
    assert refusal_code(lambda: join(setup)) == "waitlist_not_full"
    assert not SessionWaitlistEntry.objects.exists()


def test_join_refused_when_the_session_has_no_capacity_limit(setup):
    setup.unit.capacity = None
    setup.unit.save(update_fields=["capacity"])
    assert refusal_code(lambda: join(setup)) == "waitlist_not_full"


def test_join_refused_when_the_activity_has_no_waiting_list(setup):
    fill(setup)
    setup.activity.session_waiting_list = False
    setup.activity.save(update_fields=["session_waiting_list"])
    with pytest.raises(BookingError) as refusal:
        join(setup)
    assert refusal.value.code == "waitlist_off"
    assert setup.activity.name in refusal.value.message


def test_join_refused_without_a_validated_enrolment(setup):
    fill(setup)
    setup.enrolments[0].status = EnrolmentStatus.REQUESTED
    setup.enrolments[0].save(update_fields=["status"])
    assert refusal_code(lambda: join(setup)) == "not_enrolled"


def test_join_refused_past_the_deadline(setup):
    fill(setup)
    assert refusal_code(lambda: join(setup, now=AFTER_DEADLINE)) == "past_deadline"
    cell = household_calendar(setup.household, start=DAY, end=DAY, now=AFTER_DEADLINE).children[0].rows[0].cells[0]
    assert (cell.state, cell.waitlist_open) == ("full", False)


def test_join_twice_refused(setup):
    fill(setup)
    join(setup)
    with pytest.raises(BookingError) as refusal:
        join(setup)
    assert refusal.value.code == "waitlist_already"
    assert "Léa est déjà sur la liste d'attente du mercredi 9 décembre 2026" in refusal.value.message
    assert SessionWaitlistEntry.objects.count() == 1


def test_join_refused_when_already_booked_or_ticked(setup):
    fill(setup, places=1)
    services.toggle_cell(
        household=setup.household,
        child=setup.children[0],
        session_id=setup.sessions[0].pk,
        actor=None,
        channel=Channel.WEB,
        now=NOW,
    )  # the family's own tick takes the last place
    assert refusal_code(lambda: join(setup)) == "waitlist_in_basket"
    services.confirm_basket(household=setup.household, actor=None, channel=Channel.WEB, now=NOW)
    assert refusal_code(lambda: join(setup)) == "already_booked"


def test_join_refused_for_a_child_of_another_household(setup):
    fill(setup)
    stranger = other_family(setup)
    assert refusal_code(lambda: join(setup, child=stranger.children[0])) == "not_enrolled"


# --- leaving ---------------------------------------------------------------------------------------


def test_leaving_withdraws_the_entry_and_a_new_one_can_be_made(setup):
    fill(setup)
    entry = join(setup)
    left = services.leave_session_waitlist(
        household=setup.household, entry_id=entry.pk, actor=setup.guardian.user, channel=Channel.WEB, now=NOW
    )
    assert (left.status, left.closed_at) == (WaitlistStatus.WITHDRAWN, NOW)
    assert LogEntry.objects.filter(action="booking.waitlist_left", household=setup.household).exists()
    with pytest.raises(BookingError):
        services.leave_session_waitlist(
            household=setup.household, entry_id=entry.pk, actor=None, channel=Channel.WEB, now=NOW
        )
    assert join(setup).status == WaitlistStatus.WAITING  # back at the end of the list


def test_another_household_cannot_withdraw_an_entry(setup):
    fill(setup)
    entry = join(setup)
    stranger = other_family(setup)
    with pytest.raises(BookingError):
        services.leave_session_waitlist(
            household=stranger.household, entry_id=entry.pk, actor=None, channel=Channel.WEB, now=NOW
        )
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.WAITING


# --- the job -------------------------------------------------------------------------------------------


@pytest.fixture
def queue(setup):
    """The session full (2 places) and four families waiting, joined in this order."""
    bookings = fill(setup)
    families = [setup] + [other_family(setup) for _ in range(3)]
    for minute, family in enumerate(families):
        family.guardian.email = f"famille{minute}@example.org"
        family.guardian.save(update_fields=["email"])
        join(family, now=NOW + dt.timedelta(minutes=minute))
    return bookings, families


def statuses(families):
    return [
        SessionWaitlistEntry.objects.filter(household=family.household).order_by("-pk").first().status
        for family in families
    ]


def notify(now, capture):
    with capture(execute=True):
        return services.notify_session_waitlists(now=now)


def test_nothing_is_sent_while_the_session_is_full(queue, mailoutbox, django_capture_on_commit_callbacks):
    _, families = queue
    run = notify(NOW + dt.timedelta(hours=1), django_capture_on_commit_callbacks)
    assert run.notified == [] and mailoutbox == []
    assert statuses(families) == [WaitlistStatus.WAITING] * 4


def test_freed_places_go_to_the_first_families_by_arrival_once(queue, mailoutbox, django_capture_on_commit_callbacks):
    bookings, families = queue
    free_places(bookings, 2)
    later = NOW + dt.timedelta(hours=1)
    run = notify(later, django_capture_on_commit_callbacks)
    assert len(run.notified) == 2
    assert statuses(families) == [WaitlistStatus.NOTIFIED] * 2 + [WaitlistStatus.WAITING] * 2
    assert sorted(mail.to[0] for mail in mailoutbox) == ["famille0@example.org", "famille1@example.org"]
    mail = next(mail for mail in mailoutbox if mail.to == ["famille0@example.org"])
    assert mail.subject == "Une place s'est libérée le 09/12/2026 pour Léa"
    assert "Une place s'est libérée le mercredi 9 décembre 2026" in mail.body
    assert "réservez-la dans le planning" in mail.body
    assert "la place n'est pas gardée pour vous" in mail.body
    assert "vendredi 4 décembre à 12 h" in mail.body
    entry = SessionWaitlistEntry.objects.get(household=families[0].household)
    assert entry.notified_at == later
    assert LogEntry.objects.filter(action="booking.waitlist_notified", household=families[0].household).exists()
    # Run again (cron overlap, a second worker): nobody is told twice, nobody new is told.
    again = notify(later + dt.timedelta(minutes=5), django_capture_on_commit_callbacks)
    assert again.notified == [] and len(mailoutbox) == 2
    assert statuses(families) == [WaitlistStatus.NOTIFIED] * 2 + [WaitlistStatus.WAITING] * 2


def test_arrival_order_not_row_order(setup, mailoutbox, django_capture_on_commit_callbacks):
    bookings = fill(setup)
    late_comer, early_bird = other_family(setup), other_family(setup)
    join(late_comer, now=NOW + dt.timedelta(minutes=30))
    join(early_bird, now=NOW)
    free_places(bookings, 1)
    run = notify(NOW + dt.timedelta(hours=1), django_capture_on_commit_callbacks)
    assert [entry.household_id for entry in run.notified] == [early_bird.household.pk]


def test_a_place_still_free_after_the_notice_window_is_offered_to_the_next_family(
    queue, mailoutbox, django_capture_on_commit_callbacks
):
    bookings, families = queue
    free_places(bookings, 1)
    first = NOW + dt.timedelta(hours=1)
    notify(first, django_capture_on_commit_callbacks)
    notify(first + dt.timedelta(minutes=30), django_capture_on_commit_callbacks)
    assert statuses(families)[:2] == [WaitlistStatus.NOTIFIED, WaitlistStatus.WAITING]
    notify(first + services.WAITLIST_NOTICE_WINDOW + dt.timedelta(minutes=1), django_capture_on_commit_callbacks)
    assert statuses(families) == [WaitlistStatus.NOTIFIED] * 2 + [WaitlistStatus.WAITING] * 2
    assert len(mailoutbox) == 2


def test_a_family_that_missed_the_place_waits_again_in_its_rank(queue, mailoutbox, django_capture_on_commit_callbacks):
    bookings, families = queue
    free_places(bookings, 1)
    first = NOW + dt.timedelta(hours=1)
    notify(first, django_capture_on_commit_callbacks)  # family 0 told
    make_booking(other_family(families[0]).children[0], families[0].sessions[0])  # someone else was faster
    later = first + services.WAITLIST_NOTICE_WINDOW + dt.timedelta(minutes=1)
    run = notify(later, django_capture_on_commit_callbacks)
    assert run.requeued == 1 and run.notified == []
    assert statuses(families) == [WaitlistStatus.WAITING] * 4
    free_places(bookings[1:], 1)  # another place frees up: family 0 is still first
    run = notify(later + dt.timedelta(minutes=5), django_capture_on_commit_callbacks)
    assert [entry.household_id for entry in run.notified] == [families[0].household.pk]
    assert len(mailoutbox) == 2


def test_entries_expire_at_the_deadline_without_any_email(queue, mailoutbox, django_capture_on_commit_callbacks):
    bookings, families = queue
    free_places(bookings, 2)
    run = notify(AFTER_DEADLINE, django_capture_on_commit_callbacks)
    assert run.expired == 4 and run.notified == [] and mailoutbox == []
    assert statuses(families) == [WaitlistStatus.EXPIRED] * 4
    assert notify(AFTER_DEADLINE, django_capture_on_commit_callbacks).expired == 0


def test_entries_of_a_closed_session_expire(queue, django_capture_on_commit_callbacks):
    _, families = queue
    session = families[0].sessions[0]
    session.is_cancelled = True
    session.save(update_fields=["is_cancelled"])
    assert notify(NOW, django_capture_on_commit_callbacks).expired == 4


def test_a_waiting_child_whose_cell_is_ticked_is_not_told(setup, mailoutbox, django_capture_on_commit_callbacks):
    bookings = fill(setup)
    join(setup)
    second = other_family(setup)
    join(second, now=NOW + dt.timedelta(minutes=1))
    free_places(bookings, 1)
    services.toggle_cell(
        household=setup.household,
        child=setup.children[0],
        session_id=setup.sessions[0].pk,
        actor=None,
        channel=Channel.WEB,
        now=NOW + dt.timedelta(minutes=2),
    )  # Léa's family saw the free cell and ticked it: the session is full again
    run = notify(NOW + dt.timedelta(minutes=3), django_capture_on_commit_callbacks)
    assert run.notified == [] and mailoutbox == []


def test_the_management_command_runs_the_job(queue, mailoutbox, django_capture_on_commit_callbacks):
    bookings, _ = queue
    free_places(bookings, 1)
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("notify_session_waitlists", stdout=out)
    assert "famille(s) prévenue(s)" in out.getvalue()


# --- booking closes the entry; cancelling tells the waiting families -------------------------------------


def test_validating_the_basket_marks_the_entry_booked(queue, django_capture_on_commit_callbacks):
    bookings, families = queue
    free_places(bookings, 1)
    notify(NOW + dt.timedelta(hours=1), django_capture_on_commit_callbacks)
    lea = families[0]
    services.toggle_cell(
        household=lea.household,
        child=lea.children[0],
        session_id=lea.sessions[0].pk,
        actor=None,
        channel=Channel.WEB,
        now=NOW + dt.timedelta(hours=1, minutes=5),
    )
    services.confirm_basket(
        household=lea.household, actor=None, channel=Channel.WEB, now=NOW + dt.timedelta(hours=1, minutes=10)
    )
    entry = SessionWaitlistEntry.objects.get(household=lea.household)
    assert (entry.status, entry.closed_at) == (WaitlistStatus.BOOKED, NOW + dt.timedelta(hours=1, minutes=10))
    assert statuses(families[1:]) == [WaitlistStatus.WAITING] * 3


def test_staff_booking_marks_the_entry_booked(setup):
    bookings = fill(setup)
    join(setup)
    free_places(bookings, 1)
    services.staff_book(child=setup.children[0], session_id=setup.sessions[0].pk, actor=staff_member(), now=NOW)
    assert SessionWaitlistEntry.objects.get().status == WaitlistStatus.BOOKED


def test_the_job_closes_the_entry_of_a_child_booked_by_another_door(setup, django_capture_on_commit_callbacks):
    bookings = fill(setup)
    join(setup)
    free_places(bookings, 1)
    make_booking(setup.children[0], setup.sessions[0])  # e.g. a prepaid line paid later
    run = notify(NOW, django_capture_on_commit_callbacks)
    assert run.booked == 1
    assert SessionWaitlistEntry.objects.get().status == WaitlistStatus.BOOKED


def test_a_staff_cancellation_tells_the_waiting_family_at_once(setup, mailoutbox, django_capture_on_commit_callbacks):
    bookings = fill(setup)
    join(setup)
    with django_capture_on_commit_callbacks(execute=True):
        services.staff_cancel(booking=bookings[0], actor=staff_member(), reason="Déménagement")
    assert SessionWaitlistEntry.objects.get().status == WaitlistStatus.NOTIFIED
    (mail,) = mailoutbox
    assert mail.to == [setup.guardian.email]


def test_a_family_cancellation_tells_the_waiting_family_after_commit(
    setup, mailoutbox, django_capture_on_commit_callbacks
):
    fill(setup, places=1)
    canceller = other_family(setup)
    booking = make_booking(canceller.children[0], setup.sessions[0])
    join(setup)
    services.toggle_cell(
        household=canceller.household,
        child=canceller.children[0],
        session_id=setup.sessions[0].pk,
        actor=None,
        channel=Channel.WEB,
        now=NOW,
    )
    with django_capture_on_commit_callbacks() as callbacks:
        services.confirm_basket(household=canceller.household, actor=None, channel=Channel.WEB, now=NOW)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert SessionWaitlistEntry.objects.get().status == WaitlistStatus.WAITING  # nothing before the commit
    for callback in callbacks:
        callback()
    assert SessionWaitlistEntry.objects.get().status == WaitlistStatus.NOTIFIED


def test_no_waiting_list_no_extra_work_after_a_cancellation(setup, django_capture_on_commit_callbacks):
    setup.activity.session_waiting_list = False
    setup.activity.save(update_fields=["session_waiting_list"])
    (booking, _) = fill(setup)
    with django_capture_on_commit_callbacks() as callbacks:
        services.staff_cancel(booking=booking, actor=staff_member(), reason="Déménagement")
    assert len(callbacks) == 0
