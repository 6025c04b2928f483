"""Absences: declared on a booking whose cancellation deadline has passed, excused or billed by
the activity's rule, or decided by staff ("demande d'annulation"). Certificates are checked by
their first bytes. Every step is audited and e-mailed after the commit."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from portail.bookings import services
from portail.bookings.errors import BookingError
from portail.bookings.models import Absence, AbsenceReason, AbsenceStatus, BookingStatus
from portail.bookings.selectors import booking_history, household_calendar
from portail.core.models import Channel, LogEntry

from .factories import make_bookable, make_booking, make_rule, paris, staff_member

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 12, 9)  # a Wednesday; "vendredi 12 h" closes on Friday 4 December at noon
DEADLINE = paris(2026, 12, 4, 12)
AFTER = paris(2026, 12, 8, 9)


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def pdf(name="certificat.pdf", size=None):
    content = b"%PDF-1.4\n" + b"0" * (size or 100)
    return SimpleUploadedFile(name, content, content_type="application/pdf")


@pytest.fixture
def booked():
    setup = make_bookable(dates=[DAY], deadline_rule=make_rule())
    booking = make_booking(setup.children[0], setup.sessions[0])
    return setup, booking


def declare(setup, booking, *, reason=AbsenceReason.ILLNESS, now=AFTER, channel=Channel.WEB, actor=None, **kwargs):
    return services.declare_absence(
        household=setup.household,
        booking=booking,
        reason=reason,
        actor=actor or setup.guardian.user,
        channel=channel,
        now=now,
        **kwargs,
    )


def cell_state(setup, now=AFTER):
    return household_calendar(setup.household, start=DAY, end=DAY, now=now).children[0].rows[0].cells[0].state


# --- declaring -------------------------------------------------------------------------------


def test_before_the_deadline_the_family_unticks_instead(booked):
    setup, booking = booked
    with pytest.raises(BookingError) as info:
        declare(setup, booking, now=DEADLINE - dt.timedelta(seconds=1))
    assert info.value.code == "absence_too_early"
    assert not Absence.objects.exists()


def test_illness_with_a_certificate_is_excused_at_once(booked):
    setup, booking = booked
    absence = declare(setup, booking, certificate=pdf(), comment="  Angine  ", now=DEADLINE)
    assert absence.status == AbsenceStatus.EXCUSED
    assert absence.comment == "Angine"
    assert absence.certificate.name.startswith("absences/") and absence.certificate_at == DEADLINE
    assert cell_state(setup) == "absence_excused"
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED  # an absence keeps the booking (billing decides)


def test_illness_without_certificate_waits_for_a_decision(booked):
    setup, booking = booked
    absence = declare(setup, booking)
    assert absence.status == AbsenceStatus.PENDING
    assert cell_state(setup) == "absence_pending"


@pytest.mark.parametrize("reason", [AbsenceReason.FAMILY, AbsenceReason.SCHOOL, AbsenceReason.OTHER])
def test_other_reasons_wait_for_a_decision_even_with_a_document(booked, reason):
    setup, booking = booked
    assert declare(setup, booking, reason=reason, certificate=pdf()).status == AbsenceStatus.PENDING


def test_certificate_filed_later_within_the_delay_excuses_the_absence(booked):
    setup, booking = booked
    absence = declare(setup, booking, now=paris(2026, 12, 9, 8))
    # Two days after the session (Activity.illness_certificate_days = 2), still in time.
    later = services.add_certificate(
        absence=absence, certificate=pdf(), actor=setup.guardian.user, channel=Channel.WEB, now=paris(2026, 12, 11, 23)
    )
    assert later.status == AbsenceStatus.EXCUSED
    entry = LogEntry.objects.get(action="absence.certificate")
    assert entry.before == {"status": "pending"} and entry.after["status"] == "excused"


def test_certificate_filed_too_late_leaves_the_absence_pending(booked):
    setup, booking = booked
    absence = declare(setup, booking, now=paris(2026, 12, 9, 8))
    later = services.add_certificate(
        absence=absence, certificate=pdf(), actor=setup.guardian.user, channel=Channel.WEB, now=paris(2026, 12, 12, 9)
    )
    assert later.status == AbsenceStatus.PENDING
    assert later.certificate


def test_certificate_delay_is_set_per_activity(booked):
    setup, booking = booked
    setup.activity.illness_certificate_days = 5
    setup.activity.save()
    absence = declare(setup, booking, now=paris(2026, 12, 9, 8))
    later = services.add_certificate(
        absence=absence, certificate=pdf(), actor=None, channel=Channel.WEB, now=paris(2026, 12, 14, 9)
    )
    assert later.status == AbsenceStatus.EXCUSED


def test_certificate_cannot_be_added_once_decided(booked):
    setup, booking = booked
    absence = declare(setup, booking)
    services.decide_absence(absence=absence, excused=True, actor=staff_member("Gestionnaire"), now=AFTER)
    with pytest.raises(BookingError) as info:
        services.add_certificate(absence=absence, certificate=pdf(), actor=None, channel=Channel.WEB, now=AFTER)
    assert info.value.code == "absence_decided"


@pytest.mark.parametrize(
    "upload",
    [
        SimpleUploadedFile("virus.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf"),
        SimpleUploadedFile("page.html", b"<html>", content_type="text/html"),
        SimpleUploadedFile("big.pdf", b"%PDF" + b"0" * (5 * 1024 * 1024), content_type="application/pdf"),
    ],
    ids=["wrong-bytes", "wrong-type", "too-big"],
)
def test_bad_certificates_are_refused(booked, upload):
    setup, booking = booked
    with pytest.raises(BookingError) as info:
        declare(setup, booking, certificate=upload)
    assert info.value.code == "bad_certificate"
    assert not Absence.objects.exists()


def test_reason_must_come_from_the_list(booked):
    setup, booking = booked
    with pytest.raises(BookingError) as info:
        declare(setup, booking, reason="holidays")
    assert info.value.code == "bad_reason"


def test_one_absence_per_booking(booked):
    setup, booking = booked
    declare(setup, booking)
    with pytest.raises(BookingError) as info:
        declare(setup, booking)
    assert info.value.code == "has_absence"


def test_another_households_booking_is_refused(booked):
    setup, booking = booked
    other = make_bookable(activity=setup.activity, unit=setup.unit)
    with pytest.raises(BookingError) as info:
        services.declare_absence(
            household=other.household,
            booking=booking,
            reason=AbsenceReason.ILLNESS,
            actor=None,
            channel=Channel.WEB,
            now=AFTER,
        )
    assert info.value.code == "not_booked"


def test_cancelled_booking_takes_no_absence(booked):
    setup, booking = booked
    booking.status = BookingStatus.CANCELLED
    booking.save()
    with pytest.raises(BookingError) as info:
        declare(setup, booking)
    assert info.value.code == "not_booked"


def test_staff_may_declare_before_the_deadline(booked):
    setup, booking = booked
    agent = staff_member()
    absence = declare(setup, booking, channel=Channel.STAFF, actor=agent, now=DEADLINE - dt.timedelta(days=2))
    assert (absence.channel, absence.declared_by) == (Channel.STAFF, agent)
    entry = LogEntry.objects.get(action="absence.declared")
    assert (entry.channel, entry.actor, entry.household) == (Channel.STAFF, agent, setup.household)


def test_absence_blocks_cancellation(booked):
    setup, booking = booked
    declare(setup, booking)
    with pytest.raises(BookingError) as info:
        services.toggle_cell(
            household=setup.household,
            child=setup.children[0],
            session_id=booking.session_id,
            actor=None,
            channel=Channel.WEB,
            bypass_deadline=True,
            now=AFTER,
        )
    assert info.value.code == "has_absence"


# --- staff decisions ----------------------------------------------------------------------------


def test_staff_excuse_a_pending_absence(booked):
    setup, booking = booked
    absence = declare(setup, booking, reason=AbsenceReason.FAMILY)
    agent = staff_member("Gestionnaire")
    decided = services.decide_absence(absence=absence, excused=True, actor=agent, now=AFTER)
    assert (decided.status, decided.decided_by, decided.decided_at) == (AbsenceStatus.EXCUSED, agent, AFTER)
    assert cell_state(setup) == "absence_excused"


def test_billing_an_absence_needs_a_reason(booked):
    setup, booking = booked
    absence = declare(setup, booking, reason=AbsenceReason.FAMILY)
    with pytest.raises(BookingError) as info:
        services.decide_absence(absence=absence, excused=False, actor=None, note="   ", now=AFTER)
    assert info.value.code == "note_required"
    decided = services.decide_absence(absence=absence, excused=False, actor=None, note="Prévenu trop tard", now=AFTER)
    assert (decided.status, decided.decision_note) == (AbsenceStatus.BILLED, "Prévenu trop tard")
    assert cell_state(setup) == "absence_billed"


def test_an_absence_is_decided_once(booked):
    setup, booking = booked
    absence = declare(setup, booking)
    services.decide_absence(absence=absence, excused=True, actor=None, now=AFTER)
    with pytest.raises(BookingError) as info:
        services.decide_absence(absence=absence, excused=False, note="Non", actor=None, now=AFTER)
    assert info.value.code == "absence_decided"


def test_declaration_and_decision_are_in_the_household_history(booked):
    setup, booking = booked
    absence = declare(setup, booking, reason=AbsenceReason.FAMILY)
    agent = staff_member("Gestionnaire")
    services.decide_absence(absence=absence, excused=False, note="Pas de justificatif", actor=agent, now=AFTER)
    entries = list(booking_history(setup.household, since=dt.date(2026, 9, 1)))
    assert [e.action for e in entries] == ["absence.decided", "absence.declared"]
    decided, declared = entries
    assert (declared.channel, declared.actor) == (Channel.WEB, setup.guardian.user)
    assert (decided.channel, decided.actor) == (Channel.STAFF, agent)
    assert decided.before == {"status": "pending"} and decided.after["status"] == "billed"
    assert "Absence facturée – Pas de justificatif" in decided.message
    assert all(e.household == setup.household for e in entries)


def test_emails_leave_after_commit(booked, django_capture_on_commit_callbacks, mailoutbox):
    setup, booking = booked
    with django_capture_on_commit_callbacks(execute=True):
        absence = declare(setup, booking, reason=AbsenceReason.FAMILY)
    (declared,) = mailoutbox
    assert (
        declared.subject == f"Absence de {setup.children[0].first_name} le 09/12/2026 : demande d'annulation en cours"
    )
    with django_capture_on_commit_callbacks() as callbacks:
        services.decide_absence(absence=absence, excused=False, note="Prévenu trop tard", actor=None, now=AFTER)
    assert len(mailoutbox) == 1
    for callback in callbacks:
        callback()
    decided = mailoutbox[1]
    assert "Décision : Absence facturée" in decided.body and "Motif : Prévenu trop tard" in decided.body


def test_refused_declaration_sends_nothing(booked, django_capture_on_commit_callbacks, mailoutbox):
    setup, booking = booked
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(BookingError):
        declare(setup, booking, now=DEADLINE - dt.timedelta(hours=1))
    assert mailoutbox == []
