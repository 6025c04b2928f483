"""Paying invoices ("Factures" → "Payer la sélection", "Payer avec mon crédit").

One online payment may settle several invoices of the same régie (one bank account per régie): it
carries one allocation per invoice for the amount due. The allocations of a pending payment do not
count as paid (only PAID payments do), and a failed payment's allocations are ignored the same way
(portail.billing.selectors), so nothing here has to be undone when the bank refuses:
services._fail_attempt closes the payment and the invoices are due again. Only the verified
notification (services._settle_paid) makes it PAID; `settle_invoices` then keeps its allocations
within what each invoice still owes (an invoice paid meanwhile at the desk: the rest is credit).

Rules (PAYMENTS.md §3.1, §3.3, §4):
- only the household's own invoices (another household's id is refused, never revealed);
- an invoice transferred to the Trésor public (transferred_at) is no longer paid at the régie;
- no double payment: while an INVOICES attempt of the household covering one of these invoices is
  pending within the régie's lock time, a new attempt is refused with the time to wait;
- an invoice in a submitted SEPA direct debit (portail.payments.direct_debits) is paid by the bank on
  the collection date: neither online nor with the credit until the debit is rejected;
- the invoices' rows are locked (select_for_update, id order) while the payment is created;
- PayFiP refdet (`attempt_reference`): the invoice number when ONE invoice is paid; a retry of the
  same invoice (after a refusal or an abandon) sends the number with a suffix, "R2", "R3"… (the
  attempt reference is unique, and PayFiP itself keeps a used refdet in "mise en sécurité" for
  20–30 minutes); the comptable still reads the invoice number at the start of the refdet. Several
  invoices: our generated reference (services.new_reference). Always 6–30 letters or digits.
"""

import re

from django.db.models import Sum
from django.utils import timezone

from portail.catalog.wording import format_euros
from portail.core.audit import log_action
from portail.core.models import Channel

from . import services
from .errors import PaymentError
from .models import (
    OPEN_STATUSES,
    Allocation,
    AllocationKind,
    AttemptPurpose,
    IncidentKind,
    PaymentAttempt,
    PaymentIncident,
    PaymentStatus,
    Regie,
)

# More invoices than a family ever selects; keeps the locked set and the bank label small.
MAX_INVOICES = 50
REFDET_RE = re.compile(r"^[A-Za-z0-9]{6,30}$")


def _invoice_model():
    from portail.billing.models import Invoice

    return Invoice


# --- Reading what is due ----------------------------------------------------------------------------


def due_cents_by_invoice(invoices) -> dict[int, int]:
    """{invoice id: amount still due} (billing.selectors: total − allocations of PAID payments, never
    below zero), one query for all."""
    from portail.billing.selectors import invoice_due_cents, with_amounts

    ids = [invoice.pk for invoice in invoices]
    if not ids:
        return {}
    return {
        invoice.pk: invoice_due_cents(invoice) for invoice in with_amounts(_invoice_model().objects.filter(pk__in=ids))
    }


def open_invoices_attempts(invoice_ids, now):
    """The INVOICES attempts, of any household, on any of these invoices still pending within their
    lock time (a SEPA file refuses those invoices too: billing.sepa)."""
    return PaymentAttempt.objects.filter(
        purpose=AttemptPurpose.INVOICES,
        status__in=OPEN_STATUSES,
        lock_until__gt=now,
        payment__allocations__kind=AllocationKind.INVOICE,
        payment__allocations__invoice_id__in=list(invoice_ids),
    )


def open_invoices_attempt(household, invoice_ids, now=None) -> PaymentAttempt | None:
    """The INVOICES attempt of the household still blocking a new one on any of these invoices
    (pending and within its lock time), if any."""
    now = now or timezone.now()
    ids = list(invoice_ids)
    if not ids:
        return None
    return open_invoices_attempts(ids, now).filter(household=household).order_by("-created_at", "-pk").first()


def wait_message(attempt, now, count=2) -> str:
    """services._wait_message, about invoices ("mise en sécurité")."""
    return services._wait_message(attempt, now, what="cette facture" if count == 1 else "ces factures")


def payment_label(invoices) -> str:
    """ "Facture n° FENF2026000123" or "Factures n° FENF2026000123, FENF2026000124"."""
    numbers = [invoice.number for invoice in invoices]
    if len(numbers) == 1:
        return f"Facture n° {numbers[0]}"
    label = f"Factures n° {', '.join(numbers)}"
    if len(label) > 200:
        label = f"{len(numbers)} factures (n° {numbers[0]} à {numbers[-1]})"
    return label[:200]


