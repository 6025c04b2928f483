"""Online payment: starting an attempt, applying the bank's verified answer, reconciling the silent ones.

The rules (docs/decisions/0011-online-payments.md):
- only a verified server notification (or, for PayFiP web-service, the server-to-server status call)
  changes money state; the browser return only displays it;
- the attempt row is locked while an answer is applied, so the same notification any number of
  times, in parallel or not, makes one payment, one state change, one e-mail; PAID is terminal;
- one open attempt per household basket at a time (mise en sécurité, the régie's lock minutes);
- the places of a basket sent to the bank are held by bookings "en cours de paiement" until the
  bank answers or the hold ends (hold minutes, released by `reconcile_payments`);
- a PAID answer that comes after the hold was released books again what still has places; the
  rest of the money stays on the household's account as credit and a régisseur gets an incident.
"""

import logging
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta

from django.db import models, transaction
from django.utils import timezone

from portail.bookings import services as bookings
from portail.bookings.errors import BookingError
from portail.bookings.models import Booking
from portail.catalog.models import PaymentMode
from portail.core import locking as core_locking
from portail.core.audit import log_action
from portail.core.models import Channel
from portail.households.selectors import guardian_addresses

from . import backends, emails
from .errors import PaymentError
from .models import (
    FAILED_STATUSES,
    OPEN_STATUSES,
    Allocation,
    AllocationKind,
    AttemptPurpose,
    BankNotification,
    IncidentKind,
    Means,
    NotificationOutcome,
    Payment,
    PaymentAttempt,
    PaymentIncident,
    PaymentStatus,
    Regie,
)
from .receipts import give_receipt_number

security_log = logging.getLogger("portail.security")

# PayFiP keeps answering "in progress" (P5) for up to two hours; holds are extended that long at most.
MAX_HOLD = timedelta(hours=2)
PENDING_RECHECK = timedelta(minutes=5)


def _now(now):
    return now or timezone.now()


def _euros(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d} €"


def new_reference(regie) -> str:
    """Our reference for the bank: alphanumeric, 6–30 characters (PayFiP refdet, Systempay order id)."""
    alphabet = string.ascii_uppercase + string.digits
    return f"P{regie.code}{timezone.localdate():%Y%m%d}{''.join(secrets.choice(alphabet) for _ in range(8))}"


def _capacity_transaction():
    """The bookings' locked transaction, whose lock timeout reads as a payment refusal ("réessayez")."""
    return core_locking.capacity_transaction(
        lambda: PaymentError("Trop de demandes en même temps, réessayez dans un instant.", code="busy")
    )


def regie_for_activity(activity_id) -> Regie | None:
    return Regie.objects.filter(activities__pk=activity_id, is_active=True).order_by("pk").first()


# --- Starting a payment ---------------------------------------------------------------------------


@dataclass
class Started:
    attempt: PaymentAttempt
    checkout: backends.Checkout


