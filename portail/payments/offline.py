"""Staff-side money services: payments recorded at the desk, refunds, incidents, régie settings.

Rules (docs/PAYMENTS.md §3.1, §3.8, §3.9):
- a régie only takes the means its acte constitutif lists (`Regie.accepted_means`); online card
  payments only come through the bank, never typed at the desk;
- cash is refused from 300 € per payment (art. 1680 CGI);
- a cheque needs its bank and number, a CESU payment the titles' details;
- the receipt number is given inside the transaction that records the money: a rollback gives the
  number back (no gap);
- a régie de recettes never pays out: "rembourser / annuler" records the decision (the refund is a
  mandat of the ordonnateur, or the sum stays as credit), it moves no money;
- money is integer cents; French amounts typed by staff ("27,40") are parsed with Decimal.

Every change is audited (channel "la Mairie"); e-mails leave after the commit.
"""

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from portail.catalog.wording import format_euros
from portail.core.audit import changed_fields, log_action, snapshot
from portail.core.models import Channel, LogEntry
from portail.households.models import Household

from . import emails, services
from .errors import PaymentError
from .invoice_payment import allocate_desk_payment
from .models import (
    CASH_CEILING_CENTS,
    OFFLINE_MEANS,
    Allocation,
    AllocationKind,
    Means,
    Payment,
    PaymentIncident,
    PaymentStatus,
    Regie,
)
from .receipts import give_receipt_number

# What a desk payment is "for" until it is allocated (the label of the payment, on the receipt).
DESK_LABELS = {
    Means.CHEQUE: "Paiement par chèque",
    Means.CASH: "Paiement en espèces",
    Means.CESU: "Paiement en CESU",
    Means.TRANSFER: "Paiement par virement",
    Means.CARD_DESK: "Paiement par carte bancaire au guichet",
}
RECORDED_FIELDS = [
    "regie",
    "means",
    "amount_cents",
    "status",
    "receipt_number",
    "paid_at",
    "reference",
    "cheque_bank",
    "drawer",
    "cesu_details",
    "note",
]
REFUND_FIELDS = ["status", "refunded_at", "refunded_by", "refund_reason"]
INCIDENT_FIELDS = ["resolved_at", "resolved_by", "resolution"]

# --- amounts --------------------------------------------------------------------------------------

_AMOUNT = re.compile(r"^\d{1,9}(?:[.,]\d{1,2})?$")
_SPACES = re.compile(r"[\s\u00a0\u202f]")


def parse_amount_cents(value) -> int:
    """A French amount typed by staff as integer cents: "27,40" → 2740, "1 234,5 €" → 123450.

    Decimal only (never float); at most two decimals; zero and negative amounts are refused here
    too, so a form cannot slip one through."""
    text = _SPACES.sub("", str(value if value is not None else "")).removesuffix("€").removesuffix("EUR")
    if not _AMOUNT.match(text):
        raise PaymentError("Montant invalide : écrivez-le en euros, par exemple 27,40.", code="bad_amount")
    try:
        cents = int(Decimal(text.replace(",", ".")).scaleb(2))
    except InvalidOperation as bad:  # pragma: no cover - the pattern above already excludes it
        raise PaymentError("Montant invalide : écrivez-le en euros, par exemple 27,40.", code="bad_amount") from bad
    if cents <= 0:
        raise PaymentError("Le montant doit être supérieur à zéro.", code="bad_amount")
    return cents


# --- recording a desk payment ---------------------------------------------------------------------


def _text(value, max_length: int, what: str) -> str:
    value = (value or "").strip()
    if len(value) > max_length:
        raise PaymentError(f"{what} : {max_length} caractères au plus.", code="too_long")
    return value


def _paid_at(paid_on: date | None):
    """The instant of a desk payment, in local time (so the receipt year is the local year).

    Today (or no date): now. An earlier day (a cheque received by post, entered the next morning):
    noon of that day."""
    now = timezone.localtime()
    if paid_on is None or paid_on == now.date():
        return now
    if paid_on > now.date():
        raise PaymentError("La date du paiement ne peut pas être dans le futur.", code="future_date")
    return timezone.make_aware(datetime.combine(paid_on, time(12, 0)))