def invoice_dues(invoices, amounts: dict[int, int], note: str = "") -> list[tuple[int, dict]]:
    """services.spend_credit's dues paying each invoice `amounts[invoice.pk]`, labelled
    "Facture n° …" + `note`."""
    return [
        (
            amounts[invoice.pk],
            {"kind": AllocationKind.INVOICE, "label": f"Facture n° {invoice.number}{note}"[:200], "invoice": invoice},
        )
        for invoice in invoices
    ]


def _ids(invoice_ids) -> list[int]:
    ids = set()
    for value in invoice_ids or []:
        try:
            ids.add(int(value))
        except (TypeError, ValueError):
            raise PaymentError("Facture introuvable dans votre dossier.", code="not_yours") from None
    if not ids:
        raise PaymentError("Cochez au moins une facture à payer.", code="nothing_to_pay")
    if len(ids) > MAX_INVOICES:
        raise PaymentError(
            f"Vous pouvez payer au plus {MAX_INVOICES} factures à la fois : payez-les en plusieurs fois.",
            code="too_many",
        )
    return sorted(ids)


def _checked_invoices(household, invoice_ids, now, *, locked_message: str = ""):
    """The household's invoices, rows locked in id order, each payable; (invoices, dues, régie).

    Inside a transaction. Refusals are PaymentErrors naming the invoice; an online payment of these
    invoices in progress is refused with `locked_message` (default: the time to wait)."""
    Invoice = _invoice_model()
    ids = _ids(invoice_ids)
    # Lock in id order (two payments never deadlock); another household's invoice is not even locked.
    invoices = list(Invoice.objects.select_for_update().filter(household=household, pk__in=ids).order_by("pk"))
    if len(invoices) != len(ids):
        raise PaymentError("Facture introuvable dans votre dossier.", code="not_yours")
    for invoice in invoices:
        if invoice.transferred_at is not None:
            raise PaymentError(
                f"La facture n° {invoice.number} a été transmise au Trésor public pour recouvrement : elle ne "
                "peut plus être payée à la régie. Réglez-la auprès du Trésor public, avec les références de "
                "l'avis des sommes à payer que vous recevez.",
                code="transferred",
            )
    regie_ids = {invoice.regie_id for invoice in invoices}
    if len(regie_ids) > 1:
        raise PaymentError(
            "Ces factures dépendent de régies différentes (un compte bancaire par régie) : "
            "payez-les séparément, une régie à la fois.",
            code="several_regies",
        )
    dues = due_cents_by_invoice(invoices)
    for invoice in invoices:
        if dues[invoice.pk] <= 0:
            raise PaymentError(f"La facture n° {invoice.number} est déjà payée.", code="already_paid")
    from .direct_debits import scheduled_debits, scheduled_message  # it imports this module

    scheduled = scheduled_debits(ids)
    for invoice in invoices:
        if invoice.pk in scheduled:
            raise PaymentError(scheduled_message(invoice, scheduled[invoice.pk]), code="direct_debit")
    blocking = open_invoices_attempt(household, ids, now)
    if blocking is not None:
        raise PaymentError(locked_message or wait_message(blocking, now, len(invoices)), code="locked")
    regie = Regie.objects.select_related("town").get(pk=regie_ids.pop())
    return invoices, dues, regie


def attempt_reference(regie, invoices) -> str:
    """The reference (PayFiP refdet) of a new attempt on `invoices` (module docstring): the invoice
    number, then number + "R2", "R3"… on retries; our generated reference for several invoices or
    when the number cannot serve. Inside the transaction holding the invoices' row locks (two
    attempts on the same invoice are serialised; the unique constraint is the safety net)."""
    if len(invoices) == 1 and REFDET_RE.match(invoices[0].number or ""):
        number = invoices[0].number
        used = set(PaymentAttempt.objects.filter(reference__startswith=number).values_list("reference", flat=True))
        for retry in range(1, 100):
            candidate = number if retry == 1 else f"{number}R{retry}"
            if not REFDET_RE.match(candidate):
                break  # 30 characters at most: fall back to a generated reference
            if candidate not in used:
                return candidate
    return services.new_reference(regie)


# --- Paying online ----------------------------------------------------------------------------------