def _wait_message(attempt, now, what="ces réservations") -> str:
    minutes = max(1, int((attempt.lock_until - now).total_seconds() // 60) + 1)
    at = timezone.localtime(attempt.lock_until)
    return (
        f"Un paiement est déjà en cours pour {what}. Pour éviter tout double paiement, vous pourrez "
        f"recommencer à {at:%H:%M} (dans {minutes} minute{'s' if minutes > 1 else ''}). Si vous avez payé, "
        "la confirmation arrive d'elle-même : inutile de payer une seconde fois."
    )


def open_basket_attempt(household, now=None) -> PaymentAttempt | None:
    """The basket attempt still blocking a new one (pending and within its lock time), if any."""
    now = _now(now)
    return (
        PaymentAttempt.objects.filter(
            household=household, purpose=AttemptPurpose.BASKET, status__in=OPEN_STATUSES, lock_until__gt=now
        )
        .order_by("-created_at")
        .first()
    )


def start_basket_payment(*, household, actor, absolute_url, channel=Channel.WEB, now=None) -> Started:
    """ "Payer": send the basket's prepaid reservations to the régie's bank.

    `absolute_url(path)` builds the notification and return URLs. The reservations become bookings
    "en cours de paiement" holding their places; the family is then redirected to the bank.
    """
    now = _now(now)
    with _capacity_transaction():
        # One checkout per household at a time: two tabs clicking "Payer" wait for each other here.
        basket = bookings.basket_of(household)
        type(basket).objects.select_for_update().get(pk=basket.pk)
        blocking = open_basket_attempt(household, now)
        if blocking is not None:
            raise PaymentError(_wait_message(blocking, now), code="locked")
        lines = bookings.prepaid_lines(household, now=now)
        if not lines:
            raise PaymentError("Aucune réservation à payer.", code="nothing_to_pay")
        regie = regie_for_activity(lines[0].session.unit.activity_id)
        if regie is None or not regie.accepts_online:
            raise PaymentError(
                "Le paiement en ligne n'est pas ouvert pour ces activités : contactez le service.", code="no_online"
            )
        # One régie per payment (one bank account): lines of another régie stay for a second payment.
        regie_activities = set(regie.activities.values_list("pk", flat=True))
        lines = [line for line in lines if line.session.unit.activity_id in regie_activities]
        try:
            held = bookings.hold_lines_for_payment(
                household=household, line_ids=[line.pk for line in lines], actor=actor, channel=channel, now=now
            )
        except BookingError as refusal:
            raise PaymentError(refusal.message, code=refusal.code) from refusal
        amount = sum(booking.price_cents for booking in held)
        if amount == 0:
            raise PaymentError("Ces réservations sont gratuites : validez-les sans paiement.", code="free")
        label = f"Réservations ({len(held)} séance{'s' if len(held) > 1 else ''})"
        payment = create_online_payment(
            regie=regie, household=household, amount_cents=amount, label=label, channel=channel, actor=actor, now=now
        )
        Allocation.objects.bulk_create(
            Allocation(
                payment=payment,
                kind=AllocationKind.BOOKING,
                amount_cents=booking.price_cents,
                label=f"{booking.child.first_name} – {booking.session}",
                booking=booking,
                created_at=now,
            )
            for booking in held
            if booking.price_cents
        )
        attempt = new_attempt(payment, AttemptPurpose.BASKET, actor, now)
        log_action(
            actor=actor,
            channel=channel,
            action="payment.started",
            obj=payment,
            household=household,
            after={"amount_cents": amount, "attempt": attempt.reference, "bookings": [b.pk for b in held]},
            message=f"Paiement en ligne de {_euros(amount)} envoyé à la banque ({label}).",
        )
    return call_bank(attempt, absolute_url, household)


def create_online_payment(*, regie, household, amount_cents, label, channel, actor, now) -> Payment:
    """The payment an online attempt is for, pending until the bank answers."""
    return Payment.objects.create(
        regie=regie,
        household=household,
        means=Means.ONLINE,
        amount_cents=amount_cents,
        status=PaymentStatus.PENDING,
        label=label,
        channel=channel,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        created_at=now,
    )


def new_attempt(payment, purpose, actor, now, *, reference: str = "") -> PaymentAttempt:
    """`reference`: the bank reference (refdet), 6–30 letters or digits; generated when empty."""
    regie = payment.regie
    return PaymentAttempt.objects.create(
        payment=payment,
        regie=regie,
        household=payment.household,
        purpose=purpose,
        backend=regie.backend,
        reference=reference or new_reference(regie),
        amount_cents=payment.amount_cents,
        status=PaymentStatus.CREATED,
        test=regie.test_mode,
        created_at=now,
        lock_until=now + timedelta(minutes=regie.lock_minutes),
        hold_until=now + timedelta(minutes=regie.hold_minutes),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def call_bank(attempt, absolute_url, household) -> Started:
    """Outside any transaction: PayFiP's web-service is a network call that must not hold row locks."""
    from django.urls import reverse

    emails_to = guardian_addresses(household)
    try:
        checkout = backends.start(
            attempt.regie,
            reference=attempt.reference,
            amount_cents=attempt.amount_cents,
            email=emails_to[0] if emails_to else "",
            label=attempt.payment.label,
            notify_url=absolute_url(reverse("payments:notification", args=[attempt.regie_id])),
            return_url=absolute_url(reverse("portal:payment_return", args=[attempt.uid])),
        )
    except backends.BackendError as failure:
        _fail_attempt(
            attempt.pk, PaymentStatus.ERROR, bank_status=failure.message, release_reason="paiement impossible"
        )
        raise PaymentError(failure.message, code="bank") from failure
    PaymentAttempt.objects.filter(pk=attempt.pk, status=PaymentStatus.CREATED).update(
        external_id=checkout.external_id,
        status=PaymentStatus.PENDING,
        request_data={"method": checkout.method, "url": checkout.url, "test": checkout.test},
    )
    attempt.refresh_from_db()
    return Started(attempt=attempt, checkout=checkout)


# --- Paying with the household's credit (prépaiement, avoir) --------------------------------------


def _credit_payments(household, regie) -> list[tuple[Payment, int]]:
    """The household's paid payments to `regie` with money not yet allocated, oldest first, rows locked."""
    payments = list(
        Payment.objects.select_for_update()
        .filter(household=household, regie=regie, status=PaymentStatus.PAID)
        .order_by("paid_at", "pk")
    )
    used = dict(
        Allocation.objects.filter(payment__in=payments)
        .values("payment")
        .annotate(total=models.Sum("amount_cents"))
        .values_list("payment", "total")
    )
    return [
        (payment, payment.amount_cents - used.get(payment.pk, 0))
        for payment in payments
        if payment.amount_cents > used.get(payment.pk, 0)
    ]


def spend_credit(sources: list[tuple[Payment, int]], dues: list[tuple[int, dict]], now) -> list[Allocation]:
    """Allocations (unsaved) paying each due amount from `sources` (payment, money left), oldest first.
    `dues` = [(cents, Allocation fields such as kind/label/booking/invoice)]; the caller checked there is
    enough. A due may be split over two payments. `sources` is consumed."""
    allocations = []
    for due, fields in dues:
        while due and sources:
            payment, left = sources[0]
            part = min(due, left)
            allocations.append(Allocation(payment=payment, amount_cents=part, created_at=now, **fields))
            due -= part
            sources[0] = (payment, left - part)
            if sources[0][1] == 0:
                sources.pop(0)
    return allocations


def credit_for(household, regie) -> int:
    """What the household may still spend with this régie (money is kept per régie: one bank account each)."""
    paid = Payment.objects.filter(household=household, regie=regie, status=PaymentStatus.PAID)
    total = paid.aggregate(total=models.Sum("amount_cents"))["total"] or 0
    used = Allocation.objects.filter(payment__in=paid).aggregate(total=models.Sum("amount_cents"))["total"] or 0
    return total - used


def pay_basket_with_credit(*, household, actor, channel=Channel.WEB, now=None) -> list[Booking]:
    """ "Payer avec mon crédit": the basket's prepaid reservations are booked and paid at once from money
    already received (prépaiement, avoir), allocated from the oldest payments first. All or nothing."""
    now = _now(now)
    with _capacity_transaction():
        basket = bookings.basket_of(household)
        type(basket).objects.select_for_update().get(pk=basket.pk)
        if open_basket_attempt(household, now) is not None:
            raise PaymentError(
                "Un paiement en ligne de ces réservations est en cours : attendez sa réponse.", code="locked"
            )
        lines = bookings.prepaid_lines(household, now=now)
        if not lines:
            raise PaymentError("Aucune réservation à payer.", code="nothing_to_pay")
        regie = regie_for_activity(lines[0].session.unit.activity_id)
        if regie is None:
            raise PaymentError(
                "Ces activités ne sont rattachées à aucune régie : contactez le service.", code="no_regie"
            )
        regie_activities = set(regie.activities.values_list("pk", flat=True))
        lines = [line for line in lines if line.session.unit.activity_id in regie_activities]
        sources = _credit_payments(household, regie)
        needed = sum(line.price_cents for line in lines)
        available = sum(left for _, left in sources)
        if available < needed:
            raise PaymentError(
                f"Votre crédit auprès de la {regie.name} ({_euros(available)}) ne couvre pas ces réservations "
                f"({_euros(needed)}) : payez-les en ligne.",
                code="not_enough_credit",
            )
        try:
            held = bookings.hold_lines_for_payment(
                household=household, line_ids=[line.pk for line in lines], actor=actor, channel=channel, now=now
            )
        except BookingError as refusal:
            raise PaymentError(refusal.message, code=refusal.code) from refusal
        confirmed = bookings.confirm_paid_bookings(bookings=held, paid_at=now, household=household, channel=channel)
        dues = [
            (
                booking.price_cents,
                {
                    "kind": AllocationKind.BOOKING,
                    "label": f"{booking.child.first_name} – {booking.session} (crédit)",
                    "booking": booking,
                },
            )
            for booking in confirmed
        ]
        Allocation.objects.bulk_create(spend_credit(sources, dues, now))
        log_action(
            actor=actor,
            channel=channel,
            action="payment.credit_used",
            household=household,
            after={"amount_cents": needed, "bookings": [b.pk for b in confirmed], "regie": regie.pk},
            message=f"Crédit utilisé : {_euros(needed)} pour {len(confirmed)} réservation(s) ({regie.name}).",
        )
    return confirmed


# --- Applying the bank's answer -------------------------------------------------------------------


def _allocated_bookings(payment) -> list[Booking]:
    return [
        allocation.booking
        for allocation in payment.allocations.filter(kind=AllocationKind.BOOKING).select_related(
            "booking__child", "booking__session__unit__activity", "booking__enrolment"
        )
    ]


def _fail_attempt(attempt_id, status, *, bank_status="", release_reason, now=None, locked=None) -> bool:
    """Close an open attempt as failed and release what it held. Exactly once (row lock + status check)."""
    now = _now(now)
    with transaction.atomic():
        attempt = locked or PaymentAttempt.objects.select_for_update(of=("self",)).select_related(
            "payment", "household"
        ).get(pk=attempt_id)
        if attempt.status not in OPEN_STATUSES:
            return False
        attempt.status = status
        attempt.resolved_at = now
        attempt.bank_status = bank_status[:200]
        attempt.save(update_fields=["status", "resolved_at", "bank_status"])
        payment = attempt.payment
        if payment.status in OPEN_STATUSES:
            payment.status = status
            payment.save(update_fields=["status"])
        released = bookings.release_unpaid_bookings(
            bookings=_allocated_bookings(payment), household=attempt.household, reason=release_reason, now=now
        )
        log_action(
            actor=None,
            channel=Channel.SYSTEM,
            action="payment.failed",
            obj=payment,
            household=attempt.household,
            before={"status": PaymentStatus.PENDING},
            after={"status": status, "attempt": attempt.reference, "released_bookings": [b.pk for b in released]},
            message=f"Paiement {attempt.reference} : {PaymentStatus(status).label.lower()} ; places libérées.",
        )
        emails.send_payment_failed(payment)
    return True


def _settle_paid(attempt, answer, now) -> None:
    """The bank says PAID (inside the transaction holding the attempt's lock)."""
    payment = attempt.payment
    household = attempt.household
    was_open = attempt.status in OPEN_STATUSES
    attempt.status = PaymentStatus.PAID
    attempt.resolved_at = now
    attempt.bank_status = answer.bank_status[:200]
    attempt.bank_reference = answer.bank_reference[:100]
    attempt.save(update_fields=["status", "resolved_at", "bank_status", "bank_reference"])
    before = payment.status
    payment.status = PaymentStatus.PAID
    payment.paid_at = now
    payment.reference = answer.bank_reference[:100]
    give_receipt_number(payment)
    payment.save(update_fields=["status", "paid_at", "reference", "receipt_number"])
    held = _allocated_bookings(payment)
    if was_open:
        bookings.confirm_paid_bookings(bookings=held, paid_at=now, household=household)
    else:
        _rebook_late(payment, attempt, held, now)
    if attempt.purpose == AttemptPurpose.ENROLMENT:
        from .enrolment_payment import settle_enrolments  # the enrolment-at-once flow

        settle_enrolments(payment, attempt, now)
    if attempt.purpose == AttemptPurpose.INVOICES:
        from .invoice_payment import settle_invoices  # an invoice paid meanwhile: the surplus stays as credit

        settle_invoices(payment, attempt, now)
    log_action(
        actor=None,
        channel=Channel.SYSTEM,
        action="payment.paid",
        obj=payment,
        household=household,
        before={"status": before},
        after={"status": payment.status, "receipt": payment.receipt_number, "attempt": attempt.reference},
        message=f"Paiement en ligne de {_euros(payment.amount_cents)} reçu, reçu n° {payment.receipt_number}.",
    )
    emails.send_receipt(payment)


def _rebook_late(payment, attempt, held, now) -> None:
    """PAID after the hold was released: book again what still has places; the rest becomes credit."""
    lost = []
    for booking in held:
        allocation = payment.allocations.get(booking=booking)
        fresh = bookings.rebook_after_late_payment(booking=booking, paid_at=now, household=attempt.household, now=now)
        if fresh is None:
            lost.append(booking)
            allocation.delete()  # the money of that day stays on the account (credit)
        else:
            allocation.booking = fresh
            allocation.save(update_fields=["booking"])
    if lost:
        amount = sum(booking.price_cents for booking in lost)
        PaymentIncident.objects.create(
            kind=IncidentKind.NO_PLACE_LEFT,
            regie=payment.regie,
            household=attempt.household,
            payment=payment,
            attempt=attempt,
            details=(
                f"Paiement {attempt.reference} confirmé par la banque après la libération des places. "
                f"{len(lost)} séance(s) n'avaient plus de place : {_euros(amount)} restent en crédit sur le "
                "compte de la famille. " + " ; ".join(str(booking.session) for booking in lost)
            ),
            created_at=now,
        )


def _reject(notification, reason, *, regie=None, answer=None):
    notification.outcome = NotificationOutcome.REJECTED
    notification.reason = reason[:200]
    notification.save(update_fields=["outcome", "reason"])
    security_log.warning("Bank notification %s rejected: %s", notification.pk, reason)
    log_action(
        actor=None,
        channel=Channel.SYSTEM,
        action="payment.notification_rejected",
        obj=notification,
        after={"reason": reason, "regie": regie.pk if regie else None, "remote_addr": notification.remote_addr},
        message=f"Notification bancaire rejetée : {reason}.",
    )


@dataclass
class NotificationResult:
    outcome: str
    body: str = "OK"


def handle_notification(*, regie_id, method, query_string, body, remote_addr="", now=None) -> NotificationResult:
    """The bank's server-to-server notification. Logged raw first, then verified, then applied once."""
    now = _now(now)
    regie = Regie.objects.filter(pk=regie_id).first()
    notification = BankNotification.objects.create(
        received_at=now,
        regie=regie,
        backend=regie.backend if regie else "",
        method=method[:8],
        query_string=query_string[:10000],
        body=body[:20000],
        remote_addr=remote_addr[:64],
    )
    if regie is None or not regie.backend:
        _reject(notification, "unknown régie", regie=None)
        return NotificationResult(NotificationOutcome.REJECTED)
    try:
        answer = backends.parse_notification(regie, method=method, query_string=query_string, body=body)
    except backends.NotificationError as failure:
        _reject(notification, f"unreadable: {failure.reason}", regie=regie)
        return NotificationResult(NotificationOutcome.REJECTED)
    notification.parsed = answer.raw
    notification.signed = answer.signed
    notification.result = answer.status
    notification.save(update_fields=["parsed", "signed", "result"])
    return _apply_answer(notification, regie, answer, now)


def _apply_answer(notification, regie, answer, now) -> NotificationResult:
    if not answer.signed and not answer.unsigned_protocol:
        _reject(notification, "bad signature", regie=regie, answer=answer)
        return NotificationResult(NotificationOutcome.REJECTED)
    if answer.test and not regie.test_mode:
        _reject(notification, "test notification for a régie in production", regie=regie, answer=answer)
        return NotificationResult(NotificationOutcome.REJECTED)
    with transaction.atomic():
        attempt = (
            PaymentAttempt.objects.select_for_update(of=("self",))
            .select_related("payment__regie", "household", "regie")
            .filter(regie=regie, backend=regie.backend, external_id=answer.external_id)
            .exclude(external_id="")
            .first()
        )
        if attempt is None:
            _reject(notification, "unknown transaction", regie=regie, answer=answer)
            return NotificationResult(NotificationOutcome.REJECTED, _body(answer))
        notification.attempt = attempt
        notification.save(update_fields=["attempt"])
        if answer.unsigned_protocol and not _unsigned_checks_pass(regie, attempt, answer):
            _reject(notification, "unsigned answer does not match the attempt", regie=regie, answer=answer)
            return NotificationResult(NotificationOutcome.REJECTED, _body(answer))
        if answer.amount_cents is not None and answer.amount_cents != attempt.amount_cents:
            if not attempt.incidents.filter(kind=IncidentKind.AMOUNT_MISMATCH).exists():
                PaymentIncident.objects.create(
                    kind=IncidentKind.AMOUNT_MISMATCH,
                    regie=regie,
                    household=attempt.household,
                    payment=attempt.payment,
                    attempt=attempt,
                    notification=notification,
                    details=(
                        f"La banque annonce {_euros(answer.amount_cents)} ({answer.status}) pour le paiement "
                        f"{attempt.reference} de {_euros(attempt.amount_cents)}. Rien n'a été affecté."
                    ),
                    created_at=now,
                )
            _set_outcome(notification, NotificationOutcome.INCIDENT, "amount mismatch")
            security_log.warning("Bank notification %s: amount mismatch on %s", notification.pk, attempt.reference)
            return NotificationResult(NotificationOutcome.INCIDENT, _body(answer))
        outcome = _transition(attempt, answer, now)
        _set_outcome(notification, outcome)
    return NotificationResult(outcome, _body(answer))


def _body(answer) -> str:
    return answer.return_content if answer.return_content is not None else "OK"


def _set_outcome(notification, outcome, reason=""):
    notification.outcome = outcome
    notification.reason = reason
    notification.save(update_fields=["outcome", "reason"])


def _unsigned_checks_pass(regie, attempt, answer) -> bool:
    """TIPI classic answers are not signed: they must name a pending attempt of ours, with its amount."""
    expected_numcli = str(regie.backend_options.get("numcli", ""))
    if answer.numcli and expected_numcli and answer.numcli != expected_numcli:
        return False
    return answer.amount_cents is not None


def _transition(attempt, answer, now) -> str:
    """The state machine (attempt row locked). Returns the notification's outcome."""
    status = answer.status
    if attempt.status == PaymentStatus.PAID:
        if status == PaymentStatus.PAID:
            return NotificationOutcome.DUPLICATE
        # PAID is terminal: a later refusal or cancellation is logged and ignored.
        return NotificationOutcome.IGNORED
    if status == PaymentStatus.PAID:
        _settle_paid(attempt, answer, now)
        return NotificationOutcome.APPLIED
    if status == "pending":
        if attempt.status in OPEN_STATUSES:
            # PayFiP "in progress": keep the places a while longer, never beyond two hours.
            limit = attempt.created_at + MAX_HOLD
            attempt.hold_until = min(limit, max(attempt.hold_until, now + PENDING_RECHECK))
            attempt.save(update_fields=["hold_until"])
            return NotificationOutcome.APPLIED
        return NotificationOutcome.IGNORED
    if status in FAILED_STATUSES:
        if attempt.status in OPEN_STATUSES:
            reason = {
                PaymentStatus.DENIED: "paiement refusé",
                PaymentStatus.CANCELLED: "paiement abandonné",
                PaymentStatus.EXPIRED: "paiement expiré",
            }.get(status, "erreur de paiement")
            _fail_attempt(
                attempt.pk, status, bank_status=answer.bank_status, release_reason=reason, now=now, locked=attempt
            )
            return NotificationOutcome.APPLIED
        return NotificationOutcome.DUPLICATE if attempt.status == status else NotificationOutcome.IGNORED
    return NotificationOutcome.IGNORED


# --- Reconciliation -------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    checked: int = 0
    paid: int = 0
    expired: int = 0
    still_pending: int = 0


def reconcile_payments(*, now=None) -> ReconcileReport:
    """Periodic job (every minute): attempts whose hold has ended are asked again (PayFiP web-service)
    or expired, and what they held is released, exactly once whatever runs at the same time."""
    now = _now(now)
    report = ReconcileReport()
    due = PaymentAttempt.objects.filter(status__in=OPEN_STATUSES, hold_until__lte=now).select_related("regie")
    for attempt in due.order_by("hold_until")[:500]:
        report.checked += 1
        answer = None
        if attempt.external_id:
            try:
                answer = backends.fetch_status(attempt.regie, attempt)
            except backends.BackendError:
                answer = None
        if answer is not None and answer.status != "pending":
            notification = BankNotification.objects.create(
                received_at=now,
                regie=attempt.regie,
                backend=attempt.backend,
                attempt=attempt,
                method="POLL",
                parsed=answer.raw,
                signed=answer.signed,
                result=answer.status,
            )
            outcome = _apply_answer(notification, attempt.regie, answer, now).outcome
            if outcome == NotificationOutcome.APPLIED:
                if answer.status == PaymentStatus.PAID:
                    report.paid += 1
                elif answer.status in FAILED_STATUSES:
                    report.expired += 1
            continue
        if answer is not None and now < attempt.created_at + MAX_HOLD:
            PaymentAttempt.objects.filter(pk=attempt.pk, status__in=OPEN_STATUSES).update(
                hold_until=min(attempt.created_at + MAX_HOLD, now + PENDING_RECHECK)
            )
            report.still_pending += 1
            continue
        if _fail_attempt(
            attempt.pk,
            PaymentStatus.EXPIRED,
            bank_status="Pas de confirmation de la banque dans le délai",
            release_reason="paiement non confirmé à temps",
            now=now,
        ):
            report.expired += 1
    return report


# --- Reading --------------------------------------------------------------------------------------


def attempt_for_household(household, uid) -> PaymentAttempt:
    return PaymentAttempt.objects.select_related("payment", "regie").get(household=household, uid=uid)


def is_prepaid_activity(activity) -> bool:
    return activity.payment_mode == PaymentMode.PREPAID
