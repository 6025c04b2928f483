"""What happens to a SEPA direct debit after its file is made (billing.sepa.generate_collection).

- **Submitted**: the invoice is in no other file and the family cannot pay it online nor with its
  credit ("Prélèvement prévu le JJ/MM/AAAA"): otherwise it could be paid twice, once by the bank.
- **Collected** (`mark_batch_collected`, staff, on or after the collection date): one Payment of
  means "sepa" per submitted debit, PAID, numbered (receipt), allocated to its invoice (what the
  invoice no longer owes stays as credit, with an incident: invoice_payment.settle_invoices).
- **Rejected** (`reject_debit`, staff, before or after "collected": a R-transaction such as AM04,
  AC04, MD01): the invoice is due again (a collected debit's payment is cancelled through
  offline.refund_payment, so its allocation no longer counts), an incident asks the régisseur to
  follow up, and a rejected FRST leaves the mandate at FRST for its next file (EPC rule).

One transaction per action, every change audited (log_action, channel "la Mairie").
"""

from django.db import transaction
from django.utils import timezone

from portail.catalog.wording import format_euros
from portail.core.audit import log_action, snapshot
from portail.core.models import Channel

from . import emails, invoice_payment, offline, services
from .errors import PaymentError
from .models import (
    DebitBatchStatus,
    DebitSequence,
    DebitStatus,
    DirectDebit,
    DirectDebitBatch,
    IncidentKind,
    Means,
    Payment,
    PaymentIncident,
    PaymentStatus,
)
from .receipts import give_receipt_number

DEBIT_FIELDS = ["status", "rejected_at", "rejection_reason", "payment"]


def scheduled_debits(invoice_ids) -> dict[int, DirectDebit]:
    """{invoice id: its submitted debit (with its batch)} for these invoices (one query)."""
    ids = list(invoice_ids)
    if not ids:
        return {}
    debits = DirectDebit.objects.filter(invoice_id__in=ids, status=DebitStatus.SUBMITTED).select_related("batch")
    return {debit.invoice_id: debit for debit in debits}


def scheduled_message(invoice, debit) -> str:
    return (
        f"La facture n° {invoice.number} sera prélevée le {debit.batch.collection_date:%d/%m/%Y} sur votre compte "
        "(prélèvement SEPA) : elle ne peut pas être payée en ligne ni avec votre crédit. Si le prélèvement est "
        "rejeté, elle redeviendra payable ici."
    )


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


# --- collected ------------------------------------------------------------------------------------


def mark_batch_collected(*, batch, actor, now=None) -> list[Payment]:
    """The bank credited the régie: each submitted debit of the batch becomes a PAID payment allocated
    to its invoice. Refused before the collection date and for a batch already collected."""
    now = now or timezone.now()
    with transaction.atomic():
        batch = DirectDebitBatch.objects.select_for_update(of=("self",)).select_related("regie").get(pk=batch.pk)
        if batch.status != DebitBatchStatus.SUBMITTED:
            raise PaymentError("Ce fichier de prélèvement est déjà marqué encaissé.", code="already_collected")
        if batch.collection_date > timezone.localdate(now):
            raise PaymentError(
                f"Le prélèvement est prévu le {batch.collection_date:%d/%m/%Y} : il ne peut être marqué encaissé "
                "qu'à partir de cette date.",
                code="too_early",
            )
        debits = list(
            DirectDebit.objects.select_for_update(of=("self",))
            .filter(batch=batch, status=DebitStatus.SUBMITTED)
            .select_related("invoice__household", "mandate")
            .order_by("pk")
        )
        # Money received on the collection date (noon if it is an earlier day): the receipt's year too.
        paid_at = offline._paid_at(batch.collection_date)
        payments = []
        for debit in debits:
            payments.append(_collect(batch, debit, actor=actor, now=now, paid_at=paid_at))
        before = snapshot(batch, ["status", "collected_at", "collected_by"])
        batch.status = DebitBatchStatus.COLLECTED
        batch.collected_at = now
        batch.collected_by = _user(actor)
        batch.save(update_fields=["status", "collected_at", "collected_by"])
        log_action(
            actor=actor,
            channel=Channel.STAFF,
            action="sepa.batch_collected",
            obj=batch,
            before=before,
            after={
                **snapshot(batch, ["status", "collected_at", "collected_by"]),
                "payments": [payment.pk for payment in payments],
                "collected_cents": sum(payment.amount_cents for payment in payments),
            },
            message=(
                f"Prélèvement du {batch.collection_date:%d/%m/%Y} encaissé : {len(payments)} paiement(s), "
                f"{format_euros(sum(payment.amount_cents for payment in payments))}."
            ),
        )
    return payments