def start_invoices_payment(*, household, invoice_ids, actor, absolute_url, channel=Channel.WEB, now=None):
    """ "Payer la sélection": one payment for the selected invoices, then the régie's bank.
    Returns services.Started (the view sends the family to the bank with views_payments.to_bank).

    The payment, one allocation per invoice for its amount due and the attempt are created in one
    transaction holding the invoices' row locks; the bank is called after it (no lock held during
    the network call). Nothing counts as paid until the verified notification says PAID.
    """
    now = now or timezone.now()
    with services._capacity_transaction():
        invoices, dues, regie = _checked_invoices(household, invoice_ids, now)
        if not regie.is_active or not regie.accepts_online:
            raise PaymentError(
                f"Le paiement en ligne n'est pas ouvert pour les factures de la {regie.name} : "
                "réglez-les au guichet de la régie (chèque, espèces…).",
                code="no_online",
            )
        amount = sum(dues[invoice.pk] for invoice in invoices)
        label = payment_label(invoices)
        payment = services.create_online_payment(
            regie=regie, household=household, amount_cents=amount, label=label, channel=channel, actor=actor, now=now
        )
        Allocation.objects.bulk_create(
            Allocation(
                payment=payment,
                kind=AllocationKind.INVOICE,
                amount_cents=dues[invoice.pk],
                label=f"Facture n° {invoice.number}"[:200],
                invoice=invoice,
                created_at=now,
            )
            for invoice in invoices
        )
        attempt = services.new_attempt(
            payment, AttemptPurpose.INVOICES, actor, now, reference=attempt_reference(regie, invoices)
        )
        log_action(
            actor=actor,
            channel=channel,
            action="payment.started",
            obj=payment,
            household=household,
            after={
                "amount_cents": amount,
                "attempt": attempt.reference,
                "invoices": [invoice.pk for invoice in invoices],
            },
            message=f"Paiement en ligne de {format_euros(amount)} envoyé à la banque ({label}).",
        )
    return services.call_bank(attempt, absolute_url, household)


# --- Paying with the household's credit ---------------------------------------------------------------


def pay_invoices_with_credit(*, household, invoice_ids, actor, channel=Channel.WEB, now=None) -> list:
    """ "Payer avec mon crédit": the selected invoices are paid at once from money already received
    by their régie (prépaiement, avoir), allocated from the oldest payments first. All or nothing.
    Returns the invoices paid."""
    now = now or timezone.now()
    with services._capacity_transaction():
        invoices, dues, regie = _checked_invoices(
            household,
            invoice_ids,
            now,
            locked_message="Un paiement en ligne de ces factures est en cours : attendez sa réponse avant "
            "d'utiliser votre crédit.",
        )
        sources = services._credit_payments(household, regie)
        needed = sum(dues[invoice.pk] for invoice in invoices)
        available = sum(left for _payment, left in sources)
        if available < needed:
            raise PaymentError(
                f"Votre crédit auprès de la {regie.name} ({format_euros(available)}) ne couvre pas ces factures "
                f"({format_euros(needed)}) : payez-les en ligne ou au guichet.",
                code="not_enough_credit",
            )
        allocations = services.spend_credit(sources, invoice_dues(invoices, dues, " (crédit)"), now)
        Allocation.objects.bulk_create(allocations)
        log_action(
            actor=actor,
            channel=channel,
            action="payment.credit_used",
            household=household,
            after={
                "amount_cents": needed,
                "invoices": [invoice.pk for invoice in invoices],
                "regie": regie.pk,
                "payments": sorted({allocation.payment_id for allocation in allocations}),
            },
            message=f"Crédit utilisé : {format_euros(needed)} ({payment_label(invoices)}, {regie.name}).",
        )
    return invoices


# --- The bank said PAID ---------------------------------------------------------------------------------


