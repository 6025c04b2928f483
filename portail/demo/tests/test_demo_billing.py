"""The demo's invoices: September to November 2026 issued by the real invoicing service, once, with
gapless numbers; the Martins have September paid at the desk and two invoices to pay at once; Hugo's
care paid in 2026 makes a non-empty attestation fiscale 2026; their 2025 history (an invoice of Hugo's
care paid by cheque in December 2025) lets them download the attestation 2025 today; the loader mails
nobody."""

import datetime as dt
from datetime import date

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from portail.billing.models import Invoice, InvoicingRun, LineKind, RunStatus, TaxCertificate
from portail.billing.selectors import invoice_due_cents
from portail.billing.tax_certificate import certificate_amounts, issue_certificate
from portail.bookings.models import Booking
from portail.demo import constants as C
from portail.demo.catalog import PARIS
from portail.demo.loader import load_demo
from portail.households.models import Household
from portail.payments.models import Means, Payment, PaymentStatus, Regie

pytestmark = pytest.mark.django_db

# The demo's "today": November is over that evening, its invoice is issued that day.
NOVEMBER_30 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=PARIS)
SEPTEMBER, OCTOBER, NOVEMBER = date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)
DECEMBER_2025 = date(2025, 12, 1)  # the month of the 2025 invoice taken over from the previous software
HISTORY = "FENF2025000001"


@pytest.fixture
def today():
    with time_machine.travel(NOVEMBER_30, tick=False):
        yield


@pytest.fixture
def demo(today):
    return load_demo()


def martin():
    return Household.objects.get(reference="D000001")


def enf():
    return Regie.objects.get(code="ENF")


def numbers(year=2026):
    return list(
        Invoice.objects.filter(number__startswith=f"FENF{year}").order_by("number").values_list("number", flat=True)
    )


def history_invoice():
    return Invoice.objects.get(number=HISTORY)


def test_loading_twice_issues_the_invoices_once_with_gapless_numbers(demo):
    issued = numbers()
    assert issued == [f"FENF2026{n:06d}" for n in range(1, len(issued) + 1)]
    # One invoice per household and month, every demo household with bookings invoiced.
    assert sorted(Invoice.objects.filter(run__isnull=False).values_list("month", "household__reference")) == [
        (month, reference)
        for month in (SEPTEMBER, OCTOBER, NOVEMBER)
        for reference in ("D000001", "D000002", "D000003")
    ]
    # Plus the Martins' 2025 history, on its own counter.
    assert numbers(2025) == [HISTORY]
    assert list(Invoice.objects.filter(run__isnull=True).values_list("number", flat=True)) == [HISTORY]
    runs = InvoicingRun.objects.all()
    assert runs.count() == 3
    assert all(run.status == RunStatus.DONE and not run.errors for run in runs)

    again = load_demo()
    assert not again.tally.changed
    assert numbers() == issued and numbers(2025) == [HISTORY]
    assert InvoicingRun.objects.count() == 3
    assert Payment.objects.count() == 2  # the cheques of 2025 and 2026
    assert TaxCertificate.objects.count() == 0  # the family asks for it


def test_invoices_are_issued_early_next_month_and_due_thirty_days_later(demo):
    dates = {run.month: (run.issued_on, run.due_date) for run in InvoicingRun.objects.filter(regie__code="ENF")}
    assert dates == {
        SEPTEMBER: (date(2026, 10, 2), date(2026, 11, 1)),
        OCTOBER: (date(2026, 11, 3), date(2026, 12, 3)),
        NOVEMBER: (date(2026, 11, 30), date(2026, 12, 30)),  # issued "today"
    }
    for invoice in Invoice.objects.filter(run__isnull=False):
        assert invoice.issued_at.date() == dates[invoice.month][0]
        assert invoice.total_cents > 0 and invoice.lines.exists()


def test_every_past_booking_of_an_invoiced_activity_is_billed_once(demo):
    unbilled = Booking.objects.filter(session__date__lt=date(2026, 12, 1), invoice_line__isnull=True)
    # Only what must not be billed: Léa's cancelled lunch and Hugo's excused Wednesday.
    assert sorted(unbilled.values_list("child__first_name", "session__date")) == [
        ("Hugo", date(2026, 11, 25)),
        ("Léa", date(2026, 11, 20)),
    ]
    # Other families only have past bookings: the journeys tick December freely.
    assert not Booking.objects.exclude(child__household=martin()).filter(session__date__gte=date(2026, 12, 1)).exists()


def test_martins_have_september_paid_at_the_desk_and_two_invoices_to_pay(demo):
    invoices = {invoice.month: invoice for invoice in Invoice.objects.filter(household=martin())}
    assert invoice_due_cents(invoices[SEPTEMBER]) == 0
    assert invoice_due_cents(invoices[OCTOBER]) == invoices[OCTOBER].total_cents > 0
    assert invoice_due_cents(invoices[NOVEMBER]) == invoices[NOVEMBER].total_cents > 0

    cheque = Payment.objects.get(household=martin(), reference="4521087")
    assert (cheque.means, cheque.status, cheque.drawer) == (Means.CHEQUE, PaymentStatus.PAID, "Claire Martin")
    assert cheque.receipt_number and cheque.amount_cents == invoices[SEPTEMBER].total_cents
    assert cheque.paid_at.astimezone(PARIS).date() == date(2026, 10, 12)
    assert [a.invoice_id for a in cheque.allocations.all()] == [invoices[SEPTEMBER].pk]