def _already_recorded(household, idempotency_key: str) -> Payment | None:
    """The payment a previous submission of the same form recorded (double click, browser retry)."""
    if not idempotency_key:
        return None
    entry = (
        LogEntry.objects.filter(action="payment.recorded", household=household, after__idempotency_key=idempotency_key)
        .order_by("pk")
        .first()
    )
    if entry is None:
        return None
    return Payment.objects.filter(pk=int(entry.object_id)).first()


def check_desk_payment(*, regie, means, amount_cents, reference="", cheque_bank="", cesu_details="") -> None:
    """The rules of a desk payment, raised as PaymentError with a French message."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise PaymentError("Le montant doit être supérieur à zéro.", code="bad_amount")
    if means == Means.ONLINE:
        raise PaymentError(
            "Un paiement par carte bancaire en ligne ne se saisit pas au guichet : il arrive de la banque.",
            code="means_online",
        )
    if means not in OFFLINE_MEANS:
        raise PaymentError("Choisissez le moyen de paiement dans la liste.", code="means_unknown")
    if not regie.is_active:
        raise PaymentError(f"La régie « {regie.name} » n'est plus active.", code="regie_inactive")
    if not regie.accepts(means):
        raise PaymentError(
            f"La régie « {regie.name} » n'accepte pas ce moyen de paiement ({Means(means).label.lower()}) : "
            "seuls ceux de son acte constitutif peuvent être encaissés.",
            code="means_refused",
        )
    if means == Means.CASH and amount_cents >= CASH_CEILING_CENTS:
        raise PaymentError(
            "Un paiement en espèces ne peut pas atteindre 300 € (article 1680 du CGI).", code="cash_ceiling"
        )
    if means == Means.CHEQUE and not (reference.strip() and cheque_bank.strip()):
        raise PaymentError("Indiquez la banque et le numéro du chèque.", code="cheque_incomplete")
    if means == Means.CESU and not cesu_details.strip():
        raise PaymentError(
            "Indiquez les titres CESU reçus : numéros, émetteur, millésime et valeurs.", code="cesu_details"
        )


def record_offline_payment(
    *,
    regie: Regie,
    household: Household,
    means: str,
    amount_cents: int,
    actor,
    reference: str = "",
    cheque_bank: str = "",
    drawer: str = "",
    cesu_details: str = "",
    note: str = "",
    paid_on: date | None = None,
    idempotency_key: str = "",
    invoice_ids=(),
    notify: bool = True,
) -> Payment:
    """A payment received at the desk (cheque, cash, CESU, transfer, card terminal): PAID at once,
    numbered, audited, its receipt e-mailed to the family after the commit.

    `invoice_ids`: the invoices it pays (oldest first, as far as it goes; see
    invoice_payment.allocate_desk_payment), in the same transaction. Otherwise, or for what is left,
    the sum is the household's credit with the régie until it is allocated to bookings or invoices. `idempotency_key` (the form's one-time token) makes a
    second submission of the same form return the first payment (with `already_recorded` set)
    instead of a second receipt."""
    reference = _text(reference, 100, "Numéro ou référence")
    cheque_bank = _text(cheque_bank, 100, "Banque")
    drawer = _text(drawer, 150, "Tireur ou payeur")
    cesu_details = _text(cesu_details, 300, "Titres CESU")
    note = _text(note, 2000, "Remarque")
    check_desk_payment(
        regie=regie,
        means=means,
        amount_cents=amount_cents,
        reference=reference,
        cheque_bank=cheque_bank,
        cesu_details=cesu_details,
    )
    paid_at = _paid_at(paid_on)
    with transaction.atomic():
        # One desk payment at a time per household: a double submission waits here, then finds the first.
        Household.objects.select_for_update().filter(pk=household.pk).first()
        existing = _already_recorded(household, idempotency_key)
        if existing is not None:
            existing.already_recorded = True
            return existing
        payment = Payment(
            regie=regie,
            household=household,
            means=means,
            amount_cents=amount_cents,
            status=PaymentStatus.PAID,
            label=DESK_LABELS[means],
            channel=Channel.STAFF,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            paid_at=paid_at,
            reference=reference,
            cheque_bank=cheque_bank,
            drawer=drawer,
            cesu_details=cesu_details,
            note=note,
        )
        give_receipt_number(payment)
        payment.save()
        after = snapshot(payment, RECORDED_FIELDS)
        if idempotency_key:
            after["idempotency_key"] = idempotency_key
        log_action(
            actor=actor,
            channel=Channel.STAFF,
            action="payment.recorded",
            obj=payment,
            household=household,
            after=after,
            message=(
                f"{DESK_LABELS[means]} de {format_euros(amount_cents)} enregistré à la régie « {regie.name} », "
                f"reçu n° {payment.receipt_number}."
            ),
        )
        if invoice_ids:
            allocate_desk_payment(payment, invoice_ids, actor=actor)
        if notify:  # False for the demo and imports: no receipt e-mail
            emails.send_receipt(payment)
    return payment


# --- credit handed back -----------------------------------------------------------------------------


def refund_credit(*, household: Household, regie: Regie, amount_cents: int, actor, reason: str, now=None) -> list:
    """Credit with the régie (trop-perçu, avoir) handed back to the family by a mandat of the
    ordonnateur: allocated as a "refund" from the oldest money first, so it is no longer spendable.
    Moves no money itself (the mandat does); audited. Refusals are PaymentErrors (French).
    Returns the allocations."""
    reason = _text(reason, 200, "Motif")
    if not reason:
        raise PaymentError("Indiquez le motif et la référence du mandat de remboursement.", code="reason_required")
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise PaymentError("Le montant à rembourser doit être supérieur à zéro.", code="bad_amount")
    now = now or timezone.now()
    with transaction.atomic():
        Household.objects.select_for_update().filter(pk=household.pk).first()  # one credit change at a time
        sources = services._credit_payments(household, regie)
        available = sum(left for _payment, left in sources)
        if amount_cents > available:
            raise PaymentError(
                f"Le crédit du foyer auprès de la {regie.name} est de {format_euros(available)} : "
                f"impossible de rembourser {format_euros(amount_cents)}.",
                code="not_enough_credit",
            )
        allocations = services.spend_credit(
            sources, [(amount_cents, {"kind": AllocationKind.REFUND, "label": f"Remboursement : {reason}"[:200]})], now
        )
        Allocation.objects.bulk_create(allocations)
        log_action(
            actor=actor,
            channel=Channel.STAFF,
            action="payment.credit_refunded",
            household=household,
            after={
                "regie": regie.pk,
                "amount_cents": amount_cents,
                "reason": reason,
                "payments": sorted({allocation.payment_id for allocation in allocations}),
            },
            message=f"Crédit remboursé : {format_euros(amount_cents)} ({regie.name}) – {reason}",
        )
    return allocations


# --- refund / cancellation ------------------------------------------------------------------------


def refund_payment(*, payment: Payment, actor, reason: str) -> Payment:
    """Record that a received payment is refunded or cancelled (a cheque returned unpaid, a
    trop-perçu refunded by mandat of the ordonnateur). Moves no money and keeps the receipt number."""
    reason = (reason or "").strip()
    if not reason:
        raise PaymentError("Indiquez le motif du remboursement ou de l'annulation.", code="reason_required")
    with transaction.atomic():
        locked = Payment.objects.select_for_update().select_related("regie", "household").get(pk=payment.pk)
        if locked.status != PaymentStatus.PAID:
            raise PaymentError(
                f"Seul un paiement payé peut être remboursé ou annulé (celui-ci est « {locked.get_status_display()} »).",
                code="not_paid",
            )
        before = snapshot(locked, REFUND_FIELDS)
        locked.status = PaymentStatus.REFUNDED
        locked.refunded_at = timezone.now()
        locked.refunded_by = actor if getattr(actor, "is_authenticated", False) else None
        locked.refund_reason = reason
        locked.save(update_fields=REFUND_FIELDS)
        log_action(
            actor=actor,
            channel=Channel.STAFF,
            action="payment.refunded",
            obj=locked,
            household=locked.household,
            before=before,
            after=snapshot(locked, REFUND_FIELDS),
            message=(
                f"Paiement de {format_euros(locked.amount_cents)} (reçu n° {locked.receipt_number or '—'}) "
                f"remboursé ou annulé : {reason}"
            ),
        )
    return locked


# --- incidents ------------------------------------------------------------------------------------


def resolve_incident(*, incident: PaymentIncident, actor, resolution: str) -> PaymentIncident:
    """Close a payment incident with what was done about it (never automatic)."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise PaymentError("Indiquez la suite donnée à l'incident.", code="resolution_required")
    with transaction.atomic():
        locked = PaymentIncident.objects.select_for_update().select_related("household").get(pk=incident.pk)
        if locked.resolved_at is not None:
            raise PaymentError("Cet incident est déjà traité.", code="already_resolved")
        before = snapshot(locked, INCIDENT_FIELDS)
        locked.resolved_at = timezone.now()
        locked.resolved_by = actor if getattr(actor, "is_authenticated", False) else None
        locked.resolution = resolution
        locked.save(update_fields=INCIDENT_FIELDS)
        log_action(
            actor=actor,
            channel=Channel.STAFF,
            action="payment_incident.resolved",
            obj=locked,
            household=locked.household,
            before=before,
            after=snapshot(locked, INCIDENT_FIELDS),
            message=f"Incident de paiement traité ({locked.get_kind_display()}) : {resolution}",
        )
    return locked