def settle_invoices(payment, attempt, now) -> int:
    """Keep a PAID payment's invoice allocations within what each invoice still owes (inside the
    transaction holding the attempt's row lock, after the payment was marked PAID).

    An invoice may have been paid meanwhile: at the desk while the family was at the bank, or by a
    second attempt after this one was given up (then this PAID comes late). The part of an allocation
    beyond what the invoice still owes counting the other PAID payments, and the whole allocation of
    an invoice transferred to the Trésor public meanwhile, is taken off: that money stays on the
    household's account as credit (paid − allocated) and a régisseur gets an incident. Idempotent.
    Returns the cents moved to credit.
    """
    allocations = list(payment.allocations.filter(kind=AllocationKind.INVOICE).order_by("pk"))
    if not allocations:
        return 0
    Invoice = _invoice_model()
    invoices = {
        invoice.pk: invoice
        for invoice in Invoice.objects.select_for_update()
        .filter(pk__in={allocation.invoice_id for allocation in allocations})
        .order_by("pk")
    }
    others = dict(
        Allocation.objects.filter(
            kind=AllocationKind.INVOICE, invoice_id__in=list(invoices), payment__status=PaymentStatus.PAID
        )
        .exclude(payment=payment)
        .values("invoice_id")
        .annotate(total=Sum("amount_cents"))
        .values_list("invoice_id", "total")
    )
    kept: dict[int, int] = {}
    moved, notes = 0, []
    for allocation in allocations:
        invoice = invoices[allocation.invoice_id]
        if invoice.transferred_at is not None and invoice.transferred_at <= now:
            room = 0
            why = "transmise au Trésor public"
        else:
            room = max(0, invoice.total_cents - others.get(invoice.pk, 0) - kept.get(invoice.pk, 0))
            why = "déjà payée par ailleurs"
        if allocation.amount_cents <= room:
            kept[invoice.pk] = kept.get(invoice.pk, 0) + allocation.amount_cents
            continue
        excess = allocation.amount_cents - room
        moved += excess
        notes.append(f"facture n° {invoice.number} {why} ({format_euros(excess)})")
        if room == 0:
            allocation.delete()
        else:
            allocation.amount_cents = room
            allocation.save(update_fields=["amount_cents"])
            kept[invoice.pk] = kept.get(invoice.pk, 0) + room
    if moved:
        PaymentIncident.objects.create(
            kind=IncidentKind.PAID_AFTER_FAILURE,
            regie=payment.regie,
            household=payment.household,
            payment=payment,
            attempt=attempt,
            details=(
                f"Paiement {attempt.reference if attempt else payment.pk} confirmé par la banque, mais "
                + " ; ".join(notes)
                + f" : {format_euros(moved)} restent en crédit sur le compte de la famille."
            ),
            created_at=now,
        )
        log_action(
            actor=None,
            channel=Channel.SYSTEM,
            action="payment.invoice_overpaid",
            obj=payment,
            household=payment.household,
            after={"credit_cents": moved},
            message=f"Paiement reçu pour des factures déjà réglées : {format_euros(moved)} mis en crédit.",
        )
    return moved


# --- A payment at the desk for chosen invoices ------------------------------------------------------------


def allocate_desk_payment(payment, invoice_ids, *, actor, now=None) -> list:
    """The régisseur received `payment` (a cheque, cash…) for these invoices: it pays them, oldest issued
    first, as far as it goes (the last one may stay partly due); what is left over stays the household's
    credit. Inside the transaction that recorded the payment. Refusals are PaymentErrors (French).
    Returns the allocations."""
    now = now or timezone.now()
    invoices, dues, regie = _checked_invoices(
        payment.household,
        invoice_ids,
        now,
        locked_message="Un paiement en ligne de ces factures est en cours : attendez la réponse de la banque "
        "(quelques minutes) avant d'enregistrer ce règlement sur ces factures.",
    )
    if regie.pk != payment.regie_id:
        raise PaymentError(
            f"Ces factures sont à payer à la {regie.name} : enregistrez le paiement sur cette régie.",
            code="other_regie",
        )
    invoices.sort(key=lambda invoice: (invoice.issued_at, invoice.pk))
    allocations = services.spend_credit([(payment, payment.amount_cents)], invoice_dues(invoices, dues), now)
    Allocation.objects.bulk_create(allocations)
    allocated = sum(allocation.amount_cents for allocation in allocations)
    log_action(
        actor=actor,
        channel=Channel.STAFF,
        action="payment.allocated",
        obj=payment,
        household=payment.household,
        after={
            "invoices": {allocation.invoice.number: allocation.amount_cents for allocation in allocations},
            "credit_left_cents": payment.amount_cents - allocated,
        },
        message=(
            f"Reçu n° {payment.receipt_number} affecté à {payment_label([a.invoice for a in allocations])} "
            f"({format_euros(allocated)})"
            + (
                f", {format_euros(payment.amount_cents - allocated)} en crédit."
                if allocated < payment.amount_cents
                else "."
            )
        ),
    )
    return allocations
