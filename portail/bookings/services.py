"""Planning writes: ticking cells into the basket, validating it, booking for a family, absences.

Every write that takes a place runs in one transaction that locks the sessions' rows in id
order (no deadlocks between two baskets touching the same days), recounts the places from the
facts (selectors.places_taken), then writes; several cells in one action are all or nothing.
Each change of a booking writes an audit entry (the household's "Historique" reads them).
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from portail.catalog.deadlines import deadline_for
from portail.catalog.models import PaymentMode, Session
from portail.core import locking as core_locking
from portail.core.audit import log_action
from portail.core.models import Channel
from portail.enrolments.models import Enrolment, EnrolmentStatus

from . import emails
from .errors import BookingError, error
from .models import (
    HOLDING_STATUSES,
    LIVE_WAITLIST_STATUSES,
    Absence,
    AbsenceReason,
    AbsenceStatus,
    Basket,
    BasketLine,
    Booking,
    BookingStatus,
    LineKind,
    SessionWaitlistEntry,
    WaitlistStatus,
)
from .pricing import CellPricer, price_fields_of
from .selectors import format_day, format_deadline, places_taken

# Tests switch this off for the negative control of the booking race (tests/concurrency/).
LOCKING_ENABLED = True
# Test hook between "count the places" and "write" to widen the race window. Never set in production.
race_window_hook = None

CERTIFICATE_TYPES = {"application/pdf", "image/jpeg", "image/png"}
CERTIFICATE_MAX_BYTES = 5 * 1024 * 1024


def _now(now):
    return now or timezone.now()


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def capacity_transaction():
    return core_locking.capacity_transaction(lambda: error("busy"))


def _lock_sessions(session_ids) -> dict[int, Session]:
    """Lock the sessions' rows in id order and return them fresh, with unit, activity and town."""
    queryset = Session.objects.filter(pk__in=sorted(set(session_ids))).order_by("pk")
    if LOCKING_ENABLED:
        queryset = queryset.select_for_update(of=("self",))
    return {
        session.pk: session
        for session in queryset.select_related("unit__activity__facility__town", "unit__deadline_rule")
    }


def _after_count():
    if race_window_hook is not None:
        race_window_hook()


def _describe(child, session) -> str:
    """ "Léa – mercredi 9 décembre 2026 – Pommiers mercredis, Journée"."""
    unit = session.unit
    return f"{child.first_name} – {format_day(session.date)} – {unit.activity.name}, {unit.name}"


def _audit(action, *, obj, household, actor, channel, child, session, message_suffix="", before=None, after=None):
    details = {"child": child.pk, "session": session.pk, "date": session.date, "unit": session.unit.name}
    log_action(
        actor=actor,
        channel=channel,
        action=action,
        obj=obj,
        household=household,
        before=before,
        after={**details, **(after or {})},
        message=_describe(child, session) + message_suffix,
    )


def _deadline(session):
    unit = session.unit
    return deadline_for(unit.deadline_rule, session.date, unit.activity.facility.town)


LATE_NOTE = " (hors délai, par la Mairie)"


def _late(session, now, bypass_deadline) -> dict:
    """Audit extras for a change made past the deadline thanks to the staff bypass."""
    if bypass_deadline and now >= _deadline(session):
        return {"note": LATE_NOTE, "after": {"past_deadline": True}}
    return {"note": "", "after": {}}


def _check_deadline(session, now, bypass_deadline):
    deadline = _deadline(session)
    if not bypass_deadline and now >= deadline:
        raise error("past_deadline", deadline=format_deadline(deadline))
    return deadline


def _enrolment_for(child, session) -> Enrolment:
    """The validated enrolment that gives `child` the right to book `session`."""
    enrolment = (
        Enrolment.objects.filter(
            child=child,
            activity_id=session.unit.activity_id,
            status=EnrolmentStatus.VALIDATED,
            period__start_date__lte=session.date,
            period__end_date__gte=session.date,
        )
        .order_by("pk")
        .first()
    )
    if enrolment is None:
        raise error("not_enrolled", child=child.first_name, activity=session.unit.activity.name)
    return enrolment


def _check_place(session, now):
    capacity = session.effective_capacity
    if capacity is None:
        return
    taken = places_taken(session.pk, now)
    _after_count()
    if taken >= capacity:
        raise error("full", date=format_day(session.date), unit=session.unit.name)


def _check_bookable(child, session, now, bypass_deadline):
    activity = session.unit.activity
    if activity.payment_mode == PaymentMode.AT_ENROLMENT:
        raise error("at_enrolment", activity=activity.name)
    if session.is_cancelled:
        raise error("session_cancelled", date=format_day(session.date), unit=session.unit.name)
    _check_deadline(session, now, bypass_deadline)
    return _enrolment_for(child, session)


