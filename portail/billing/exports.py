"""A month's journals of a régie for the finance software (PAYMENTS.md §3.4, v1 CSV exports).

- **Invoices journal**: the invoices *issued* in the month (local time), in number order: number,
  issue date, billed month, due date, household, payer (the copy on the invoice), total, paid and
  still due. "Paid" is what PAID payments have allocated to the invoice when the file is made
  (avoirs spent on it included); "due" = total − paid.
- **Payments journal**: the money *received* in the month (numbered payments with `paid_at` in the
  month, later refunds included and shown as such, avoirs excluded: they are no money received), in
  receipt order: date, receipt number, household, payer, means, amount, reference, CESU titles, the
  invoices the payment settled, state.

Files follow portail/enrolments/exports.py: CSV for Excel FR (UTF-8 with BOM, ";" separator, "12,50"
amounts, dd/mm/yyyy dates) and XLSX (openpyxl, real dates and numbers); every text cell a spreadsheet
could run as a formula is neutralised with `safe_text`.
"""

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Prefetch, Sum
from django.http import HttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from portail.enrolments.exports import safe_text
from portail.households.models import Guardian
from portail.payments.models import Allocation, Means, Payment, PaymentStatus

from .models import Invoice
from .selectors import with_amounts

TEXT, DATE, DATETIME, MONEY = "text", "date", "datetime", "money"


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = TEXT
    width: int = 16


INVOICE_COLUMNS = [
    Column("N° de facture", width=20),
    Column("Date d'émission", DATE, 14),
    Column("Mois facturé", width=12),
    Column("Échéance", DATE, 14),
    Column("Foyer", width=12),
    Column("Payeur", width=30),
    Column("Total (€)", MONEY, 12),
    Column("Payé (€)", MONEY, 12),
    Column("Reste dû (€)", MONEY, 12),
]
PAYMENT_COLUMNS = [
    Column("Date", DATETIME, 17),
    Column("N° de reçu", width=18),
    Column("Foyer", width=12),
    Column("Payeur", width=30),
    Column("Moyen de paiement", width=22),
    Column("Montant (€)", MONEY, 12),
    Column("Référence", width=20),
    Column("Titres CESU", width=30),
    Column("Factures réglées", width=30),
    Column("État", width=12),
]
JOURNALS = {"factures": INVOICE_COLUMNS, "paiements": PAYMENT_COLUMNS}
JOURNAL_TITLES = {"factures": "Factures", "paiements": "Paiements"}


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[first day 00:00, first day of the next month 00:00) of `month`'s month, local time."""
    zone = timezone.get_default_timezone()
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    end = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=zone)
    return start, end


def paid_cents_by_invoice(invoice_ids) -> dict[int, int]:
    """{invoice id: cents allocated to it by PAID payments}."""
    totals = (
        Allocation.objects.filter(invoice_id__in=list(invoice_ids), payment__status=PaymentStatus.PAID)
        .values("invoice_id")
        .order_by()
        .annotate(total=Sum("amount_cents"))
    )
    return {row["invoice_id"]: row["total"] or 0 for row in totals}


def payer_name_of(payer: dict | None) -> str:
    """The payer's name from an invoice's payer copy, whatever its keys."""
    payer = payer or {}
    for key in ("name", "full_name"):
        if payer.get(key):
            return str(payer[key])
    return " ".join(str(payer[k]) for k in ("first_name", "last_name") if payer.get(k))


def invoices_journal(regie, month: date) -> list[list]:
    """One row per invoice issued by `regie` in `month`'s month, in INVOICE_COLUMNS order."""
    start, end = month_bounds(month)
    invoices = (
        with_amounts(Invoice.objects.filter(regie=regie, issued_at__gte=start, issued_at__lt=end))
        .select_related("household")
        .order_by("number", "pk")
    )
    return [
        [
            invoice.number,
            timezone.localtime(invoice.issued_at).date(),
            f"{invoice.month:%m/%Y}" if invoice.month else "",
            invoice.due_date,
            invoice.household.reference,
            payer_name_of(invoice.payer),
            invoice.total_cents,
            invoice.paid_cents,
            invoice.due_cents,
        ]
        for invoice in invoices
    ]