def test_the_family_page_lists_two_invoices_to_pay_and_the_paid_history(client, demo):
    client.post(reverse("accounts:login"), {"email": C.MARTIN_EMAIL, "password": C.FAMILY_PASSWORD})
    html = client.get(reverse("portal:invoices")).content.decode()
    assert html.count('name="factures"') == 2
    paid = html.split('id="payees"')[1]
    for text in ("FENF2026000001", "Claire Martin", "12/10/2026", "Chèque", "Régie Enfance-Jeunesse"):
        assert text in paid


def test_hugo_makes_the_attestation_fiscale_2026_of_the_martins(demo):
    amounts = certificate_amounts(martin(), enf(), 2026)
    assert [amount.child_name for amount in amounts] == ["Hugo Martin"]  # Léa is 9: not under 6
    assert amounts[0].paid_cents > 0


def test_martins_2025_history_is_hugos_care_paid_by_cheque_in_december_2025(demo):
    invoice = history_invoice()
    assert (invoice.household, invoice.run, invoice.month) == (martin(), None, DECEMBER_2025)
    assert invoice.issued_at.astimezone(PARIS).date() == date(2025, 12, 5)
    line = invoice.lines.get()
    assert (line.kind, line.child_name, line.childcare_eligible, line.amount_cents) == (
        LineKind.MANUAL,
        "Hugo Martin",
        True,
        18640,
    )
    assert invoice_due_cents(invoice) == 0
    cheque = Payment.objects.get(household=martin(), reference="3867215")
    assert (cheque.means, cheque.status, cheque.amount_cents) == (Means.CHEQUE, PaymentStatus.PAID, 18640)
    assert cheque.paid_at.astimezone(PARIS).date() == date(2025, 12, 18)
    assert cheque.receipt_number and "2025" in cheque.receipt_number
    # The 2025 cheque paid only the 2025 invoice: the 2026 invoices found no credit to spend.
    assert [a.invoice_id for a in cheque.allocations.all()] == [invoice.pk]


def test_the_martins_can_get_the_attestation_fiscale_2025_today(demo):
    amounts = certificate_amounts(martin(), enf(), 2025)
    assert [(a.child_name, a.paid_cents, a.cesu_cents) for a in amounts] == [("Hugo Martin", 18640, 0)]
    assert amounts[0].services and "Garde" not in amounts[0].services  # the kind of care, from the activity
    certificate = issue_certificate(martin(), enf(), 2025, actor=None)
    assert certificate.number == "CENF2025000001" and certificate.pdf_sha256
    # A re-run of the loader leaves the history (and the family's attestation) alone.
    again = load_demo()
    assert not again.tally.changed
    assert numbers(2025) == [HISTORY] and TaxCertificate.objects.count() == 1


def test_the_family_page_offers_the_attestation_2025(client, demo):
    client.post(reverse("accounts:login"), {"email": C.MARTIN_EMAIL, "password": C.FAMILY_PASSWORD})
    # From the invoices' navigation, which marks the page it is on.
    invoices = client.get(reverse("portal:invoices")).content.decode()
    assert f'href="{reverse("portal:tax_certificates")}">Attestation fiscale</a>' in invoices
    html = client.get(reverse("portal:tax_certificates")).content.decode()
    assert "Attestation fiscale 2025" in html and "186,40" in html
    assert f'href="{reverse("portal:tax_certificates")}" aria-current="page">Attestation fiscale</a>' in html
    client.post(reverse("portal:tax_certificate_request"), {"annee": "2025", "regie": enf().pk})
    certificate = TaxCertificate.objects.get(household=martin(), year=2025)
    response = client.get(reverse("portal:tax_certificate_pdf", args=[certificate.pk]))
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")


def test_the_loader_mails_nobody(django_capture_on_commit_callbacks, today):
    with django_capture_on_commit_callbacks(execute=True):
        load_demo()
    assert Invoice.objects.exists()
    assert mail.outbox == []


def test_a_month_not_over_is_invoiced_by_a_later_load():
    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 0, tzinfo=PARIS), tick=False):
        load_demo()
    assert set(Invoice.objects.values_list("month", flat=True)) == {DECEMBER_2025, SEPTEMBER, OCTOBER}
    with time_machine.travel(NOVEMBER_30, tick=False):
        result = load_demo()
    assert result.tally.created["billing.Invoice"] == 3
    assert set(Invoice.objects.values_list("month", flat=True)) == {DECEMBER_2025, SEPTEMBER, OCTOBER, NOVEMBER}
    assert numbers() == [f"FENF2026{n:06d}" for n in range(1, 10)]