def _check_no_overlap(child, session, now):
    """A child cannot be booked twice at the same hour of the same activity: a booking (not being
    cancelled in the basket) or a pending add line on an overlapping unit that day refuses it.

    One query: the sessions that day of the activity's other units whose hours overlap, each with
    the child's clashing booking and pending add line; a booking is named first, then the first
    unit by position (as the calendar orders them)."""
    unit = session.unit
    if unit.start_time is None or unit.end_time is None:
        return
    cancelling = BasketLine.objects.filter(child=child, kind=LineKind.REMOVE, expires_at__gt=now).values("booking_id")
    bookings = (
        Booking.objects.filter(child=child, session=OuterRef("pk"), status__in=HOLDING_STATUSES)
        .exclude(pk__in=cancelling)
        .order_by("pk")
        .values("pk")[:1]
    )
    lines = (
        BasketLine.objects.filter(child=child, session=OuterRef("pk"), kind=LineKind.ADD, expires_at__gt=now)
        .order_by("pk")
        .values("pk")[:1]
    )
    others = (
        Session.objects.filter(
            date=session.date,
            unit__activity_id=unit.activity_id,
            unit__start_time__lt=unit.end_time,
            unit__end_time__gt=unit.start_time,
        )
        .exclude(unit_id=unit.pk)
        .annotate(clash_booking=Subquery(bookings), clash_line=Subquery(lines))
        .order_by()
        .values("unit__name", "unit__position", "clash_booking", "clash_line")
    )
    others = list(others)  # a unit or two
    booked = [other for other in others if other["clash_booking"] is not None]
    pending = [other for other in others if other["clash_line"] is not None]
    if booked:
        clash = min(booked, key=lambda other: (other["unit__position"], other["clash_booking"]))
    elif pending:
        clash = min(pending, key=lambda other: (other["unit__position"], other["clash_line"]))
    else:
        return
    raise error("overlap", child=child.first_name, other=clash["unit__name"], unit=unit.name)


def _check_cancellable(booking, now, bypass_deadline, *, by_staff=False):
    if booking.status == BookingStatus.AWAITING_PAYMENT:
        raise error("awaiting_payment")
    if booking.paid_at and not by_staff:
        raise error("paid")
    if hasattr(booking, "absence"):
        raise error("has_absence")
    _check_deadline(booking.session, now, bypass_deadline)


def _holding_booking(child, session_id):
    # At most one (unique constraint): ordered by pk, which spares the model ordering's joins.
    return (
        Booking.objects.filter(child=child, session_id=session_id, status__in=HOLDING_STATUSES)
        .select_related("absence")
        .order_by("pk")
        .first()
    )


# --- The basket ------------------------------------------------------------------------------


@dataclass
class CellChange:
    """What one tick or untick did, for the htmx answer."""

    child: object
    session: Session
    line: BasketLine | None  # the pending line now on the cell, None if the tick undid one
    undone: bool = False


def basket_of(household) -> Basket:
    basket, _ = Basket.objects.get_or_create(household=household)
    return basket


def _expire_lines(basket, now):
    BasketLine.objects.filter(basket=basket, expires_at__lte=now).delete()


def _hold_until(session, now):
    return now + timedelta(minutes=session.unit.activity.basket_hold_minutes)


def _is_late(session, now, bypass_deadline) -> bool:
    """Booked past the deadline thanks to the staff bypass: the grid's late-booking surcharge applies."""
    return bool(bypass_deadline) and now >= _deadline(session)


def _add_line(basket, child, session, enrolment, now, *, pricer, late=False) -> BasketLine:
    """An "add" line: the price of the moment (tariff engine, decided once), holding its place until it expires."""
    return BasketLine.objects.create(
        basket=basket,
        kind=LineKind.ADD,
        child=child,
        session=session,
        enrolment=enrolment,
        **pricer.price(child=child, session=session, late=late).as_fields(),
        created_at=now,
        expires_at=_hold_until(session, now),
    )


def change_cells(*, household, cells, actor, channel, bypass_deadline=False, now=None) -> list[CellChange]:
    """Toggle several cells at once, all or nothing. `cells` is a list of (child, session_id).

    A cell with a pending line loses it (the change is undone). Otherwise a booked cell gets a
    "remove" line and a free cell an "add" line, which takes a place until it expires.
    Children must belong to `household` (callers pass the household's own children).
    """
    now = _now(now)
    for child, _ in cells:
        if child.household_id != household.pk:
            raise error("not_booked")
    basket = basket_of(household)
    changes = []
    pricer = CellPricer()
    with capacity_transaction():
        sessions = _lock_sessions([session_id for _, session_id in cells])
        for child, session_id in cells:
            session = sessions.get(session_id)
            if session is None:
                raise error("not_booked")
            existing = BasketLine.objects.filter(basket=basket, child=child, session=session).order_by("pk").first()
            if existing is not None and existing.expires_at <= now:
                # An expired line no longer holds anything: the tick starts afresh. The basket's
                # other expired lines are left to purge_expired_lines (they stop counting by timestamp).
                existing.delete()
                existing = None
            if existing is not None:
                existing.delete()
                changes.append(CellChange(child=child, session=session, line=None, undone=True))
                continue
            booking = _holding_booking(child, session.pk)
            if booking is not None:
                _check_cancellable(booking, now, bypass_deadline)
                line = BasketLine.objects.create(
                    basket=basket,
                    kind=LineKind.REMOVE,
                    child=child,
                    session=session,
                    enrolment_id=booking.enrolment_id,
                    booking=booking,
                    price_cents=booking.price_cents,
                    created_at=now,
                    expires_at=_hold_until(session, now),
                )
            else:
                enrolment = _check_bookable(child, session, now, bypass_deadline)
                _check_no_overlap(child, session, now)
                _check_place(session, now)
                line = _add_line(
                    basket, child, session, enrolment, now, pricer=pricer, late=_is_late(session, now, bypass_deadline)
                )
            changes.append(CellChange(child=child, session=session, line=line))
    return changes


def toggle_cell(*, household, child, session_id, actor, channel, bypass_deadline=False, now=None) -> CellChange:
    return change_cells(
        household=household,
        cells=[(child, session_id)],
        actor=actor,
        channel=channel,
        bypass_deadline=bypass_deadline,
        now=now,
    )[0]


