"""The month's journals for the finance software: invoices issued and payments received, CSV (Excel FR)
and XLSX, formula injection neutralised; the staff page and its permission."""

import csv
import io
import itertools
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from portail.accounts import roles
from portail.billing import exports
from portail.billing.models import Invoice
from portail.payments.models import Allocation, AllocationKind, Means, PaymentStatus
from tests.factories import GuardianFactory, HouseholdFactory, StaffFactory
from tests.payment_factories import PaymentFactory, RegieFactory, payment_staff

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
MONTH = date(2026, 10, 1)
_numbers = itertools.count(1)


def paris(month, day, hour=12, minute=0, year=2026):
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def make_invoice(regie, household, total, *, issued_at, payer_name="Mme Camille MARTIN"):
    return Invoice.objects.create(
        regie=regie,
        household=household,
        number=f"F{regie.code}2026{next(_numbers):06d}",
        month=date(issued_at.year, issued_at.month, 1),
        issued_at=issued_at,
        due_date=date(2026, 11, 15),
        payer={"name": payer_name},
        issuer={"name": regie.name},
        total_cents=total,
    )


def allocate(payment, invoice, amount):
    Allocation.objects.create(
        payment=payment,
        kind=AllocationKind.INVOICE,
        amount_cents=amount,
        label=f"Facture {invoice.number}",
        invoice=invoice,
    )


@pytest.fixture
def data():
    regie = RegieFactory(name="Régie enfance", code="ENF")
    household = HouseholdFactory(reference="F000042")
    GuardianFactory(household=household, first_name="Camille", last_name="Martin", is_payer=True)
    october = make_invoice(regie, household, 4525, issued_at=paris(10, 1, 0, 30))  # 30 Sept in UTC: October here
    hostile = make_invoice(regie, household, 1000, issued_at=paris(10, 20), payer_name='=HYPERLINK("http://x")')
    make_invoice(regie, household, 999, issued_at=paris(11, 1, 0, 30))  # November: not in October
    make_invoice(RegieFactory(code="SPO"), household, 777, issued_at=paris(10, 5))  # another régie
    cheque = PaymentFactory(
        regie=regie,
        household=household,
        means=Means.CHEQUE,
        amount_cents=3000,
        paid_at=paris(10, 5, 9, 15),
        receipt_number="RENF2026000001",
        reference="-1234567",
    )
    allocate(cheque, october, 3000)
    cesu = PaymentFactory(
        regie=regie,
        household=household,
        means=Means.CESU,
        amount_cents=1000,
        paid_at=paris(10, 6, 10, 0),
        receipt_number="RENF2026000002",
        cesu_details="2 titres 2026 n° 123, 124",
    )
    allocate(cesu, hostile, 1000)
    PaymentFactory(regie=regie, household=household, amount_cents=500, paid_at=paris(9, 30, 23, 0))  # September
    PaymentFactory(regie=regie, household=household, amount_cents=500, receipt_number="", paid_at=None,
                   status=PaymentStatus.PENDING)  # fmt: skip
    PaymentFactory(regie=regie, household=household, means=Means.CREDIT_NOTE, amount_cents=300,
                   paid_at=paris(10, 7), receipt_number="")  # fmt: skip
    return regie, october, hostile


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


def test_the_invoices_journal_columns_and_rows(data):
    regie, october, hostile = data
    rows = read_csv(exports.to_csv(exports.INVOICE_COLUMNS, exports.invoices_journal(regie, MONTH)))
    assert rows[0] == [
        "N° de facture",
        "Date d'émission",
        "Mois facturé",
        "Échéance",
        "Foyer",
        "Payeur",
        "Total (€)",
        "Payé (€)",
        "Reste dû (€)",
    ]
    assert rows[1] == [october.number, "01/10/2026", "10/2026", "15/11/2026", "F000042", "Mme Camille MARTIN",
                       "45,25", "30,00", "15,25"]  # fmt: skip
    assert rows[2][0] == hostile.number and rows[2][6:] == ["10,00", "10,00", "0,00"]
    assert len(rows) == 3