def _collect(batch, debit, *, actor, now, paid_at) -> Payment:
    invoice = debit.invoice
    payment = Payment(
        regie=batch.regie,
        household=invoice.household,
        means=Means.DIRECT_DEBIT,
        amount_cents=debit.amount_cents,
        status=PaymentStatus.PAID,
        label=f"Prélèvement SEPA – facture n° {invoice.number}"[:200],
        channel=Channel.STAFF,
        created_by=_user(actor),
        created_at=now,
        paid_at=paid_at,
        reference=debit.end_to_end_id,
        drawer=debit.mandate.debtor_name[:150],
        note=f"Fichier {batch.message_id}, mandat {debit.mandate.rum} ({debit.sequence}).",
    )
    give_receipt_number(payment)
    payment.save()
    # The shared allocation helpers: spend the new payment on the invoice, then keep it within what the
    # invoice still owes (paid meanwhile at the desk: the rest is credit and an incident).
    allocations = services.spend_credit(
        [(payment, payment.amount_cents)],
        invoice_payment.invoice_dues([invoice], {invoice.pk: debit.amount_cents}, " (prélèvement)"),
        now,
    )
    for allocation in allocations:
        allocation.save()
    invoice_payment.settle_invoices(payment, None, now)
    before = snapshot(debit, DEBIT_FIELDS)
    debit.status = DebitStatus.COLLECTED
    debit.payment = payment
    debit.save(update_fields=["status", "payment"])
    log_action(
        actor=actor,
        channel=Channel.STAFF,
        action="sepa.debit_collected",
        obj=debit,
        household=invoice.household,
        before=before,
        after={**snapshot(debit, DEBIT_FIELDS), "receipt": payment.receipt_number},
        message=(
            f"Prélèvement de {format_euros(payment.amount_cents)} encaissé pour la facture n° {invoice.number}, "
            f"reçu n° {payment.receipt_number}."
        ),
    )
    emails.send_receipt(payment)
    return payment


# --- rejected -------------------------------------------------------------------------------------


def reject_debit(*, debit, actor, reason: str, now=None) -> DirectDebit:
    """The bank rejected or returned this debit (`reason`: its code and wording, e.g. "AM04 provision
    insuffisante"). The invoice is due again; see the module docstring."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise PaymentError("Indiquez le motif du rejet (code et libellé donnés par la banque).", code="reason_required")
    if len(reason) > 200:
        raise PaymentError("Motif du rejet : 200 caractères au plus.", code="too_long")
    now = now or timezone.now()
    with transaction.atomic():
        debit = (
            DirectDebit.objects.select_for_update(of=("self",))
            .select_related("batch__regie", "invoice__household", "mandate", "payment")
            .get(pk=debit.pk)
        )
        if debit.status == DebitStatus.REJECTED:
            raise PaymentError("Ce prélèvement est déjà enregistré comme rejeté.", code="already_rejected")
        invoice, mandate = debit.invoice, debit.mandate
        before = snapshot(debit, DEBIT_FIELDS)
        if debit.status == DebitStatus.COLLECTED and debit.payment is not None:
            if debit.payment.status == PaymentStatus.PAID:
                # Returned after it was collected: the payment no longer counts, the invoice is due again.
                offline.refund_payment(
                    payment=debit.payment, actor=actor, reason=f"Prélèvement rejeté par la banque : {reason}"
                )
        debit.status = DebitStatus.REJECTED
        debit.rejected_at = now
        debit.rejection_reason = reason
        debit.save(update_fields=["status", "rejected_at", "rejection_reason"])
        sequence_note = ""
        if debit.sequence == DebitSequence.FIRST:
            used = (
                DirectDebit.objects.filter(mandate=mandate)
                .exclude(pk=debit.pk)
                .exclude(status=DebitStatus.REJECTED)
                .exists()
            )
            if not used:
                # EPC: after a rejected first debit the next one is FRST again (sequence = FRST while
                # the mandate has never been collected).
                type(mandate).objects.filter(pk=mandate.pk).update(last_collected_on=None)
                sequence_note = " Le prochain prélèvement de ce mandat sera de nouveau un premier prélèvement (FRST)."
        PaymentIncident.objects.create(
            kind=IncidentKind.DIRECT_DEBIT_REJECTED,
            regie=debit.batch.regie,
            household=invoice.household,
            payment=debit.payment,
            details=(
                f"Prélèvement de {format_euros(debit.amount_cents)} de la facture n° {invoice.number} (mandat "
                f"{mandate.rum}, fichier du {debit.batch.collection_date:%d/%m/%Y}) rejeté : {reason}. "
                "La facture est de nouveau à payer : prévenez la famille." + sequence_note
            ),
            created_at=now,
        )
        log_action(
            actor=actor,
            channel=Channel.STAFF,
            action="sepa.debit_rejected",
            obj=debit,
            household=invoice.household,
            before=before,
            after=snapshot(debit, DEBIT_FIELDS),
            message=f"Prélèvement de la facture n° {invoice.number} rejeté : {reason}.{sequence_note}",
        )
    return debit