# --- régie settings -------------------------------------------------------------------------------

REGIE_FIELDS = [
    "name",
    "code",
    "is_active",
    "accepted_means",
    "backend",
    "test_mode",
    "lock_minutes",
    "hold_minutes",
    "receipt_prefix",
    "contact",
    "issuer_name",
    "issuer_quality",
    "sepa_creditor_name",
    "sepa_ics",
    "sepa_iban",
    "sepa_bic",
]
_SECRET_NAME = re.compile(r"secret|key|password|passwd|token|cle|mot_de_passe", re.IGNORECASE)
MASK = "********"


def _masked_options(options: dict, secret_names: set[str]) -> dict:
    return {
        name: MASK if (name in secret_names or _SECRET_NAME.search(name)) else value
        for name, value in (options or {}).items()
    }


def regie_snapshot(regie: Regie, secret_names: set[str]) -> dict:
    """The régie's settings for the journal; secret backend options are masked."""
    data = snapshot(regie, REGIE_FIELDS)
    data["backend_options"] = _masked_options(regie.backend_options, secret_names)
    data["activities"] = sorted(regie.activities.values_list("pk", flat=True)) if regie.pk else []
    data["cesu_accepted_for"] = sorted(regie.cesu_accepted_for.values_list("pk", flat=True)) if regie.pk else []
    return data


def save_regie(*, form, actor, secret_names: set[str] = frozenset()) -> Regie:
    """Save a validated régie form (staff_forms.RegieForm) with its journal entry.

    A changed secret shows as "******** (modifié)" in the journal, never its value."""
    instance = form.instance
    with transaction.atomic():
        created = instance._state.adding
        stored = None if created else Regie.objects.select_for_update().get(pk=instance.pk)
        before = {} if created else regie_snapshot(stored, secret_names)
        regie = form.save()
        after = regie_snapshot(regie, secret_names)
        if not created:
            for name, value in (regie.backend_options or {}).items():
                masked = after["backend_options"].get(name) == MASK
                if masked and (stored.backend_options or {}).get(name) != value:
                    after["backend_options"][name] = f"{MASK} (modifié)"
            before, after = changed_fields(before, after)
            if not after:
                return regie
        log_action(
            actor=actor,
            channel=Channel.STAFF,
            action="regie.created" if created else "regie.changed",
            obj=regie,
            before=before or None,
            after=after,
            message=f"Régie « {regie.name} » {'créée' if created else 'modifiée'}.",
        )
    return regie