def test_the_payments_journal_columns_and_rows(data):
    regie, october, hostile = data
    rows = read_csv(exports.to_csv(exports.PAYMENT_COLUMNS, exports.payments_journal(regie, MONTH)))
    assert rows[0] == [
        "Date",
        "N° de reçu",
        "Foyer",
        "Payeur",
        "Moyen de paiement",
        "Montant (€)",
        "Référence",
        "Titres CESU",
        "Factures réglées",
        "État",
    ]
    assert rows[1] == ["05/10/2026 09:15", "RENF2026000001", "F000042", "Camille Martin", "Chèque", "30,00",
                       "'-1234567", "", october.number, "Payé"]  # fmt: skip
    assert rows[2][1] == "RENF2026000002" and rows[2][4] == "CESU" and rows[2][7] == "2 titres 2026 n° 123, 124"
    assert rows[2][8] == hostile.number
    assert len(rows) == 3  # September, unpaid and avoir payments are not money received in October


def test_formula_injection_is_neutralised(data):
    regie, _, _ = data
    rows = read_csv(exports.to_csv(exports.INVOICE_COLUMNS, exports.invoices_journal(regie, MONTH)))
    assert rows[2][5] == '\'=HYPERLINK("http://x")'
    workbook = load_workbook(
        io.BytesIO(exports.to_xlsx(exports.INVOICE_COLUMNS, exports.invoices_journal(regie, MONTH), title="F"))
    )
    assert workbook.active["F3"].value == '\'=HYPERLINK("http://x")'
    assert workbook.active["F3"].data_type == "s"


def test_the_xlsx_opens_with_real_dates_and_numbers(data):
    regie, october, _ = data
    response = exports.journal_response("factures", regie, MONTH, "xlsx")
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="journal-factures-ENF-2026-10.xlsx"' in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "Factures 10-2026"
    assert [cell.value for cell in sheet[1]][:2] == ["N° de facture", "Date d'émission"]
    assert sheet["A2"].value == october.number
    assert sheet["B2"].value == datetime(2026, 10, 1) and sheet["B2"].number_format == "DD/MM/YYYY"
    assert Decimal(str(sheet["G2"].value)) == Decimal("45.25") and sheet["G2"].number_format == "#,##0.00"
    assert sheet.max_row == 3

    payments = load_workbook(io.BytesIO(exports.journal_response("paiements", regie, MONTH, "xlsx").content)).active
    assert payments["A2"].value == datetime(2026, 10, 5, 9, 15)
    assert payments["G2"].value == "'-1234567"


def test_the_staff_export_page_and_downloads(client, data):
    regie, october, _ = data
    client.force_login(payment_staff(roles.MANAGER))
    page = client.get(reverse("backoffice:billing_exports"), {"regie": regie.pk, "mois": "2026-10"})
    assert page.status_code == 200
    content = page.content.decode()
    assert "55,25 €" in content and "40,00 €" in content  # invoiced, received
    url = reverse("backoffice:billing_export_download", args=["paiements", "csv"])
    response = client.get(url, {"regie": regie.pk, "mois": "2026-10"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="journal-paiements-ENF-2026-10.csv"' in response["Content-Disposition"]
    assert read_csv(response.content)[1][1] == "RENF2026000001"
    unknown = reverse("backoffice:billing_export_download", args=["factures", "pdf"])
    assert client.get(unknown, {"regie": regie.pk, "mois": "2026-10"}).status_code == 404
    assert client.get(url).status_code == 302  # no régie or month: back to the page


def test_the_exports_need_the_view_payment_permission(client, data):
    client.force_login(StaffFactory(role=roles.AGENT))
    assert client.get(reverse("backoffice:billing_exports")).status_code == 403