def clear_basket(*, household, actor, channel) -> int:
    """ "Tout supprimer": drop every pending change (frees the places at once)."""
    deleted, _ = BasketLine.objects.filter(basket__household=household).delete()
    return deleted


def purge_expired_lines(*, now=None) -> int:
    """Periodic clean-up. Expired lines already stopped counting by their timestamp; this only
    removes them from the tables. Safe to run concurrently."""
    deleted, _ = BasketLine.objects.filter(expires_at__lte=_now(now)).delete()
    return deleted


@dataclass
class ConfirmResult:
    booked: list = field(default_factory=list)
    cancelled: list = field(default_factory=list)
    left_for_payment: list = field(default_factory=list)  # prepaid lines, paid through the payment issue


def _create_booking(*, child, session, enrolment, price, actor, channel, now, household, note="", extra=None):
    """`price`: the fields of the price decided at the tick (DecidedPrice.as_fields or price_fields_of)."""
    price_cents = price["price_cents"]
    booking = Booking.objects.create(
        child=child,
        session=session,
        enrolment=enrolment,
        **price,
        channel=channel,
        created_by=_user(actor),
        created_at=now,
    )
    _audit(
        "booking.created",
        obj=booking,
        household=household,
        actor=actor,
        channel=channel,
        child=child,
        session=session,
        message_suffix=note,
        after={"status": booking.status, "price_cents": price_cents, **(extra or {})},
    )
    return booking


def _cancel_booking(booking, *, actor, channel, now, household, note="", extra=None):
    before = {"status": booking.status}
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    booking.cancelled_by = _user(actor)
    booking.cancel_channel = channel
    booking.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_channel"])
    _audit(
        "booking.cancelled",
        obj=booking,
        household=household,
        actor=actor,
        channel=channel,
        child=booking.child,
        session=booking.session,
        message_suffix=note,
        before=before,
        after={"status": booking.status, **(extra or {})},
    )
    return booking


def _cell_error(refusal: BookingError, child, session) -> BookingError:
    """The same refusal, naming the cell: a basket can hold a whole month of changes."""
    return BookingError(f"{_describe(child, session)} : {refusal.message}", code=refusal.code)


def _locked_booking(booking_id) -> Booking:
    """The booking row, locked: an absence declared meanwhile is seen (hasattr queries it afresh)."""
    return Booking.objects.select_for_update(of=("self",)).select_related("child__household").get(pk=booking_id)


def confirm_basket(*, household, actor, channel, bypass_deadline=False, now=None) -> ConfirmResult:
    """ "Valider": turn the pending changes of invoiced activities into bookings and cancellations.

    All or nothing: if one line broke a rule meanwhile (its deadline passed), nothing is saved
    and the family reads why, with the cell named. Lines of prepaid activities stay in the basket
    for "Payer". Add lines already hold their place, so the count is not redone. Expired lines
    are ignored (they no longer hold anything). A line whose effect is already there (booked or
    cancelled meanwhile by the Mairie) is simply dropped.
    """
    now = _now(now)
    basket = basket_of(household)
    result = ConfirmResult()
    live = BasketLine.objects.filter(basket=basket, expires_at__gt=now)
    with capacity_transaction():
        session_ids = list(live.values_list("session_id", flat=True))
        if not session_ids:
            raise error("empty_basket")
        sessions = _lock_sessions(session_ids)
        # Read the lines again under the locks: a concurrent "Valider" of the same basket may have used them.
        lines = list(
            live.filter(session_id__in=list(sessions))
            .select_related("child", "enrolment")
            .order_by("session__date", "session_id", "child_id")
        )
        if not lines:
            raise error("empty_basket")
        for line in lines:
            session = sessions[line.session_id]
            line.session = session
            if session.unit.activity.payment_mode == PaymentMode.PREPAID and line.kind == LineKind.ADD:
                result.left_for_payment.append(line)
                continue
            confirm_line = _confirm_add if line.kind == LineKind.ADD else _confirm_remove
            try:
                booking = confirm_line(
                    line,
                    session,
                    actor=actor,
                    channel=channel,
                    now=now,
                    household=household,
                    bypass_deadline=bypass_deadline,
                )
            except BookingError as refusal:
                raise _cell_error(refusal, line.child, session) from refusal
            if booking is not None:
                (result.booked if line.kind == LineKind.ADD else result.cancelled).append(booking)
            line.delete()
        _close_waitlist_entries_of(result.booked, now)
    if result.booked or result.cancelled:
        emails.notify_basket_confirmed(household, result)
    _notify_waitlists_after_commit([booking.session for booking in result.cancelled])
    return result


def _confirm_add(line, session, *, actor, channel, now, household, bypass_deadline):
    if _holding_booking(line.child, session.pk) is not None:
        return None  # booked meanwhile by the Mairie: nothing left to do
    _check_bookable(line.child, session, now, bypass_deadline)
    late = _late(session, now, bypass_deadline)
    try:
        with transaction.atomic():
            return _create_booking(
                child=line.child,
                session=session,
                enrolment=line.enrolment,
                price=price_fields_of(line),
                actor=actor,
                channel=channel,
                now=now,
                household=household,
                note=late["note"],
                extra=late["after"],
            )
    except IntegrityError as exc:  # booked meanwhile through another door
        raise error("already_booked") from exc


