"""Reading invoices: what is paid and what is still due, for the family pages and the staff pages.

Amount due of an invoice = its total − Σ allocations to it from PAID payments (credit notes included:
a credit note is a Payment of means "avoir" allocated to the invoice it corrects). Money is integer cents.
"""

from django.db.models import F, IntegerField, OuterRef, Prefetch, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from portail.payments.models import Allocation, PaymentStatus

from .models import CreditNote, Invoice, InvoiceLine


def _paid_subquery(invoice_ref="pk") -> Coalesce:
    paid = (
        Allocation.objects.filter(invoice=OuterRef(invoice_ref), payment__status=PaymentStatus.PAID)
        .order_by()
        .values("invoice")
        .annotate(total=Sum("amount_cents"))
        .values("total")
    )
    return Coalesce(Subquery(paid, output_field=IntegerField()), Value(0))


def _credited_subquery(invoice_ref="pk") -> Coalesce:
    credited = (
        CreditNote.objects.filter(invoice=OuterRef(invoice_ref))
        .order_by()
        .values("invoice")
        .annotate(total=Sum("total_cents"))
        .values("total")
    )
    return Coalesce(Subquery(credited, output_field=IntegerField()), Value(0))


def with_amounts(queryset):
    """Annotate invoices with paid_cents, due_cents and credited_cents (one query for the whole list)."""
    return queryset.annotate(paid_cents=_paid_subquery(), credited_cents=_credited_subquery()).annotate(
        due_cents=F("total_cents") - F("paid_cents")
    )


def invoice_paid_cents(invoice) -> int:
    if hasattr(invoice, "paid_cents"):
        return invoice.paid_cents
    return (
        Allocation.objects.filter(invoice=invoice, payment__status=PaymentStatus.PAID).aggregate(
            total=Sum("amount_cents")
        )["total"]
        or 0
    )


def invoice_due_cents(invoice) -> int:
    """What is still to pay on the invoice (0 when fully paid; never negative)."""
    if hasattr(invoice, "due_cents"):
        return max(0, invoice.due_cents)
    return max(0, invoice.total_cents - invoice_paid_cents(invoice))


def invoice_credited_cents(invoice) -> int:
    """The sum of the credit notes already issued against the invoice."""
    if hasattr(invoice, "credited_cents"):
        return invoice.credited_cents
    return CreditNote.objects.filter(invoice=invoice).aggregate(total=Sum("total_cents"))["total"] or 0


def household_invoices(household, *, regie=None):
    """The household's invoices, newest first, annotated with paid_cents, due_cents, credited_cents
    (one query when iterated)."""
    invoices = Invoice.objects.filter(household=household).select_related("regie")
    if regie is not None:
        invoices = invoices.filter(regie=regie)
    return with_amounts(invoices).order_by("-issued_at", "-number")


def household_due_cents(household, *, regie=None) -> int:
    """Σ due of the household's invoices still payable at the régie (not transferred to the Trésor)."""
    invoices = household_invoices(household, regie=regie).filter(transferred_at__isnull=True)
    return sum(max(0, invoice.due_cents) for invoice in invoices)


def _lines_and_paid_allocations() -> tuple[Prefetch, Prefetch]:
    """The invoice page's prefetches: its lines, and its allocations from PAID payments as
    `paid_allocations`."""
    return (
        Prefetch("lines", queryset=InvoiceLine.objects.order_by("child_name", "service_date", "pk")),
        Prefetch(
            "allocations",
            queryset=Allocation.objects.filter(payment__status=PaymentStatus.PAID)
            .select_related("payment")
            .order_by("pk"),
            to_attr="paid_allocations",
        ),
    )


def invoice_for_household(household, invoice_id) -> Invoice:
    """One of the household's own invoices with its lines, allocations and credit notes (3 queries after
    the first); another household's id (or an unknown one) raises Http404."""
    invoice = (
        with_amounts(Invoice.objects.filter(household=household, pk=invoice_id))
        .select_related("regie", "household")
        .prefetch_related(
            *_lines_and_paid_allocations(),
            Prefetch("credit_notes", queryset=CreditNote.objects.order_by("issued_at", "pk")),
        )
        .first()
    )
    if invoice is None:
        raise Http404("Facture introuvable")
    return invoice


def staff_invoice(invoice_id) -> Invoice:
    """Any invoice, for staff (Http404 when unknown), with the same prefetches as invoice_for_household."""
    invoice = (
        with_amounts(Invoice.objects.filter(pk=invoice_id))
        .select_related("regie", "household", "run")
        .prefetch_related(
            *_lines_and_paid_allocations(),
            Prefetch(
                "credit_notes",
                queryset=CreditNote.objects.select_related("created_by")
                .prefetch_related("lines")
                .order_by("issued_at", "pk"),
            ),
        )
        .first()
    )
    if invoice is None:
        raise Http404("Facture introuvable")
    return invoice
