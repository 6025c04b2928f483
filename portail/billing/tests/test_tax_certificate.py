"""Attestation fiscale (frais de garde des moins de 6 ans): who counts (born in N−6 or later), what
counts (care lines only, spread from invoice allocations), when it counts (payment date in N, Paris
time), CESU apart, credit notes deducted; numbering and archive; the PDF; the family pages (another
household's certificate is a 404)."""

import hashlib
import html as htmllib
import itertools
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from portail.billing.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, LineKind, TaxCertificate
from portail.billing.tax_certificate import (
    TaxCertificateError,
    certificate_amounts,
    certificate_html,
    certificate_pdf,
    issue_certificate,
)
from portail.core.models import LogEntry
from portail.payments.models import Allocation, AllocationKind, Means, PaymentStatus
from tests.factories import ChildFactory, TownFactory, make_family
from tests.payment_factories import PaymentFactory, RegieFactory

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
N = timezone.localdate().year - 1  # a year that is over: its attestation can be issued
_numbers = itertools.count(1)


def paris(year, month, day, hour=12, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


@pytest.fixture
def regie():
    town = TownFactory(name="Ville-sur-Test", address="1 place de la Mairie", postcode="75001", city="Ville-sur-Test")
    return RegieFactory(town=town, name="Régie enfance", code="ENF", contact="Mme Dupont, régisseuse")


@pytest.fixture
def family():
    household, guardian, _ = make_family(children=0)
    return household, guardian


def child_of(household, birth_date, first_name="Léa"):
    return ChildFactory(household=household, first_name=first_name, birth_date=birth_date)


def make_invoice(regie, household, lines, *, issued_at=None):
    """lines: [(child, amount_cents, childcare_eligible)]."""
    invoice = Invoice.objects.create(
        regie=regie,
        household=household,
        number=f"F{regie.code}{N}{next(_numbers):06d}",
        issued_at=issued_at or paris(N, 3, 1),
        due_date=date(N, 3, 20),
        payer={"name": "Mme Camille MARTIN"},
        issuer={"name": regie.name},
        total_cents=sum(amount for _, amount, _ in lines),
    )
    for child, amount, eligible in lines:
        InvoiceLine.objects.create(
            invoice=invoice,
            kind=LineKind.BOOKING,
            child=child,
            child_name=child.full_name,
            child_birth_date=child.birth_date,
            label="Accueil périscolaire" if eligible else "Restauration scolaire",
            unit_price_cents=amount,
            amount_cents=amount,
            childcare_eligible=eligible,
        )
    return invoice


def pay(invoice, amount, *, paid_at, means=Means.CHEQUE, **kwargs):
    payment = PaymentFactory(
        regie=invoice.regie, household=invoice.household, means=means, amount_cents=amount, paid_at=paid_at, **kwargs
    )
    Allocation.objects.create(
        payment=payment,
        kind=AllocationKind.INVOICE,
        amount_cents=amount,
        label=f"Facture {invoice.number}",
        invoice=invoice,
    )
    return payment


def credit_note(invoice, line, amount, *, issued_at, allocate_to=None):
    """A credit note on `line`, its avoir (a Payment of means "avoir"), spent on `allocate_to` if given."""
    avoir = PaymentFactory(
        regie=invoice.regie,
        household=invoice.household,
        means=Means.CREDIT_NOTE,
        amount_cents=amount,
        paid_at=issued_at,
        receipt_number="",
        label="Avoir",
    )
    note = CreditNote.objects.create(
        regie=invoice.regie,
        household=invoice.household,
        invoice=invoice,
        number=f"A{invoice.regie.code}{N}{next(_numbers):06d}",
        issued_at=issued_at,
        reason="Absence pour maladie",
        total_cents=amount,
        payer=invoice.payer,
        issuer=invoice.issuer,
        payment=avoir,
    )
    CreditNoteLine.objects.create(credit_note=note, invoice_line=line, label="Absence", amount_cents=amount)
    if allocate_to is not None:
        Allocation.objects.create(
            payment=avoir, kind=AllocationKind.INVOICE, amount_cents=amount, label="Avoir", invoice=allocate_to
        )
    return note


def by_name(amounts):
    return {a.child_name: (a.paid_cents, a.cesu_cents) for a in amounts}


# --- who, what, when ------------------------------------------------------------------------------


def test_child_born_31_12_of_n_minus_7_is_excluded_and_born_01_01_of_n_minus_6_is_included(regie, family):
    household, _ = family
    older = child_of(household, date(N - 7, 12, 31), "Aîné")
    younger = child_of(household, date(N - 6, 1, 1), "Cadet")
    invoice = make_invoice(regie, household, [(older, 5000, True), (younger, 4000, True)])
    pay(invoice, 9000, paid_at=paris(N, 3, 10))

    amounts = certificate_amounts(household, regie, N)

    assert [(a.child_name, a.birth_date, a.paid_cents) for a in amounts] == [
        (younger.full_name, date(N - 6, 1, 1), 4000)
    ]


def test_a_canteen_line_is_excluded(regie, family):
    household, _ = family
    child = child_of(household, date(N - 3, 5, 1))
    invoice = make_invoice(regie, household, [(child, 3000, True), (child, 2000, False)])
    pay(invoice, 5000, paid_at=paris(N, 3, 10))

    assert by_name(certificate_amounts(household, regie, N)) == {child.full_name: (3000, 0)}


def test_a_partly_paid_invoice_is_spread_over_its_lines_by_amount_rounded_half_up(regie, family):
    household, _ = family
    child = child_of(household, date(N - 3, 5, 1))
    invoice = make_invoice(regie, household, [(child, 100, True), (child, 100, False)])
    pay(invoice, 101, paid_at=paris(N, 3, 10))  # 101 × 100 / 200 = 50.5 → 51

    assert by_name(certificate_amounts(household, regie, N)) == {child.full_name: (51, 0)}


def test_an_invoice_paid_in_january_of_the_next_year_counts_in_that_year(regie, family):
    household, _ = family
    child = child_of(household, date(N - 2, 6, 1))
    december = make_invoice(regie, household, [(child, 2500, True)], issued_at=paris(N, 12, 5))
    # 1 January N+1 at 00:30 in Paris is still 31 December N in UTC: Paris time decides.
    pay(december, 2500, paid_at=paris(N + 1, 1, 1, 0, 30))
    november = make_invoice(regie, household, [(child, 1000, True)], issued_at=paris(N, 11, 5))
    pay(november, 1000, paid_at=paris(N, 12, 31, 23, 30))

    assert by_name(certificate_amounts(household, regie, N)) == {child.full_name: (1000, 0)}
    assert by_name(certificate_amounts(household, regie, N + 1)) == {child.full_name: (2500, 0)}


def test_an_unpaid_invoice_gives_nothing(regie, family):
    household, _ = family
    child = child_of(household, date(N - 2, 6, 1))
    invoice = make_invoice(regie, household, [(child, 2500, True)])
    pay(invoice, 2500, paid_at=None, status=PaymentStatus.PENDING, receipt_number="")

    assert certificate_amounts(household, regie, N) == []


def test_the_cesu_part_is_shown_separately_and_goes_to_care_first(regie, family):
    household, _ = family
    child = child_of(household, date(N - 4, 2, 2))
    invoice = make_invoice(regie, household, [(child, 6000, True), (child, 4000, False)])
    pay(invoice, 5000, means=Means.CESU, paid_at=paris(N, 3, 10), cesu_details="10 titres de 5 €")
    pay(invoice, 5000, paid_at=paris(N, 3, 12))  # the cheque pays the rest: 1000 of care, the meals

    (amount,) = certificate_amounts(household, regie, N)

    assert (amount.paid_cents, amount.cesu_cents, amount.other_means_cents) == (6000, 5000, 1000)


def test_a_credit_note_reduces_the_amount(regie, family):
    household, _ = family
    child = child_of(household, date(N - 4, 2, 2))
    invoice = make_invoice(regie, household, [(child, 5000, True)])
    pay(invoice, 5000, paid_at=paris(N, 3, 10))
    credit_note(invoice, invoice.lines.get(), 1500, issued_at=paris(N, 4, 2))
    credit_note(invoice, invoice.lines.get(), 700, issued_at=paris(N + 1, 1, 15))  # next year's

    assert by_name(certificate_amounts(household, regie, N)) == {child.full_name: (3500, 0)}


def test_an_avoir_spent_on_the_invoice_it_corrects_counts_once(regie, family):
    household, _ = family
    child = child_of(household, date(N - 4, 2, 2))
    invoice = make_invoice(regie, household, [(child, 10000, True)])
    credit_note(invoice, invoice.lines.get(), 2000, issued_at=paris(N, 3, 5), allocate_to=invoice)
    pay(invoice, 8000, paid_at=paris(N, 3, 10))

    assert by_name(certificate_amounts(household, regie, N)) == {child.full_name: (8000, 0)}


def test_another_regie_and_another_household_do_not_count(regie, family):
    household, _ = family
    child = child_of(household, date(N - 4, 2, 2))
    other_regie = RegieFactory(town=regie.town, code="SPO")
    pay(make_invoice(other_regie, household, [(child, 3000, True)]), 3000, paid_at=paris(N, 3, 10))
    other_household, _, (other_child,) = make_family(children=1)
    pay(make_invoice(regie, other_household, [(other_child, 3000, True)]), 3000, paid_at=paris(N, 3, 10))

    assert certificate_amounts(household, regie, N) == []


# --- issue, number, PDF ---------------------------------------------------------------------------


@pytest.fixture
def paid_family(regie, family):
    household, guardian = family
    child = child_of(household, date(N - 4, 2, 2), "Léa")
    invoice = make_invoice(regie, household, [(child, 6000, True), (child, 4000, False)])
    pay(invoice, 2000, means=Means.CESU, paid_at=paris(N, 3, 10), cesu_details="4 titres")
    pay(invoice, 8000, paid_at=paris(N, 3, 12))
    return household, guardian, child


def test_each_issue_is_numbered_and_archived(regie, paid_family):
    household, guardian, child = paid_family

    first = issue_certificate(household, regie, N, guardian.user)
    second = issue_certificate(household, regie, N, guardian.user)

    assert (first.number, second.number) == (f"CENF{N}000001", f"CENF{N}000002")
    first.refresh_from_db()
    assert first.amounts == [
        {
            "child_name": child.full_name,
            "birth_date": f"{N - 4}-02-02",
            "paid_cents": 6000,
            "cesu_cents": 2000,
            "services": [],  # lines without an activity: no kind of care to name
        }
    ]
    assert len(first.pdf_sha256) == 64
    assert LogEntry.objects.filter(action="tax_certificate.issued", household=household).count() == 2


def test_no_certificate_for_the_current_year_or_without_care_paid(regie, paid_family):
    household, guardian, _ = paid_family
    with pytest.raises(TaxCertificateError) as refused:
        issue_certificate(household, regie, N + 1, guardian.user)
    assert refused.value.code == "year_not_over"
    with pytest.raises(TaxCertificateError) as refused:
        issue_certificate(household, regie, N - 1, guardian.user)
    assert refused.value.code == "nothing_to_certify"
    assert not TaxCertificate.objects.exists()


def text_of(certificate) -> str:
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", certificate_html(certificate))).split())


def test_the_pdf_is_a_pdf_and_says_what_the_administration_asks(regie, paid_family):
    household, guardian, child = paid_family
    certificate = issue_certificate(household, regie, N, guardian.user)

    pdf = certificate_pdf(certificate)
    assert pdf.startswith(b"%PDF")
    assert hashlib.sha256(pdf).hexdigest() == certificate.pdf_sha256  # the archived issue renders the same
    text = text_of(certificate)
    for expected in [
        "Ville-sur-Test",
        "Régie de recettes « Régie enfance »",
        "1 place de la Mairie",
        "Nature de la structure",
        f"Foyer {household.reference}",
        guardian.last_name.upper(),
        "1 rue des Écoles",
        child.full_name,
        f"02/02/{N - 4}",
        "60,00 €",  # care paid
        "20,00 €",  # of which CESU
        "40,00 €",  # by other means
        f"Attestation n° CENF{N}000001",
        f"Année {N}",
        "Attestation établie pour faire valoir ce que de droit",
        "article 200 quater B du code général des impôts",
        "les frais de repas",
    ]:
        assert expected in text, expected


# --- the family pages -----------------------------------------------------------------------------


def test_the_family_asks_for_its_certificate_once_and_downloads_it(client, regie, paid_family):
    household, guardian, child = paid_family
    client.force_login(guardian.user)
    page = reverse("portal:tax_certificates")

    response = client.get(page)
    assert response.status_code == 200
    content = response.content.decode()
    assert f"Attestation fiscale {N}" in content and "Demander l'attestation" in content
    assert "60,00 €" in content

    ask = {"annee": N, "regie": regie.pk}
    assert client.post(reverse("portal:tax_certificate_request"), ask).status_code == 302
    assert client.post(reverse("portal:tax_certificate_request"), ask).status_code == 302
    certificate = TaxCertificate.objects.get(household=household)  # asked twice, issued once

    content = client.get(f"{page}?annee={N}").content.decode()
    assert certificate.number in content
    download = client.get(reverse("portal:tax_certificate_pdf", args=[certificate.pk]))
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert download.content.startswith(b"%PDF")
    assert f"attestation-fiscale-{N}-{certificate.number}.pdf" in download["Content-Disposition"]


def test_another_households_certificate_is_a_404(client, regie, paid_family):
    household, guardian, _ = paid_family
    mine = issue_certificate(household, regie, N, guardian.user)
    other_household, other_guardian, (other_child,) = make_family(children=1)
    other_child.birth_date = date(N - 2, 1, 1)
    other_child.save()
    pay(make_invoice(regie, other_household, [(other_child, 1000, True)]), 1000, paid_at=paris(N, 5, 5))
    theirs = issue_certificate(other_household, regie, N, other_guardian.user)

    client.force_login(guardian.user)
    url = reverse("portal:tax_certificate_pdf", args=[theirs.pk])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert client.get(reverse("portal:tax_certificate_pdf", args=[mine.pk])).status_code == 200


def test_asking_for_a_regie_or_a_year_without_payment_is_a_404(client, regie, paid_family):
    household, guardian, _ = paid_family
    other_regie = RegieFactory(town=regie.town, code="SPO")
    client.force_login(guardian.user)
    url = reverse("portal:tax_certificate_request")
    assert client.post(url, {"annee": N, "regie": other_regie.pk}).status_code == 404
    assert client.post(url, {"annee": N - 3, "regie": regie.pk}).status_code == 404
    assert not TaxCertificate.objects.exists()


def test_the_page_without_any_payment(client, family):
    _, guardian = family
    client.force_login(guardian.user)
    response = client.get(reverse("portal:tax_certificates"))
    assert response.status_code == 200
    assert "pas d'attestation fiscale à établir" in response.content.decode()


def test_the_current_years_payments_do_not_offer_a_certificate_yet(client, regie, family):
    household, guardian = family
    child = child_of(household, date(N - 1, 1, 1))
    now = timezone.now()
    pay(make_invoice(regie, household, [(child, 1000, True)], issued_at=now - timedelta(days=1)), 1000, paid_at=now)
    client.force_login(guardian.user)
    content = client.get(reverse("portal:tax_certificates")).content.decode()
    assert "Demander" not in content