def payments_journal(regie, month: date) -> list[list]:
    """One row per payment received by `regie` in `month`'s month, in PAYMENT_COLUMNS order."""
    start, end = month_bounds(month)
    payments = (
        Payment.objects.filter(regie=regie, paid_at__gte=start, paid_at__lt=end)
        .exclude(receipt_number="")
        .exclude(means=Means.CREDIT_NOTE)
        .filter(status__in=[PaymentStatus.PAID, PaymentStatus.REFUNDED])
        .select_related("household")
        .prefetch_related(
            Prefetch("household__guardians", queryset=Guardian.objects.filter(is_payer=True), to_attr="payers"),
            Prefetch(
                "allocations",
                queryset=Allocation.objects.filter(invoice__isnull=False).select_related("invoice").order_by("pk"),
                to_attr="invoice_allocations",
            ),
        )
        .order_by("paid_at", "receipt_number", "pk")
    )
    rows = []
    for payment in payments:
        payers = payment.household.payers
        numbers = []
        for allocation in payment.invoice_allocations:
            if allocation.invoice.number not in numbers:
                numbers.append(allocation.invoice.number)
        rows.append(
            [
                timezone.localtime(payment.paid_at),
                payment.receipt_number,
                payment.household.reference,
                payers[0].full_name if payers else "",
                payment.get_means_display(),
                payment.amount_cents,
                payment.reference,
                payment.cesu_details,
                ", ".join(numbers),
                payment.get_status_display(),
            ]
        )
    return rows


def journal_rows(kind: str, regie, month: date) -> list[list]:
    return invoices_journal(regie, month) if kind == "factures" else payments_journal(regie, month)


# --- files ---------------------------------------------------------------------------------------


def _cents_text(cents: int) -> str:
    """-1250 -> "-12,50": a number for a French spreadsheet (no currency sign, comma decimal)."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(int(cents)), 100)
    return f"{sign}{euros},{rest:02d}"


def _csv_cell(value, column: Column) -> str:
    if value is None or value == "":
        return ""
    if column.kind == MONEY:
        return _cents_text(value)
    if column.kind == DATETIME:
        return value.strftime("%d/%m/%Y %H:%M")
    if column.kind == DATE:
        return value.strftime("%d/%m/%Y")
    return safe_text(str(value))


def to_csv(columns: list[Column], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([column.header for column in columns])
    for row in rows:
        writer.writerow([_csv_cell(value, column) for value, column in zip(row, columns, strict=True)])
    # The BOM tells Excel the file is UTF-8 (accents would be garbled otherwise).
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_cell(value, column: Column):
    if value is None or value == "":
        return None
    if column.kind == MONEY:
        return Decimal(int(value)) / 100
    if column.kind == DATETIME:
        return value.replace(tzinfo=None)  # already local time: Excel has no time zones
    if column.kind == DATE:
        return value
    return safe_text(str(value))


XLSX_FORMATS = {MONEY: "#,##0.00", DATE: "DD/MM/YYYY", DATETIME: "DD/MM/YYYY HH:MM"}


def to_xlsx(columns: list[Column], rows: list[list], *, title: str) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    sheet.append([column.header for column in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_xlsx_cell(value, column) for value, column in zip(row, columns, strict=True)])
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
        number_format = XLSX_FORMATS.get(column.kind)
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = number_format
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def filename(kind: str, regie, month: date, extension: str) -> str:
    return f"journal-{kind}-{regie.code}-{month:%Y-%m}.{extension}"


CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def journal_response(kind: str, regie, month: date, extension: str) -> HttpResponse:
    """The journal `kind` ("factures" or "paiements") of `regie` for `month` as a CSV or XLSX download."""
    columns = JOURNALS[kind]
    rows = journal_rows(kind, regie, month)
    if extension == "csv":
        content = to_csv(columns, rows)
    else:
        content = to_xlsx(columns, rows, title=f"{JOURNAL_TITLES[kind]} {month:%m-%Y}")
    response = HttpResponse(content, content_type=CONTENT_TYPES[extension])
    response["Content-Disposition"] = f'attachment; filename="{filename(kind, regie, month, extension)}"'
    return response