def _confirm_remove(line, session, *, actor, channel, now, household, bypass_deadline):
    booking = _locked_booking(line.booking_id)
    if booking.status not in HOLDING_STATUSES:
        return None  # cancelled meanwhile by the Mairie
    booking.session = session
    _check_cancellable(booking, now, bypass_deadline)
    late = _late(session, now, bypass_deadline)
    return _cancel_booking(
        booking, actor=actor, channel=channel, now=now, household=household, note=late["note"], extra=late["after"]
    )


# --- Staff acting for a family -------------------------------------------------------------------


def staff_book(*, child, session_id, actor, channel=Channel.STAFF, now=None, waive_surcharge=False) -> Booking:
    """Book at once for a family, bypassing deadlines (never capacity); the audit says so.

    Past the deadline the booking is `late` and carries the grid's late-booking surcharge, unless the
    agent waives it (`waive_surcharge`: the Mairie's own delay…), which the audit records too.
    The family's own pending change on that cell, if any, is superseded: its line is removed
    first, so the place it held is not counted twice.
    """
    now = _now(now)
    with capacity_transaction():
        session = _lock_sessions([session_id]).get(session_id)
        if session is None:
            raise error("not_booked")
        if _holding_booking(child, session.pk) is not None:
            raise error("already_booked")
        enrolment = _check_bookable(child, session, now, bypass_deadline=True)
        BasketLine.objects.filter(basket__household_id=child.household_id, child=child, session=session).delete()
        _check_no_overlap(child, session, now)
        _check_place(session, now)
        late = _late(session, now, bypass_deadline=True)
        is_late = _is_late(session, now, bypass_deadline=True)
        waived = is_late and waive_surcharge
        price = CellPricer().price(child=child, session=session, late=is_late and not waived).as_fields()
        price["late"] = is_late
        booking = _create_booking(
            child=child,
            session=session,
            enrolment=enrolment,
            price=price,
            actor=actor,
            channel=channel,
            now=now,
            household=child.household,
            note=late["note"] + (" (sans majoration)" if waived else ""),
            extra={**late["after"], **({"surcharge_waived": True} if waived else {})},
        )
        _close_waitlist_entries_of([booking], now)
        return booking


def staff_cancel(*, booking, actor, channel=Channel.STAFF, reason="", now=None) -> Booking:
    """Cancel a booking for a family, deadlines bypassed; paid bookings too (credit comes with billing).

    A booking awaiting payment waits for the bank; one with a declared absence is decided in the
    absence queue instead. The family's pending cancellation of it, if any, is done by this one.
    """
    now = _now(now)
    reason = reason.strip()
    with capacity_transaction():
        sessions = _lock_sessions([booking.session_id])
        fresh = _locked_booking(booking.pk)
        if fresh.status not in HOLDING_STATUSES:
            raise error("not_booked")
        if fresh.status == BookingStatus.AWAITING_PAYMENT:
            raise error("awaiting_payment")
        if Absence.objects.filter(booking=fresh).exists():
            raise error("has_absence")
        fresh.session = sessions.get(fresh.session_id) or fresh.session
        BasketLine.objects.filter(booking=fresh).delete()
        late = _late(fresh.session, now, bypass_deadline=True)
        extra = {**late["after"], **({"reason": reason} if reason else {})}
        note = late["note"] + (f" – {reason}" if reason else "")
        cancelled = _cancel_booking(
            fresh, actor=actor, channel=channel, now=now, household=fresh.child.household, note=note, extra=extra
        )
    _notify_waitlists_after_commit([cancelled.session])
    return cancelled


# --- Semaine type -----------------------------------------------------------------------------------


@dataclass
class PatternResult:
    added: list = field(default_factory=list)  # sessions put in the basket
    refused: list = field(default_factory=list)  # (session, reason)
    already: int = 0  # sessions already booked or pending


def apply_weekly_pattern(
    *, household, enrolment, start: date, end: date, actor, channel, bypass_deadline=False, now=None
) -> PatternResult:
    """Put in the basket every session of the enrolment's weekly pattern between start and end.

    Sessions that cannot be booked (deadline passed, full, closed) are listed with the reason and
    skipped; the others are added in one transaction.
    """
    now = _now(now)
    period = enrolment.period
    if start > end or start < period.start_date or end > period.end_date:
        raise error("bad_range")
    if enrolment.child.household_id != household.pk or enrolment.status != EnrolmentStatus.VALIDATED:
        raise error("not_enrolled", child=enrolment.child.first_name, activity=enrolment.activity.name)
    pattern = {(line.weekday, line.unit_id) for line in enrolment.weekly_pattern.all()}
    result = PatternResult()
    if not pattern:
        return result
    candidate_ids = [
        session.pk
        for session in Session.objects.filter(unit__activity_id=enrolment.activity_id, date__range=(start, end)).only(
            "pk", "date", "unit_id"
        )
        if (session.date.weekday(), session.unit_id) in pattern
    ]
    basket = basket_of(household)
    child = enrolment.child
    pricer = CellPricer()
    with capacity_transaction():
        sessions = _lock_sessions(candidate_ids)
        _expire_lines(basket, now)
        pending = set(BasketLine.objects.filter(basket=basket, child=child).values_list("session_id", flat=True))
        booked = set(
            Booking.objects.filter(child=child, session_id__in=candidate_ids, status__in=HOLDING_STATUSES).values_list(
                "session_id", flat=True
            )
        )
        for session_id in sorted(sessions, key=lambda pk: (sessions[pk].date, sessions[pk].unit.position)):
            session = sessions[session_id]
            if session_id in pending or session_id in booked:
                result.already += 1
                continue
            try:
                _check_bookable(child, session, now, bypass_deadline)
                _check_no_overlap(child, session, now)
                _check_place(session, now)
            except BookingError as refusal:
                result.refused.append((session, refusal.message))
                continue
            _add_line(
                basket, child, session, enrolment, now, pricer=pricer, late=_is_late(session, now, bypass_deadline)
            )
            result.added.append(session)
    return result


