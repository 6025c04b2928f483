"""Invoices built directly with the ORM for the family "Factures" tests (the issuing run is not
needed to read, pay, print or mail an invoice)."""

import datetime as dt
import itertools

from django.utils import timezone

from portail.billing.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, LineKind
from portail.payments.models import Allocation, AllocationKind, Means, Payment, PaymentStatus, Regie
from tests.factories import TownFactory

_numbers = itertools.count(1)


def make_regie(*, code="ENF", backend="dummy", lock_minutes=30, town=None, **kwargs) -> Regie:
    """A régie taking online payments through the demo bank (dummy backend by default)."""
    options = {"tipi": {"numcli": "123456"}, "payfip_ws": {"numcli": "654321"}}.get(backend, {})
    return Regie.objects.create(
        town=town
        or TownFactory(name="Ville-sur-Test", address="1 place de la Mairie", postcode="75001", city="Ville-sur-Test"),
        name=kwargs.pop("name", "Régie Enfance"),
        code=code,
        accepted_means=kwargs.pop("accepted_means", [Means.ONLINE, Means.CHEQUE, Means.CASH]),
        backend=backend,
        backend_options=kwargs.pop("backend_options", options),
        test_mode=True,
        lock_minutes=lock_minutes,
        hold_minutes=15,
        contact=kwargs.pop("contact", "Mme Dupont, régisseuse – 01 23 45 67 80"),
        **kwargs,
    )


def payer_snapshot(household) -> dict:
    """What the issuing run copies (billing.invoicing.payer_snapshot)."""
    from portail.billing.invoicing import payer_snapshot as issuing_payer_snapshot

    return issuing_payer_snapshot(household, list(household.guardians.order_by("pk")))


def issuer_snapshot(regie) -> dict:
    """What the issuing run copies (billing.invoicing.issuer_snapshot), plus the ordonnateur's name
    and quality (PAYMENTS.md §3.2) that the PDF prints when the snapshot carries them."""
    from portail.billing.invoicing import issuer_snapshot as issuing_issuer_snapshot

    return {**issuing_issuer_snapshot(regie), "issuer_name": "Jean Dupont", "issuer_quality": "Maire, ordonnateur"}


def make_invoice(
    household,
    regie,
    *,
    lines=None,
    number=None,
    month=dt.date(2026, 10, 1),
    issued_at=None,
    due_date=None,
    transferred_at=None,
    activity=None,
) -> Invoice:
    """An issued invoice with its lines: `lines` = [(child, label, quantity, unit price cents), …]
    (default: two lines for one child), all of `activity` when given."""
    issued_at = issued_at or timezone.now() - dt.timedelta(days=3)
    due_date = due_date or timezone.localdate() + dt.timedelta(days=20)
    if lines is None:
        child = household.children.order_by("pk").first()
        lines = [(child, "Restauration scolaire", 4, 350), (child, "Accueil du soir", 2, 250)]
    total = sum(quantity * unit for _child, _label, quantity, unit in lines)
    invoice = Invoice.objects.create(
        regie=regie,
        household=household,
        number=number or f"F{regie.code}2026{next(_numbers):06d}",
        month=month,
        issued_at=issued_at,
        due_date=due_date,
        payer=payer_snapshot(household),
        issuer=issuer_snapshot(regie),
        total_cents=total,
        transferred_at=transferred_at,
    )
    for day, (child, label, quantity, unit) in enumerate(lines, start=1):
        InvoiceLine.objects.create(
            invoice=invoice,
            kind=LineKind.BOOKING if quantity == 1 else LineKind.MANUAL,
            child=child,
            activity=activity,
            child_name=f"{child.first_name} {child.last_name}" if child else "",
            label=label,
            service_date=month.replace(day=min(day, 28)) if month else None,
            quantity=quantity,
            unit_price_cents=unit,
            amount_cents=quantity * unit,
        )
    return invoice


def make_paid_payment(household, regie, amount_cents, *, means=Means.CHEQUE, paid_at=None, **kwargs) -> Payment:
    """Money received by the régie (numbered), not allocated yet: the household's credit."""
    paid_at = paid_at or timezone.now() - dt.timedelta(days=10)
    return Payment.objects.create(
        regie=regie,
        household=household,
        means=means,
        amount_cents=amount_cents,
        status=PaymentStatus.PAID,
        label=kwargs.pop("label", "Paiement au guichet"),
        channel="staff",
        created_at=paid_at,
        paid_at=paid_at,
        receipt_number=kwargs.pop("receipt_number", f"R{regie.code}2026{next(_numbers):06d}"),
        **kwargs,
    )


def pay_invoice_at_desk(invoice, amount_cents=None, **kwargs) -> Payment:
    """A desk payment (cheque by default) allocated to the invoice."""
    amount = amount_cents or invoice.total_cents
    payment = make_paid_payment(invoice.household, invoice.regie, amount, **kwargs)
    Allocation.objects.create(
        payment=payment,
        kind=AllocationKind.INVOICE,
        amount_cents=amount,
        label=f"Facture n° {invoice.number}",
        invoice=invoice,
    )
    return payment


def make_credit_note(invoice, amount_cents, *, reason="Absence justifiée (certificat médical)") -> CreditNote:
    credit_note = CreditNote.objects.create(
        regie=invoice.regie,
        household=invoice.household,
        invoice=invoice,
        number=f"A{invoice.regie.code}2026{next(_numbers):06d}",
        issued_at=timezone.now(),
        reason=reason,
        total_cents=amount_cents,
        payer=invoice.payer,
        issuer=invoice.issuer,
    )
    line = invoice.lines.order_by("pk").first()
    CreditNoteLine.objects.create(
        credit_note=credit_note, invoice_line=line, label=line.label if line else reason, amount_cents=amount_cents
    )
    return credit_note
