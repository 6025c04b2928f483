"""The staff payment list and the régie journal as CSV (Excel FR: UTF-8 with BOM, ";" separator,
formula injection neutralised, as portail/enrolments/exports.py).

The list shows every payment (online ones still at the bank too); the journal only the money
received: numbered payments (paid, or refunded later), in receipt order.
"""

import csv
import io
from datetime import date

from django.db.models import Prefetch, Q, Sum
from django.utils import timezone

from portail.enrolments.exports import safe_text
from portail.households.models import Guardian, Household

from .models import Payment, PaymentStatus

JOURNAL_HEADERS = [
    "Date",
    "N° de reçu",
    "Régie",
    "Foyer",
    "Payeur",
    "Moyen de paiement",
    "Montant (€)",
    "Référence",
    "Banque",
    "Tireur / payeur",
    "État",
]


def _household_ids(term: str):
    words = term.split()
    households = Household.objects.all()
    for word in words:
        households = households.filter(
            pk__in=Household.objects.filter(
                Q(reference__icontains=word)
                | Q(guardians__last_name__icontains=word)
                | Q(guardians__first_name__icontains=word)
            ).values("pk")
        )
    return households.values("pk")


def staff_payments(*, regie=None, means="", status="", start=None, end=None, household="", journal=False):
    """Payments matching the staff filters, newest first (the journal: receipt order), with the
    régie, the household and its payer loaded: a fixed number of queries for a page."""
    payments = Payment.objects.select_related("regie", "household").prefetch_related(
        Prefetch("household__guardians", queryset=Guardian.objects.filter(is_payer=True), to_attr="payers")
    )
    if regie is not None:
        payments = payments.filter(regie=regie)
    if means:
        payments = payments.filter(means=means)
    if status:
        payments = payments.filter(status=status)
    # The day of a payment: when the money was received, or when it was started if it was not.
    if start:
        payments = payments.filter(Q(paid_at__date__gte=start) | Q(paid_at__isnull=True, created_at__date__gte=start))
    if end:
        payments = payments.filter(Q(paid_at__date__lte=end) | Q(paid_at__isnull=True, created_at__date__lte=end))
    if household:
        payments = payments.filter(household_id__in=_household_ids(household))
    if journal:
        return payments.exclude(receipt_number="").order_by("regie__name", "paid_at", "receipt_number", "pk")
    return payments.order_by("-created_at", "-pk")


def received_total(payments) -> int:
    """Cents actually received among `payments` (paid, not refunded)."""
    return payments.filter(status=PaymentStatus.PAID).order_by().aggregate(total=Sum("amount_cents"))["total"] or 0


def payer_name(payment) -> str:
    payers = getattr(payment.household, "payers", None)
    if payers is None:  # not prefetched: still correct, one query more
        payers = list(payment.household.guardians.filter(is_payer=True))
    return payers[0].full_name if payers else ""


def _cents(value: int) -> str:
    """12,50: a number for a French spreadsheet (no currency sign, comma decimal)."""
    return f"{value // 100},{value % 100:02d}"


def journal_rows(payments) -> list[list[str]]:
    rows = []
    for payment in payments:
        when = timezone.localtime(payment.paid_at) if payment.paid_at else None
        rows.append(
            [
                when.strftime("%d/%m/%Y %H:%M") if when else "",
                payment.receipt_number,
                payment.regie.name,
                payment.household.reference,
                payer_name(payment),
                payment.get_means_display(),
                _cents(payment.amount_cents),
                payment.reference,
                payment.cheque_bank,
                payment.drawer,
                payment.get_status_display(),
            ]
        )
    return rows


def to_csv(payments) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(JOURNAL_HEADERS)
    for row in journal_rows(payments):
        writer.writerow([safe_text(str(value)) for value in row])
    # The BOM tells Excel the file is UTF-8 (accents would be garbled otherwise).
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def filename(*, regie=None, today: date | None = None) -> str:
    today = today or timezone.localdate()
    return f"journal-paiements-{regie.code if regie else 'toutes-regies'}-{today:%Y-%m-%d}.csv"
