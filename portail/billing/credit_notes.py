"""Credit notes (avoirs): the only way to correct an issued invoice (PAYMENTS.md §4).

Rules:
- a credit note refers to one issued invoice and gives a reason (justified absence, billing error,
  cancelled booking…);
- it credits either an amount, or (part of) some of the invoice's lines, mirrored positively so the
  child and the tax-certificate eligibility stay known; a line is never credited beyond its amount;
- its total never exceeds what the invoice has not been credited yet (Σ earlier credit notes included),
  checked under the invoice's row lock so two agents cannot over-credit it together;
- an invoice transferred to the Trésor public is corrected by the ordonnateur (réduction ou annulation
  du titre), not by the régie: refused here;
- it is numbered in its own gapless series per régie and year (``A{code}{year}{n:06d}``), from the
  locked counter, in the transaction that issues it;
- its amount becomes the household's credit with the régie: a Payment of means "avoir", PAID, with no
  receipt number (no money was received). If the invoice still has an unpaid part, that payment is
  allocated to it up to what is due; the rest stays as credit, applied to the next invoice
  (invoicing._apply_credit) or refunded by a mandat of the ordonnateur;
- audited ("credit_note.issued"); the family is e-mailed after the commit.
"""

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from portail.catalog.wording import format_euros
from portail.core.audit import log_action
from portail.core.models import Channel
from portail.payments.models import Allocation, AllocationKind, Means, Payment, PaymentStatus

from .emails import send_credit_note_issued
from .errors import BillingError
from .invoicing import issuer_snapshot
from .models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, SeriesKind
from .numbering import next_number
from .selectors import invoice_due_cents


def _valid_cents(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BillingError("Le montant de l'avoir doit être supérieur à zéro.", code="bad_amount")
    return value


def credited_by_line(invoice) -> dict[int, int]:
    """{invoice line id: Σ already credited on it}."""
    return dict(
        CreditNoteLine.objects.filter(invoice_line__invoice=invoice)
        .order_by()
        .values("invoice_line")
        .annotate(total=Sum("amount_cents"))
        .values_list("invoice_line", "total")
    )


def creditable_cents(invoice) -> int:
    """What may still be credited on the invoice: its total − Σ its credit notes."""
    credited = CreditNote.objects.filter(invoice=invoice).aggregate(total=Sum("total_cents"))["total"] or 0
    return max(0, invoice.total_cents - credited)


def _requested_lines(invoice, lines) -> list[tuple[InvoiceLine, int]]:
    """[(line, cents)] from (line or line id, cents) pairs; merged per line; lines of this invoice only."""
    own = {line.pk: line for line in InvoiceLine.objects.filter(invoice=invoice)}
    wanted: dict[int, int] = {}
    for line, cents in lines:
        line_id = line.pk if isinstance(line, InvoiceLine) else int(line)
        if line_id not in own:
            raise BillingError("Cette ligne n'appartient pas à la facture.", code="foreign_line")
        wanted[line_id] = wanted.get(line_id, 0) + _valid_cents(cents)
    if not wanted:
        raise BillingError("Choisissez au moins une ligne à créditer.", code="no_line")
    return [(own[line_id], cents) for line_id, cents in wanted.items()]


def issue_credit_note(
    *,
    invoice: Invoice,
    reason: str,
    actor,
    lines=None,
    amount_cents: int | None = None,
    channel: str = Channel.STAFF,
) -> CreditNote:
    """Issue a credit note on `invoice`, for `lines` ([(invoice line or id, cents)]) or `amount_cents`.

    Raises BillingError (French message) when the rules refuse it (see the module docstring)."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError("Indiquez le motif de l'avoir.", code="reason_missing")
    if len(reason) > 2000:
        raise BillingError("Motif : 2 000 caractères au plus.", code="reason_too_long")
    if (lines is None) == (amount_cents is None):
        raise BillingError("Indiquez soit un montant, soit les lignes à créditer.", code="lines_or_amount")
    if amount_cents is not None:
        _valid_cents(amount_cents)

    with transaction.atomic():
        # One credit note at a time per invoice: the amounts left are recounted under this lock.
        invoice = (
            Invoice.objects.select_for_update(of=("self",), no_key=True)
            .select_related("regie__town", "household")
            .get(pk=invoice.pk)
        )
        if invoice.transferred_at is not None:
            raise BillingError(
                "Cette facture a été transmise au Trésor public : sa correction relève de l'ordonnateur "
                "(réduction ou annulation du titre), pas d'un avoir de la régie.",
                code="transferred",
            )
        left = creditable_cents(invoice)
        if lines is not None:
            requested = _requested_lines(invoice, lines)
            already = credited_by_line(invoice)
            for line, cents in requested:
                line_left = line.amount_cents - already.get(line.pk, 0)
                if cents > line_left:
                    raise BillingError(
                        f"La ligne « {line.label} » ne peut être créditée que de {format_euros(line_left)} au plus "
                        "(montant de la ligne moins les avoirs déjà faits).",
                        code="line_over_credit",
                    )
            total = sum(cents for _line, cents in requested)
        else:
            requested = []
            total = amount_cents
        if total > left:
            raise BillingError(
                f"L'avoir ne peut pas dépasser {format_euros(left)} : ce qui reste de la facture "
                f"{invoice.number} une fois déduits les avoirs déjà faits.",
                code="over_credit",
            )

        now = timezone.now()
        number = next_number(invoice.regie, timezone.localtime(now).year, SeriesKind.CREDIT_NOTE)
        user = actor if getattr(actor, "is_authenticated", False) else None
        payment = Payment.objects.create(
            regie=invoice.regie,
            household=invoice.household,
            means=Means.CREDIT_NOTE,
            amount_cents=total,
            status=PaymentStatus.PAID,
            label=f"Avoir {number}",
            channel=channel,
            created_by=user,
            paid_at=now,
            reference=invoice.number,
            note=reason,
        )
        credit_note = CreditNote.objects.create(
            regie=invoice.regie,
            household=invoice.household,
            invoice=invoice,
            number=number,
            issued_at=now,
            reason=reason,
            total_cents=total,
            payer=invoice.payer,
            issuer=issuer_snapshot(invoice.regie),
            payment=payment,
            created_by=user,
        )
        CreditNoteLine.objects.bulk_create(
            [
                CreditNoteLine(credit_note=credit_note, invoice_line=line, label=line.label, amount_cents=cents)
                for line, cents in requested
            ]
            or [
                CreditNoteLine(
                    credit_note=credit_note,
                    label=f"Avoir sur la facture {invoice.number} : {reason}"[:250],
                    amount_cents=total,
                )
            ]
        )
        due = invoice_due_cents(invoice)
        applied = min(due, total)
        if applied > 0:
            Allocation.objects.create(
                payment=payment,
                kind=AllocationKind.INVOICE,
                amount_cents=applied,
                label=f"Facture {invoice.number}",
                invoice=invoice,
            )
        log_action(
            actor=actor,
            channel=channel,
            action="credit_note.issued",
            obj=credit_note,
            household=invoice.household,
            after={
                "number": number,
                "invoice": invoice.number,
                "total_cents": total,
                "applied_to_invoice_cents": applied,
                "credit_left_cents": total - applied,
                "lines": [{"line": line.pk, "amount_cents": cents} for line, cents in requested],
            },
            message=reason,
        )
        send_credit_note_issued(credit_note)
    credit_note.applied_cents = applied
    return credit_note