# --- Absences ----------------------------------------------------------------------------------------


def validate_certificate(upload):
    if upload is None:
        return
    content_type = getattr(upload, "content_type", "")
    head = upload.read(8)
    upload.seek(0)
    looks_right = head.startswith(b"%PDF") or head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG")
    if content_type not in CERTIFICATE_TYPES or not looks_right or upload.size > CERTIFICATE_MAX_BYTES:
        raise error("bad_certificate")


def _absence_status(reason, certificate_on, session_date, activity) -> str:
    """The activity's rule: illness with a certificate filed within N days of the day is excused;
    anything else is a "demande d'annulation" the service decides."""
    if reason == AbsenceReason.ILLNESS and certificate_on is not None:
        if certificate_on <= session_date + timedelta(days=activity.illness_certificate_days):
            return AbsenceStatus.EXCUSED
    return AbsenceStatus.PENDING


def _audit_absence(action, absence, *, actor, channel, before=None, note=""):
    booking = absence.booking
    _audit(
        action,
        obj=absence,
        household=absence.household,
        actor=actor,
        channel=channel,
        child=booking.child,
        session=booking.session,
        message_suffix=f" – {absence.get_status_display()}{note}",
        before=before,
        after={"status": absence.status, "reason": absence.reason},
    )


def declare_absence(*, household, booking, reason, actor, channel, comment="", certificate=None, now=None) -> Absence:
    """Declare an absence on a booked session whose cancellation deadline has passed (before the
    deadline the family simply unticks it). The activity's rule makes it excused or pending."""
    now = _now(now)
    if reason not in AbsenceReason.values:
        raise error("bad_reason")
    validate_certificate(certificate)
    with transaction.atomic():
        fresh = (
            Booking.objects.select_for_update(of=("self",))
            .select_related("child", "session__unit__activity__facility__town")
            .get(pk=booking.pk)
        )
        if fresh.child.household_id != household.pk or fresh.status not in HOLDING_STATUSES:
            raise error("not_booked")
        if Absence.objects.filter(booking=fresh).exists():
            raise error("has_absence")
        if channel == Channel.WEB and now < _deadline(fresh.session):
            raise error("absence_too_early")
        activity = fresh.session.unit.activity
        certificate_on = timezone.localtime(now).date() if certificate else None
        absence = Absence(
            booking=fresh,
            household=household,
            reason=reason,
            comment=comment.strip(),
            status=_absence_status(reason, certificate_on, fresh.session.date, activity),
            channel=channel,
            declared_by=_user(actor),
            declared_at=now,
            certificate_at=now if certificate else None,
        )
        if certificate:
            absence.certificate = certificate
        try:
            absence.full_clean(exclude=["certificate", "booking", "household"])
        except ValidationError as exc:
            raise error("bad_certificate") from exc
        absence.save()
        _audit_absence("absence.declared", absence, actor=actor, channel=channel)
        emails.notify_absence(absence, "declared")
    return absence


def add_certificate(*, absence, certificate, actor, channel, now=None) -> Absence:
    """A medical certificate filed later: excuses a pending illness absence within the delay."""
    now = _now(now)
    validate_certificate(certificate)
    if certificate is None:
        raise error("bad_certificate")
    with transaction.atomic():
        fresh = (
            Absence.objects.select_for_update(of=("self",))
            .select_related("booking__child", "booking__session__unit__activity")
            .get(pk=absence.pk)
        )
        if fresh.status != AbsenceStatus.PENDING:
            raise error("absence_decided")
        before = {"status": fresh.status}
        fresh.certificate = certificate
        fresh.certificate_at = now
        session = fresh.booking.session
        fresh.status = _absence_status(
            fresh.reason, timezone.localtime(now).date(), session.date, session.unit.activity
        )
        fresh.save(update_fields=["certificate", "certificate_at", "status"])
        _audit_absence("absence.certificate", fresh, actor=actor, channel=channel, before=before)
    return fresh


def decide_absence(*, absence, excused: bool, actor, note="", channel=Channel.STAFF, now=None) -> Absence:
    """Staff decide a "demande d'annulation": excused (not billed) or billed. A refusal needs a reason."""
    now = _now(now)
    if not excused and not note.strip():
        raise error("note_required")
    with transaction.atomic():
        fresh = (
            Absence.objects.select_for_update(of=("self",))
            .select_related("booking__child", "booking__session__unit__activity", "household")
            .get(pk=absence.pk)
        )
        if fresh.status != AbsenceStatus.PENDING:
            raise error("absence_decided")
        before = {"status": fresh.status}
        fresh.status = AbsenceStatus.EXCUSED if excused else AbsenceStatus.BILLED
        fresh.decided_by = _user(actor)
        fresh.decided_at = now
        fresh.decision_note = note.strip()
        fresh.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        _audit_absence(
            "absence.decided",
            fresh,
            actor=actor,
            channel=channel,
            before=before,
            note=f" – {fresh.decision_note}" if fresh.decision_note else "",
        )
        emails.notify_absence(fresh, "decided")
    return fresh


# --- Liste d'attente des séances ---------------------------------------------------------------------
# A full session answers "Complet"; where the activity offers it (Activity.session_waiting_list)
# the family may put the child on the session's waiting list. Nothing is reserved: when places
# free up before the deadline, the first waiting families (by arrival) are told by e-mail, and the
# first family that books the place gets it.

