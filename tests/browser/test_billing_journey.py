"""The billing journey in a real browser (Debian chromium, phone-sized screen), on the demo town loaded
on 30 November 2026: the Martin family opens "Factures", ticks its two invoices to pay (October and
November), pays them at once on the demo bank's PayFiP page, comes back and finds both in its paid
history (September, paid by cheque at the desk, is already there), downloads an invoice PDF, then
opens "Attestation fiscale" from the invoices' navigation and downloads its attestation 2025 (the
history of 2025 taken over from the previous software: Hugo's care paid by cheque in December 2025);
in January 2027, once the year is over, it asks for its attestation fiscale 2026 (Hugo is under 6) and
downloads it.
"""

import datetime as dt
import re

import pytest
import time_machine
from django.core.management import call_command
from playwright.sync_api import expect

from portail.billing.models import Invoice, TaxCertificate
from portail.billing.selectors import invoice_due_cents
from portail.catalog.wording import format_euros
from portail.demo import constants as demo
from portail.payments.models import Means, Payment, PaymentStatus

from .test_family_journey import login_with_email, logout, open_menu_item

pytestmark = pytest.mark.django_db(transaction=True)

PARIS_WINTER = dt.timezone(dt.timedelta(hours=1))
# The demo's "today": October (due 3 December) and November (issued today) are to pay.
NOVEMBER_30 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=PARIS_WINTER)
# The attestation of a year is available from 1 January of the next one.
JANUARY_5 = dt.datetime(2027, 1, 5, 9, 0, tzinfo=PARIS_WINTER)


@pytest.fixture
def demo_bank_here(live_server, settings):
    """The bank pages the family is sent to, and the bank's calls back to the portal, are this live server."""
    settings.PAYMENT_DEMO_BANK_BASE_URL = live_server.url


def martin_invoices():
    return list(Invoice.objects.filter(household__reference="D000001").order_by("number"))


def assert_pdf(path):
    with open(path, "rb") as document:
        assert document.read(5) == b"%PDF-"


