"""The "reçu de paiement" PDF: who paid what, how, to which régie; what it paid (the rest as
credit); the mention on a refunded payment; none for a payment without a number."""

import datetime as dt
import html as htmllib
import re

import pytest

from portail.payments.errors import PaymentError
from portail.payments.models import Means, PaymentStatus
from portail.payments.receipt_pdf import receipt_filename, receipt_html, render_receipt_pdf
from tests.factories import GuardianFactory, HouseholdFactory, TownFactory
from tests.payment_factories import AllocationFactory, PaymentFactory, RegieFactory

pytestmark = pytest.mark.django_db


def text_of(payment, **kwargs) -> str:
    """The receipt's HTML as plain text (tags dropped, entities decoded, spaces collapsed)."""
    markup = receipt_html(payment, **kwargs)
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


@pytest.fixture
def payment():
    town = TownFactory(name="Ville-sur-Test", address="1 place de la Mairie", postcode="75001", city="Ville-sur-Test")
    regie = RegieFactory(town=town, name="Régie enfance jeunesse", code="01A", contact="Mme Dupont, régisseuse")
    household = HouseholdFactory(reference="F000123")
    GuardianFactory(household=household, first_name="Camille", last_name="Martin", is_payer=True)
    GuardianFactory(household=household, first_name="Dominique", last_name="Bernard", is_payer=False)
    return PaymentFactory(
        regie=regie,
        household=household,
        means=Means.CHEQUE,
        amount_cents=1250,
        receipt_number="R01A2026000042",
        reference="0001234",
        cheque_bank="La Banque Postale",
        drawer="M. Martin",
        paid_at=dt.datetime(2026, 11, 4, 9, 30, tzinfo=dt.UTC),
    )


def test_the_pdf_is_a_pdf(payment):
    assert render_receipt_pdf(payment).startswith(b"%PDF")
    assert receipt_filename(payment) == "recu-R01A2026000042.pdf"


def test_the_receipt_says_who_paid_what_and_how(payment):
    text = text_of(payment, issued_on=dt.date(2026, 11, 5))
    for expected in [
        "Reçu de paiement",
        "Ville-sur-Test",
        "1 place de la Mairie",
        "Régie de recettes « Régie enfance jeunesse »",
        "Mme Dupont, régisseuse",
        "R01A2026000042",
        "04/11/2026 à 10:30",  # Paris time
        "Foyer F000123",
        "Camille MARTIN",
        "Dominique BERNARD",
        "Chèque",
        "Chèque n° 0001234",
        "La Banque Postale",
        "M. Martin",
        "Montant payé 12,50 €",
        "édité le 05/11/2026",
    ]:
        assert expected in text, expected
    assert "annulé ou remboursé" not in text


def test_allocations_and_the_rest_as_credit(payment):
    AllocationFactory(payment=payment, label="Léa – mercredi 9 décembre 2026", amount_cents=1000)
    text = text_of(payment)
    assert "Léa – mercredi 9 décembre 2026 10,00 €" in text
    assert "Crédit (avoir) sur votre compte 2,50 €" in text
    assert "Total 12,50 €" in text


def test_an_unallocated_payment_is_all_credit(payment):
    assert "Crédit (avoir) sur votre compte 12,50 €" in text_of(payment)


def test_cesu_and_cash_receipts(payment):
    payment.means, payment.cesu_details = Means.CESU, "2 titres Edenred 2026 n° 11 et 12, 2 × 15 €"
    payment.amount_cents = 3000
    text = text_of(payment)
    assert "CESU" in text and "2 titres Edenred 2026 n° 11 et 12, 2 × 15 €" in text
    assert "30,00 €" in text
    payment.means, payment.amount_cents = Means.CASH, 123456
    assert "Espèces" in text_of(payment)
    assert "1 234,56 €" in text_of(payment)


def test_a_refunded_payment_says_so(payment):
    payment.status = PaymentStatus.REFUNDED
    payment.refunded_at = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
    text = text_of(payment)
    assert "Paiement annulé ou remboursé le 20/11/2026" in text
    assert render_receipt_pdf(payment).startswith(b"%PDF")


def test_no_receipt_without_a_number(payment):
    payment.receipt_number = ""
    with pytest.raises(PaymentError):
        receipt_html(payment)
    with pytest.raises(PaymentError):
        render_receipt_pdf(payment)