# A family told about a free place covers that place for this long: other waiting families are
# told only if it is still free afterwards (so a second run of the job sends nothing new, and a
# family that does not answer does not keep the others waiting until the deadline).
WAITLIST_NOTICE_WINDOW = timedelta(hours=2)


def _waitlist_session(session_id) -> Session:
    session = (
        Session.objects.filter(pk=session_id)
        .select_related("unit__activity__facility__town", "unit__deadline_rule")
        .first()
    )
    if session is None:
        raise error("no_session")
    return session


def join_session_waitlist(*, household, child, session_id, actor, channel, now=None) -> SessionWaitlistEntry:
    """Put `child` on the waiting list of a full session.

    Only for an activity that offers it, a child who may book the session (validated enrolment,
    before the deadline, session open) and a session that is really full right now. Nothing is
    locked: joining takes no place (a place freed meanwhile is found by the notification job).
    """
    now = _now(now)
    session = _waitlist_session(session_id)
    activity = session.unit.activity
    if child.household_id != household.pk:
        raise error("not_enrolled", child=child.first_name, activity=activity.name)
    if not activity.session_waiting_list:
        raise error("waitlist_off", activity=activity.name)
    what = {"date": format_day(session.date), "unit": session.unit.name}
    with transaction.atomic():
        _check_bookable(child, session, now, bypass_deadline=False)
        if _holding_booking(child, session.pk) is not None:
            raise error("already_booked")
        if BasketLine.objects.filter(child=child, session=session, kind=LineKind.ADD, expires_at__gt=now).exists():
            raise error("waitlist_in_basket")
        live = SessionWaitlistEntry.objects.filter(child=child, session=session, status__in=LIVE_WAITLIST_STATUSES)
        if live.exists():
            raise error("waitlist_already", child=child.first_name, **what)
        capacity = session.effective_capacity
        if capacity is None or places_taken(session.pk, now) < capacity:
            raise error("waitlist_not_full", **what)
        try:
            with transaction.atomic():
                entry = SessionWaitlistEntry.objects.create(
                    child=child,
                    session=session,
                    household=household,
                    channel=channel,
                    created_by=_user(actor),
                    created_at=now,
                )
        except IntegrityError as exc:  # a double submission
            raise error("waitlist_already", child=child.first_name, **what) from exc
        _audit(
            "booking.waitlist_joined",
            obj=entry,
            household=household,
            actor=actor,
            channel=channel,
            child=child,
            session=session,
            after={"status": entry.status},
        )
    return entry


def leave_session_waitlist(*, household, entry_id, actor, channel, now=None) -> SessionWaitlistEntry:
    """ "Retirer": the family no longer waits for this session (an entry of its own, still live)."""
    now = _now(now)
    with transaction.atomic():
        entry = (
            SessionWaitlistEntry.objects.select_for_update(of=("self",))
            .filter(pk=entry_id, household=household)
            .select_related("child", "session__unit__activity")
            .first()
        )
        if entry is None or not entry.is_live:
            raise error("waitlist_not_found")
        before = {"status": entry.status}
        entry.status = WaitlistStatus.WITHDRAWN
        entry.closed_at = now
        entry.save(update_fields=["status", "closed_at"])
        _audit(
            "booking.waitlist_left",
            obj=entry,
            household=household,
            actor=actor,
            channel=channel,
            child=entry.child,
            session=entry.session,
            before=before,
            after={"status": entry.status},
        )
    return entry


def _close_entries(entries, status, now) -> int:
    ids = [entry.pk for entry in entries]
    if not ids:
        return 0
    return SessionWaitlistEntry.objects.filter(pk__in=ids, status__in=LIVE_WAITLIST_STATUSES).update(
        status=status, closed_at=now
    )


def _close_waitlist_entries_of(bookings, now) -> None:
    """The children just booked no longer wait for these sessions. Skipped (no query) when none of
    the activities offers a waiting list; the notification job closes any entry left behind."""
    bookings = [booking for booking in bookings if booking.session.unit.activity.session_waiting_list]
    if not bookings:
        return
    pairs = {(booking.child_id, booking.session_id) for booking in bookings}
    candidates = SessionWaitlistEntry.objects.filter(
        session_id__in={session_id for _, session_id in pairs},
        child_id__in={child_id for child_id, _ in pairs},
        status__in=LIVE_WAITLIST_STATUSES,
    ).values_list("pk", "child_id", "session_id")
    ids = [pk for pk, child_id, session_id in candidates if (child_id, session_id) in pairs]
    if ids:
        SessionWaitlistEntry.objects.filter(pk__in=ids).update(status=WaitlistStatus.BOOKED, closed_at=now)


def _notify_waitlists_after_commit(sessions) -> None:
    """Places were just freed: tell the waiting families once the cancellation is committed, not
    five minutes later. The periodic job stays the safety net (places freed by expired basket
    lines, a failure here)."""
    session_ids = sorted({session.pk for session in sessions if session.unit.activity.session_waiting_list})
    if session_ids:
        transaction.on_commit(lambda: notify_session_waitlists(session_ids=session_ids), robust=True)


@dataclass
class WaitlistRun:
    notified: list = field(default_factory=list)  # the entries told about a free place
    expired: int = 0
    booked: int = 0
    requeued: int = 0  # told earlier, the place was taken: waiting again