def test_family_pays_two_invoices_at_once_downloads_the_pdf_and_the_attestation_fiscale(page, demo_bank_here):
    with time_machine.travel(NOVEMBER_30, tick=True):
        call_command("load_demo", verbosity=0)
        to_pay = [invoice for invoice in martin_invoices() if invoice_due_cents(invoice) > 0]
        assert len(to_pay) >= 2
        ticked = to_pay[:2]
        total = sum(invoice.total_cents for invoice in ticked)

        # "Factures": the invoices to pay, each with its checkbox; tick two, "Payer la sélection".
        login_with_email(page, demo.MARTIN_EMAIL, demo.FAMILY_PASSWORD)
        open_menu_item(page, "Factures")
        expect(page.get_by_role("heading", name="Mes factures", level=1)).to_be_visible()
        unpaid = page.get_by_role("region", name="Factures à payer")
        expect(unpaid.get_by_role("checkbox")).to_have_count(len(to_pay))
        paid = page.get_by_role("region", name="Mes factures déjà payées")
        expect(paid.get_by_role("row").filter(has_text="Claire Martin").filter(has_text="12/10/2026")).to_contain_text(
            "Chèque"
        )
        for invoice in to_pay:
            box = unpaid.get_by_role("checkbox", name=re.compile(f"Payer la facture n° {invoice.number},"))
            if invoice in ticked:
                box.check()
                expect(box).to_be_checked()
            else:
                box.uncheck()
        unpaid.get_by_role("button", name="Payer la sélection").click()

        # The demo bank's PayFiP page, for the two invoices together.
        expect(page).to_have_url(re.compile(r"/_banque-demo/tpa/paiementws\.web\?idop="))
        expect(page.get_by_role("heading", level=1)).to_contain_text("PayFiP de démonstration")
        expect(page.locator("main")).to_contain_text("Régie Enfance-Jeunesse")
        expect(page.locator("main")).to_contain_text(format_euros(total))
        page.get_by_role("button", name="Payer par carte").click()

        # Back on the portal: accepted; both invoices are now in the paid history.
        expect(page).to_have_url(re.compile(r"/paiements/retour/"))
        expect(page.locator("#etat-paiement")).to_contain_text("Paiement accepté", timeout=20_000)
        page.get_by_role("link", name="Mes factures").click()
        expect(page.get_by_role("heading", name="Mes factures", level=1)).to_be_visible()
        for invoice in ticked:
            row = paid.get_by_role("row").filter(has_text=invoice.number)
            expect(row).to_contain_text(Means.ONLINE.label)
            expect(row).to_contain_text(format_euros(invoice.total_cents))
            expect(row).to_contain_text("Régie Enfance-Jeunesse")
        payment = Payment.objects.get(household__reference="D000001", means=Means.ONLINE)
        assert payment.status == PaymentStatus.PAID and payment.amount_cents == total
        assert all(invoice_due_cents(invoice) == 0 for invoice in ticked)

        # An invoice's PDF, downloaded as the family does, then its response checked.
        link = paid.get_by_role("link", name=f"Facture n° {ticked[0].number} (PDF)")
        with page.expect_download() as download_info:
            link.click()
        assert_pdf(download_info.value.path())
        response = page.request.get(link.get_attribute("href"))
        assert response.ok
        assert response.headers["content-type"] == "application/pdf"
        assert response.body().startswith(b"%PDF")

        # Today, without waiting for January: the attestation 2025, from the invoices' navigation.
        page.get_by_role("navigation", name="Rubriques des factures").get_by_role(
            "link", name="Attestation fiscale"
        ).click()
        expect(page.get_by_role("heading", name="Attestation fiscale 2025", level=1)).to_be_visible()
        block = page.get_by_role("region", name="Régie Enfance-Jeunesse")
        expect(block.get_by_role("row").filter(has_text="Hugo Martin")).to_contain_text("186,40")
        block.get_by_role("button", name=re.compile("Demander l'attestation 2025")).click()
        certificate = TaxCertificate.objects.get(household__reference="D000001", year=2025)
        expect(page.get_by_role("status").first).to_contain_text(
            f"Votre attestation fiscale 2025 n° {certificate.number}"
        )
        with page.expect_download() as download_info:
            page.get_by_role("link", name=re.compile("Télécharger l'attestation fiscale 2025")).click()
        assert_pdf(download_info.value.path())
        logout(page)

    with time_machine.travel(JANUARY_5, tick=True):
        # 2026 is over: the attestation fiscale 2026 of the Régie Enfance-Jeunesse, for Hugo.
        login_with_email(page, demo.MARTIN_EMAIL, demo.FAMILY_PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_contain_text("Bienvenue")
        open_menu_item(page, "Factures")
        page.get_by_role("navigation", name="Rubriques des factures").get_by_role(
            "link", name="Attestation fiscale"
        ).click()
        expect(page.get_by_role("heading", name="Attestation fiscale 2026", level=1)).to_be_visible()
        block = page.get_by_role("region", name="Régie Enfance-Jeunesse")
        expect(block.get_by_role("row").filter(has_text="Hugo Martin")).to_contain_text("02/06/2021")
        expect(block.get_by_role("row").filter(has_text="Léa Martin")).to_have_count(0)
        block.get_by_role("button", name=re.compile("Demander l'attestation 2026")).click()

        certificate = TaxCertificate.objects.get(household__reference="D000001", year=2026)
        expect(page.get_by_role("status").first).to_contain_text(
            f"Votre attestation fiscale 2026 n° {certificate.number}"
        )
        with page.expect_download() as download_info:
            page.get_by_role("link", name=re.compile("Télécharger l'attestation fiscale 2026")).click()
        assert_pdf(download_info.value.path())