def notify_session_waitlists(*, now=None, session_ids=None) -> WaitlistRun:
    """The periodic job (`notify_session_waitlists`, every 5 minutes), also run right after a
    cancellation for its sessions.

    For each session with live entries: past its deadline (or closed), the entries expire. Before
    it, the entries of children booked meanwhile are closed, then as many waiting families as
    there are free places (recounted, minus the places already announced in the last
    WAITLIST_NOTICE_WINDOW) are told by e-mail, by arrival order, each entry once per freed
    place. A family told about a place that someone else took waits again, in its rank, once the
    session is full again and its notice window is over.

    Each session is handled in its own transaction under its row lock, so two runs at once
    (cron overlap, a cancellation meanwhile) take turns and the second finds the entries already
    told: nobody gets two e-mails for one place.
    """
    now = _now(now)
    live = SessionWaitlistEntry.objects.filter(status__in=LIVE_WAITLIST_STATUSES)
    if session_ids is not None:
        live = live.filter(session_id__in=list(session_ids))
    run = WaitlistRun()
    for session_id in list(live.order_by("session_id").values_list("session_id", flat=True).distinct()):
        _notify_session(session_id, now, run)
    return run


def _notify_session(session_id, now, run: WaitlistRun) -> None:
    with capacity_transaction():
        session = _lock_sessions([session_id]).get(session_id)
        if session is None:
            return
        entries = list(
            SessionWaitlistEntry.objects.filter(session=session, status__in=LIVE_WAITLIST_STATUSES)
            .select_related("child", "household")
            .order_by("created_at", "pk")
        )
        if not entries:
            return  # handled meanwhile by another run
        deadline = _deadline(session)
        if session.is_cancelled or now >= deadline:
            run.expired += _close_entries(entries, WaitlistStatus.EXPIRED, now)
            return
        child_ids = [entry.child_id for entry in entries]
        booked = set(
            Booking.objects.filter(session=session, child_id__in=child_ids, status__in=HOLDING_STATUSES).values_list(
                "child_id", flat=True
            )
        )
        if booked:
            run.booked += _close_entries([e for e in entries if e.child_id in booked], WaitlistStatus.BOOKED, now)
            entries = [entry for entry in entries if entry.child_id not in booked]
        # A child whose cell is already ticked holds a place: nothing to tell.
        holding = set(
            BasketLine.objects.filter(
                session=session, child_id__in=child_ids, kind=LineKind.ADD, expires_at__gt=now
            ).values_list("child_id", flat=True)
        )
        waiting = [e for e in entries if e.status == WaitlistStatus.WAITING and e.child_id not in holding]
        capacity = session.effective_capacity
        free = len(waiting) if capacity is None else capacity - places_taken(session.pk, now)
        if capacity is not None and free <= 0:
            # Full again: families told earlier who did not get the place wait again, in their rank.
            missed = [
                entry
                for entry in entries
                if entry.status == WaitlistStatus.NOTIFIED and entry.notified_at <= now - WAITLIST_NOTICE_WINDOW
            ]
            if missed:
                SessionWaitlistEntry.objects.filter(pk__in=[entry.pk for entry in missed]).update(
                    status=WaitlistStatus.WAITING
                )
                run.requeued += len(missed)
            return
        announced = sum(
            1
            for entry in entries
            if entry.status == WaitlistStatus.NOTIFIED and entry.notified_at > now - WAITLIST_NOTICE_WINDOW
        )
        for entry in waiting[: max(0, free - announced)]:
            entry.status = WaitlistStatus.NOTIFIED
            entry.notified_at = now
            entry.save(update_fields=["status", "notified_at"])
            entry.session = session
            _audit(
                "booking.waitlist_notified",
                obj=entry,
                household=entry.household,
                actor=None,
                channel=Channel.SYSTEM,
                child=entry.child,
                session=session,
                message_suffix=" – une place s'est libérée, famille prévenue par e-mail",
                before={"status": WaitlistStatus.WAITING},
                after={"status": entry.status},
            )
            emails.notify_waitlist_place(entry, session, deadline)
            run.notified.append(entry)


# --- Paying a prepaid basket (portail.payments drives these) -------------------------------------


def prepaid_lines(household, *, now=None) -> list[BasketLine]:
    """The basket's live "add" lines of prepaid activities: what "Payer" pays for."""
    now = _now(now)
    return list(
        BasketLine.objects.filter(
            basket__household=household,
            kind=LineKind.ADD,
            expires_at__gt=now,
            session__unit__activity__payment_mode=PaymentMode.PREPAID,
        )
        .select_related("child", "session__unit__activity")
        .order_by("session__date", "session__unit__position", "child_id")
    )


def hold_lines_for_payment(*, household, line_ids, actor, channel, now=None) -> list[Booking]:
    """Turn prepaid add lines into bookings "en cours de paiement" that keep holding their places.

    Runs inside the caller's transaction (the payment is created in the same one). Sessions are
    locked in id order; each line is checked again (deadline, enrolment, not already booked). The
    place count is unchanged: the line that held the place becomes the booking that holds it.
    """
    now = _now(now)
    lines = list(
        BasketLine.objects.filter(
            pk__in=line_ids, basket__household=household, kind=LineKind.ADD, expires_at__gt=now
        ).select_related("child", "enrolment")
    )
    if len(lines) != len(set(line_ids)):
        raise error("basket_changed")
    sessions = _lock_sessions([line.session_id for line in lines])
    bookings = []
    for line in sorted(lines, key=lambda each: (sessions[each.session_id].date, each.session_id, each.child_id)):
        session = sessions[line.session_id]
        try:
            if _holding_booking(line.child, session.pk) is not None:
                raise error("already_booked")
            _check_bookable(line.child, session, now, bypass_deadline=False)
        except BookingError as refusal:
            raise _cell_error(refusal, line.child, session) from refusal
        booking = Booking(
            child=line.child,
            session=session,
            enrolment=line.enrolment,
            status=BookingStatus.AWAITING_PAYMENT,
            **price_fields_of(line),
            channel=channel,
            created_by=_user(actor),
            created_at=now,
        )
        booking.save()
        _audit(
            "booking.awaiting_payment",
            obj=booking,
            household=household,
            actor=actor,
            channel=channel,
            child=line.child,
            session=session,
            message_suffix=" (envoyée au paiement)",
            after={"status": booking.status, "price_cents": booking.price_cents},
        )
        line.delete()
        bookings.append(booking)
    return bookings


def confirm_paid_bookings(*, bookings, paid_at, household, channel=Channel.SYSTEM) -> list[Booking]:
    """The bank confirmed: bookings awaiting payment become booked and paid (seed 001: no longer the family's
    to change). Runs inside the caller's transaction, under the payment attempt's lock."""
    confirmed = []
    for booking in bookings:
        if booking.status != BookingStatus.AWAITING_PAYMENT:
            continue
        booking.status = BookingStatus.CONFIRMED
        booking.paid_at = paid_at
        booking.save(update_fields=["status", "paid_at"])
        _audit(
            "booking.paid",
            obj=booking,
            household=household,
            actor=None,
            channel=channel,
            child=booking.child,
            session=booking.session,
            message_suffix=" (payée)",
            before={"status": BookingStatus.AWAITING_PAYMENT},
            after={"status": booking.status, "paid_at": paid_at},
        )
        confirmed.append(booking)
    return confirmed


def release_unpaid_bookings(*, bookings, household, reason, now=None, channel=Channel.SYSTEM) -> list[Booking]:
    """The bank refused, the family gave up or the bank never answered in time: free the places."""
    now = _now(now)
    released = [booking for booking in bookings if booking.status == BookingStatus.AWAITING_PAYMENT]
    for booking in released:
        _cancel_booking(
            booking,
            actor=None,
            channel=channel,
            now=now,
            household=household,
            note=f" ({reason})",
            extra={"reason": reason},
        )
    _notify_waitlists_after_commit([booking.session for booking in released])
    return released


def rebook_after_late_payment(*, booking, paid_at, household, now=None) -> Booking | None:
    """A payment confirmed after its hold was released: book the same cell again if it is still possible
    (a place, no booking meanwhile). Returns the new booking, or None (the money then becomes credit).
    Deadlines are not checked again: the family paid in time, the bank answered late."""
    now = _now(now)
    with capacity_transaction():
        session = _lock_sessions([booking.session_id])[booking.session_id]
        child = booking.child
        if session.is_cancelled or _holding_booking(child, session.pk) is not None:
            return None
        try:
            _check_place(session, now)
        except BookingError:
            return None
        fresh = _create_booking(
            child=child,
            session=session,
            enrolment=booking.enrolment,
            price=price_fields_of(booking),
            actor=None,
            channel=Channel.SYSTEM,
            now=now,
            household=household,
            note=" (paiement confirmé après expiration)",
        )
        fresh.paid_at = paid_at
        fresh.save(update_fields=["paid_at"])
        return fresh


# --- Enrolments paid at once: their sessions come with them (portail.payments.enrolment_payment) ----


def book_enrolment_sessions(*, enrolment, paid_at, now=None, channel=Channel.SYSTEM) -> list[Booking]:
    """Book every session of the enrolment's activity between its period's dates, paid (seed 000:
    "les étoiles sur une dizaine de mercredis"). The price is the enrolment's, so each booking costs 0.

    Runs inside the caller's transaction. Cancelled sessions are skipped, and so is a session the
    child already holds (one live booking per child and session). Session capacities are not
    counted: the enrolment's place in its group is the place (the planning cannot book these
    activities, see _check_bookable). One audit entry for the whole enrolment.
    """
    now = _now(now)
    period = enrolment.period
    child = enrolment.child
    sessions = list(
        Session.objects.filter(
            unit__activity_id=enrolment.activity_id,
            date__gte=period.start_date,
            date__lte=period.end_date,
            is_cancelled=False,
        )
        .select_related("unit")
        .order_by("date", "unit__position", "pk")
    )
    held = set(
        Booking.objects.filter(
            child=child, session_id__in=[session.pk for session in sessions], status__in=HOLDING_STATUSES
        ).values_list("session_id", flat=True)
    )
    bookings = Booking.objects.bulk_create(
        Booking(
            child=child,
            session=session,
            enrolment=enrolment,
            status=BookingStatus.CONFIRMED,
            price_cents=0,
            channel=channel,
            created_at=now,
            paid_at=paid_at,
        )
        for session in sessions
        if session.pk not in held
    )
    count = len(bookings)
    plural = "s" if count > 1 else ""
    log_action(
        actor=None,
        channel=channel,
        action="booking.enrolment_sessions",
        obj=enrolment,
        household=child.household,
        after={
            "child": child.pk,
            "period": period.pk,
            "paid_at": paid_at,
            "sessions": [booking.session_id for booking in bookings],
            "dates": [booking.session.date for booking in bookings],
            "already_booked": sorted(held),
        },
        message=(
            f"{child.first_name} – {enrolment.activity.name}, {period.name} : {count} séance{plural} "
            f"réservée{plural} et payée{plural} avec l'inscription."
        ),
    )
    return bookings
