"""Family "Factures" (seeds 002–004): invoices to pay ticked and paid at once through the bank,
paid history, PDFs (cached), financial detail per invoice and per enrolment, running statement,
extra recipients and the "facture disponible" e-mail. No double payment while an attempt is
pending, nothing paid at the régie once transferred to the Trésor, another household's ids 404."""

import datetime as dt
import html as htmllib
import re
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portail.billing import emails as billing_emails
from portail.billing import invoice_pdf as pdfs
from portail.billing.models import Invoice, InvoiceRecipient
from portail.billing.selectors import invoice_due_cents
from portail.core.models import LogEntry
from portail.enrolments.tests.factories import EnrolmentFactory
from portail.payments import invoice_payment
from portail.payments.errors import PaymentError
from portail.payments.models import (
    Allocation,
    AllocationKind,
    AttemptPurpose,
    Means,
    Payment,
    PaymentAttempt,
    PaymentIncident,
    PaymentStatus,
)
from portail.payments.selectors import household_account
from tests.factories import ActivityFactory, GroupFactory, GuardianFactory, make_family

from .factories import (
    make_credit_note,
    make_invoice,
    make_paid_payment,
    make_regie,
    pay_invoice_at_desk,
)

pytestmark = pytest.mark.django_db


def absolute(path):
    return f"http://testserver{path}"


def text(response) -> str:
    """A page as plain text (tags dropped, entities decoded, spaces collapsed)."""
    markup = response.content.decode()
    if "<main" in markup:
        markup = markup[markup.index("<main") :]
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def family():
    household, guardian, kids = make_family(children=2, email="camille@example.org")
    kids[0].first_name, kids[1].first_name = "Léa", "Tom"
    for kid in kids:
        kid.save(update_fields=["first_name"])
    regie = make_regie()
    october = make_invoice(
        household,
        regie,
        month=dt.date(2026, 10, 1),
        lines=[(kids[0], "Restauration scolaire", 4, 350), (kids[1], "Accueil du soir", 2, 250)],
        issued_at=timezone.now() - dt.timedelta(days=40),
        due_date=timezone.localdate() - dt.timedelta(days=5),
    )
    november = make_invoice(
        household,
        regie,
        month=dt.date(2026, 11, 1),
        lines=[(kids[0], "Restauration scolaire", 10, 350), (kids[1], "Restauration scolaire", 8, 350)],
    )
    return SimpleNamespace(
        household=household,
        guardian=guardian,
        user=guardian.user,
        lea=kids[0],
        tom=kids[1],
        regie=regie,
        october=october,
        november=november,
    )


@pytest.fixture
def client_of(client, family):
    client.force_login(family.user)
    return client


@pytest.fixture
def stranger():
    household, guardian, kids = make_family(children=1)
    return SimpleNamespace(household=household, guardian=guardian, child=kids[0])


def due(invoice) -> int:
    return invoice_due_cents(Invoice.objects.get(pk=invoice.pk))


# --- The "Factures" page ------------------------------------------------------------------------------


def test_the_page_lists_invoices_to_pay_with_checkboxes_and_the_paid_history(family, client_of):
    paid = make_invoice(family.household, family.regie, month=dt.date(2026, 9, 1))
    pay_invoice_at_desk(paid, drawer="M. Martin", reference="0001234")
    response = client_of.get(reverse("portal:invoices"))
    assert response.status_code == 200
    page = text(response)
    html = response.content.decode()
    # To pay: number, month, total, amount due, "payer avant", one checkbox each, one "Payer".
    for invoice in (family.october, family.november):
        assert invoice.number in page
        assert f'name="factures" value="{invoice.pk}"' in html
    assert "Novembre 2026" in page and "63,00 €" in page
    assert family.november.due_date.strftime("%d/%m/%Y") in page
    assert "échéance dépassée" in page  # October's due date has passed
    assert "Total restant dû 82,00 €" in page
    assert "Payer la sélection" in page
    assert f'name="factures" value="{paid.pk}"' not in html
    # Paid history: amount, invoice, payer, date, mode, régie, transaction number, PDFs.
    history = page[page.index("Mes factures déjà payées") :]
    assert paid.number in history and "M. Martin" in history and "Chèque" in history
    assert "Régie Enfance" in history and "0001234" in history
    assert reverse("portal:invoice_pdf", args=[paid.pk]) in html
    # No PDF is rendered to list the invoices.
    assert not Invoice.objects.exclude(pdf="").exists()


def test_invoice_detail_gives_lines_per_child_payments_credit_notes_and_amount_due(family, client_of):
    pay_invoice_at_desk(family.november, 1000)
    credit_note = make_credit_note(family.november, 350)
    response = client_of.get(reverse("portal:invoice_detail", args=[family.november.pk]))
    page = text(response)
    assert f"Facture n° {family.november.number}" in page
    assert page.index("Léa") < page.index("Tom")
    assert "Restauration scolaire" in page and "10" in page and "3,50 €" in page and "35,00 €" in page
    assert "Sous-total" in page
    assert "Déjà réglé 10,00 €" in page
    assert "Montant dû 53,00 €" in page
    assert f"Avoir n° {credit_note.number}" in page
    assert "Payer cette facture (53,00 €)" in page
    assert reverse("portal:credit_note_pdf", args=[credit_note.pk]) in response.content.decode()


def test_another_households_invoice_pdf_credit_note_and_enrolment_are_404(family, client_of, stranger):
    regie = family.regie
    theirs = make_invoice(stranger.household, regie, lines=[(stranger.child, "Cantine", 1, 400)])
    credit_note = make_credit_note(theirs, 400)
    enrolment = EnrolmentFactory(child=stranger.child)
    recipient = InvoiceRecipient.objects.create(household=stranger.household, email="autre@example.org")
    for url in (
        reverse("portal:invoice_detail", args=[theirs.pk]),
        reverse("portal:invoice_pdf", args=[theirs.pk]),
        reverse("portal:credit_note_pdf", args=[credit_note.pk]),
        reverse("portal:invoice_enrolment_detail", args=[enrolment.pk]),
    ):
        assert client_of.get(url).status_code == 404, url
    assert client_of.post(reverse("portal:invoice_recipient_remove", args=[recipient.pk])).status_code == 404
    assert InvoiceRecipient.objects.filter(pk=recipient.pk).exists()
    # Paying it is refused without revealing it, and nothing is created.
    response = client_of.post(reverse("portal:invoices_pay"), {"factures": [theirs.pk]})
    assert response.status_code == 302
    assert not Payment.objects.filter(household=family.household).exists()
    assert not Invoice.objects.exclude(pdf="").exists()


# --- Paying several invoices at once ------------------------------------------------------------------


def test_pay_two_invoices_at_once_through_the_demo_bank(family, client_of, django_capture_on_commit_callbacks):
    response = client_of.post(reverse("portal:invoices_pay"), {"factures": [family.october.pk, family.november.pk]})
    assert response.status_code == 302
    assert response.url.startswith("http://testserver/_banque-demo/dummy/")
    payment = Payment.objects.get(household=family.household)
    assert payment.status == PaymentStatus.PENDING and payment.amount_cents == 1900 + 6300
    allocations = list(payment.allocations.order_by("invoice_id"))
    assert [(a.kind, a.invoice_id, a.amount_cents) for a in allocations] == [
        (AllocationKind.INVOICE, family.october.pk, 1900),
        (AllocationKind.INVOICE, family.november.pk, 6300),
    ]
    attempt = PaymentAttempt.objects.get(payment=payment)
    assert attempt.purpose == AttemptPurpose.INVOICES
    # Several invoices: our generated reference (not one invoice's number).
    assert attempt.reference not in (family.october.number, family.november.number)
    # Pending money does not pay anything yet.
    assert due(family.october) == 1900 and due(family.november) == 6300

    # The bank's signed notification (a fresh client: no session, no CSRF).
    notification = reverse("payments:notification", args=[family.regie.pk])
    with django_capture_on_commit_callbacks(execute=True):
        answer = Client().get(f"{notification}?transaction_id={attempt.external_id}&ok=1&signed=1")
    assert answer.status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID and payment.receipt_number
    assert Payment.objects.filter(household=family.household).count() == 1
    assert payment.allocations.count() == 2
    assert due(family.october) == 0 and due(family.november) == 0
    assert household_account(family.household, with_payments=False).credit_cents == 0
    assert [m.subject for m in mail.outbox] == [f"Reçu de paiement n° {payment.receipt_number}"]
    page = text(client_of.get(reverse("portal:invoices")))
    assert "Aucune facture à payer" in page
    history = page[page.index("Mes factures déjà payées") :]
    assert family.october.number in history and family.november.number in history
    assert "Carte bancaire en ligne" in history and attempt.reference in history


def test_paying_one_invoice_sends_its_number_as_payfip_refdet(family):
    started = invoice_payment.start_invoices_payment(
        household=family.household, invoice_ids=[family.november.pk], actor=family.user, absolute_url=absolute
    )
    assert started.attempt.reference == family.november.number
    assert started.attempt.amount_cents == 6300


def test_a_pending_attempt_locks_its_invoices_with_the_time_to_wait(family, client_of):
    invoice_payment.start_invoices_payment(
        household=family.household, invoice_ids=[family.november.pk], actor=family.user, absolute_url=absolute
    )
    with pytest.raises(PaymentError) as refused:
        invoice_payment.start_invoices_payment(
            household=family.household,
            invoice_ids=[family.october.pk, family.november.pk],
            actor=family.user,
            absolute_url=absolute,
        )
    assert refused.value.code == "locked"
    assert "Un paiement est déjà en cours pour ces factures" in refused.value.message
    assert re.search(r"recommencer à \d\d:\d\d \(dans 30 minutes\)", refused.value.message)
    with pytest.raises(PaymentError) as refused_credit:
        invoice_payment.pay_invoices_with_credit(
            household=family.household, invoice_ids=[family.november.pk], actor=family.user
        )
    assert refused_credit.value.code == "locked"
    assert Payment.objects.filter(household=family.household).count() == 1
    # The page shows the pending invoice without a checkbox, the other one still payable.
    response = client_of.get(reverse("portal:invoices"))
    html, page = response.content.decode(), text(response)
    assert f'name="factures" value="{family.november.pk}"' not in html
    assert f'name="factures" value="{family.october.pk}"' in html
    assert "Paiement en cours" in page and "Un paiement est déjà en cours pour cette facture" in page
    # Through the form: refused with the message, back on the list.
    response = client_of.post(reverse("portal:invoices_pay"), {"factures": [family.november.pk]}, follow=True)
    assert "Un paiement est déjà en cours pour cette facture" in text(response)
    # Another invoice alone is not locked.
    invoice_payment.start_invoices_payment(
        household=family.household, invoice_ids=[family.october.pk], actor=family.user, absolute_url=absolute
    )


def test_a_refused_payment_frees_the_invoices_at_once(family, django_capture_on_commit_callbacks):
    started = invoice_payment.start_invoices_payment(
        household=family.household, invoice_ids=[family.november.pk], actor=family.user, absolute_url=absolute
    )
    notification = reverse("payments:notification", args=[family.regie.pk])
    with django_capture_on_commit_callbacks(execute=True):
        Client().get(f"{notification}?transaction_id={started.attempt.external_id}&signed=1&reason=refus")
    started.attempt.refresh_from_db()
    assert started.attempt.status not in (PaymentStatus.PAID, PaymentStatus.PENDING)
    assert due(family.november) == 6300  # a failed payment's allocation pays nothing
    again = invoice_payment.start_invoices_payment(
        household=family.household, invoice_ids=[family.november.pk], actor=family.user, absolute_url=absolute
    )
    assert again.attempt.pk != started.attempt.pk
    assert again.attempt.reference != family.november.number  # the number was used by the first attempt


def test_a_transferred_invoice_cannot_be_paid_at_the_regie(family, client_of):
    transferred = make_invoice(family.household, family.regie, transferred_at=timezone.now() - dt.timedelta(days=1))
    with pytest.raises(PaymentError) as refused:
        invoice_payment.start_invoices_payment(
            household=family.household,
            invoice_ids=[family.november.pk, transferred.pk],
            actor=family.user,
            absolute_url=absolute,
        )
    assert refused.value.code == "transferred"
    assert "Trésor public" in refused.value.message
    make_paid_payment(family.household, family.regie, 10_000)
    with pytest.raises(PaymentError) as refused_credit:
        invoice_payment.pay_invoices_with_credit(
            household=family.household, invoice_ids=[transferred.pk], actor=family.user
        )
    assert refused_credit.value.code == "transferred"
    assert not Allocation.objects.filter(invoice=transferred).exists()
    response = client_of.get(reverse("portal:invoices"))
    assert f'name="factures" value="{transferred.pk}"' not in response.content.decode()
    assert "Factures transmises au Trésor public" in text(response)
    detail = text(client_of.get(reverse("portal:invoice_detail", args=[transferred.pk])))
    assert "ne peut plus être payée" in detail and "Payer cette facture" not in detail


def test_refusals_other_household_paid_several_regies_empty(family, stranger):
    def start(ids):
        with pytest.raises(PaymentError) as refused:
            invoice_payment.start_invoices_payment(
                household=family.household, invoice_ids=ids, actor=family.user, absolute_url=absolute
            )
        return refused.value.code

    theirs = make_invoice(stranger.household, family.regie, lines=[(stranger.child, "Cantine", 1, 400)])
    assert start([family.november.pk, theirs.pk]) == "not_yours"
    assert start(["abc"]) == "not_yours"
    assert start([]) == "nothing_to_pay"
    pay_invoice_at_desk(family.october)
    assert start([family.october.pk]) == "already_paid"
    other_regie = make_regie(code="SPORT", name="Régie des sports")
    sports = make_invoice(family.household, other_regie)
    assert start([family.november.pk, sports.pk]) == "several_regies"
    offline = make_regie(code="ALSH", name="Régie loisirs", backend="", accepted_means=[Means.CHEQUE])
    assert start([make_invoice(family.household, offline).pk]) == "no_online"
    assert not PaymentAttempt.objects.exists()


# --- Paying with the household's credit ------------------------------------------------------------------


def test_pay_with_credit_allocates_from_the_oldest_payments_all_or_nothing(family, client_of):
    older = make_paid_payment(family.household, family.regie, 5000, paid_at=timezone.now() - dt.timedelta(days=30))
    newer = make_paid_payment(family.household, family.regie, 5000, paid_at=timezone.now() - dt.timedelta(days=2))
    ids = [family.october.pk, family.november.pk]  # 19 € + 63 € = 82 €, covered by 100 € of credit
    # Not enough credit for a third invoice on top: all or nothing.
    extra = make_invoice(family.household, family.regie, lines=[(family.lea, "Séjour", 1, 2000)])
    with pytest.raises(PaymentError) as refused:
        invoice_payment.pay_invoices_with_credit(
            household=family.household, invoice_ids=[*ids, extra.pk], actor=family.user
        )
    assert refused.value.code == "not_enough_credit"
    assert not Allocation.objects.filter(kind=AllocationKind.INVOICE).exists()

    page = text(client_of.get(reverse("portal:invoices")))
    assert "Payer avec mon crédit" in page and "100,00 € auprès de la Régie Enfance" in page
    response = client_of.post(reverse("portal:invoices_pay_with_credit"), {"factures": ids})
    assert response.status_code == 302 and response.url == reverse("portal:invoices")
    assert due(family.october) == 0 and due(family.november) == 0
    allocations = list(Allocation.objects.filter(kind=AllocationKind.INVOICE).order_by("pk"))
    assert [(a.payment_id, a.invoice_id, a.amount_cents) for a in allocations] == [
        (older.pk, family.october.pk, 1900),
        (older.pk, family.november.pk, 3100),
        (newer.pk, family.november.pk, 3200),
    ]
    assert household_account(family.household, with_payments=False).credit_cents == 1800
    assert LogEntry.objects.filter(action="payment.credit_used", household=family.household).count() == 1
    assert not Payment.objects.filter(means=Means.ONLINE).exists()


# --- PDFs --------------------------------------------------------------------------------------------------


def test_the_invoice_pdf_is_rendered_once_then_served_from_its_cache(family, client_of):
    data = pdfs.invoice_pdf(family.november)
    assert data.startswith(b"%PDF")
    invoice = Invoice.objects.get(pk=family.november.pk)
    assert invoice.pdf.name.startswith("factures/") and len(invoice.pdf_sha256) == 64
    sha = invoice.pdf_sha256
    with mock.patch.object(pdfs, "render_pdf", side_effect=AssertionError("rendered again")):
        assert pdfs.invoice_pdf(invoice) == data
        response = client_of.get(reverse("portal:invoice_pdf", args=[invoice.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content == data
    assert f"facture-{invoice.number}.pdf" in response["Content-Disposition"]
    invoice.refresh_from_db()
    assert invoice.pdf_sha256 == sha


def test_a_cached_pdf_that_no_longer_matches_its_hash_is_not_served(family):
    data = pdfs.invoice_pdf(family.november)
    invoice = Invoice.objects.get(pk=family.november.pk)
    with open(invoice.pdf.path, "wb") as tampered:
        tampered.write(b"%PDF-1.7 tampered")
    fresh = pdfs.invoice_pdf(Invoice.objects.get(pk=invoice.pk))
    assert fresh.startswith(b"%PDF") and b"tampered" not in fresh
    assert Invoice.objects.get(pk=invoice.pk).pdf_sha256 == pdfs._sha256(fresh)
    assert len(data) > 1000


def test_the_invoice_carries_the_mandatory_mentions_and_how_to_pay(family):
    pay_invoice_at_desk(family.october, 900, paid_at=timezone.now() - dt.timedelta(days=20))
    markup = pdfs.invoice_html(Invoice.objects.get(pk=family.november.pk))
    markup = re.sub(r"<style>.*?</style>", " ", markup, flags=re.S)
    page = " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())
    assert "FACTURE" in page and family.november.number in page
    assert "Ville-sur-Test" in page and "1 place de la Mairie" in page and "Régie de recettes « Régie Enfance »" in page
    assert "Jean Dupont, Maire, ordonnateur" in page
    assert f"À payer avant le {family.november.due_date:%d/%m/%Y}" in page
    assert "Novembre 2026" in page
    assert "Léa" in page and "Tom" in page and "Restauration scolaire" in page
    assert "10 3,50 € 35,00 €" in page  # quantity, unit price, amount
    assert "Montant de la facture 63,00 €" in page
    # October: 19 € − 9 € paid before November's issue = 10 € previous balance.
    assert "Solde antérieur (factures précédentes non réglées à la date d'émission) 10,00 €" in page
    assert "Total restant dû à la régie à la date d'émission 73,00 €" in page
    assert f"Référence à rappeler pour tout paiement : {family.november.number}" in page
    assert "En ligne, par carte bancaire" in page and "Au guichet de la régie" in page
    assert "Voies et délais de recours" in page and "deux mois" in page and "L1617-5" in page
    assert "{" not in page  # the nested snapshot sections are read, never printed raw
    payer = family.guardian
    assert f"{payer.first_name} {payer.last_name.upper()}" in page and "1 rue des Écoles" in page
    assert f"Réf. famille {family.household.reference}" in page


def test_the_credit_note_pdf(family, client_of):
    credit_note = make_credit_note(family.november, 350)
    markup = pdfs.credit_note_html(credit_note)
    assert "AVOIR" in markup and credit_note.number in markup and family.november.number in markup
    assert "Absence justifiée" in markup and "Voies et délais de recours" in markup
    response = client_of.get(reverse("portal:credit_note_pdf", args=[credit_note.pk]))
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    credit_note.refresh_from_db()
    assert credit_note.pdf and len(credit_note.pdf_sha256) == 64


# --- E-mail when an invoice is issued --------------------------------------------------------------------


def test_the_issued_invoice_is_mailed_to_the_guardians_and_the_extra_addresses(
    family, django_capture_on_commit_callbacks
):
    GuardianFactory(household=family.household, email="dominique@example.org", is_payer=False)
    InvoiceRecipient.objects.create(household=family.household, email="grand-mere@example.org")
    InvoiceRecipient.objects.create(household=family.household, email="Camille@Example.org")  # already a guardian
    with django_capture_on_commit_callbacks(execute=True):
        billing_emails.send_invoice_issued(family.november)
    subject = f"Votre facture n° {family.november.number} est disponible"
    assert sorted(m.to[0] for m in mail.outbox) == [
        "camille@example.org",
        "dominique@example.org",
        "grand-mere@example.org",
    ]
    for message in mail.outbox:
        assert message.subject == subject and len(message.to) == 1 and not message.cc and not message.bcc
        [(filename, content, mimetype)] = message.attachments
        assert filename == f"facture-{family.november.number}.pdf" and mimetype == "application/pdf"
        assert content.startswith(b"%PDF")
        assert "63,00 €" in message.body and reverse("portal:invoice_detail", args=[family.november.pk]) in message.body
    invoice = Invoice.objects.get(pk=family.november.pk)
    assert invoice.emailed_at is not None and invoice.pdf_sha256
    # Once: a second call (a re-run of the invoicing) sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        billing_emails.send_invoice_issued(invoice)
    assert len(mail.outbox) == 3


def test_a_failed_sending_can_be_tried_again(family):
    with mock.patch.object(billing_emails.EmailMessage, "send", side_effect=OSError("smtp down")):
        with pytest.raises(OSError):
            billing_emails.deliver_invoice_issued(family.november.pk)
    assert Invoice.objects.get(pk=family.november.pk).emailed_at is None
    assert billing_emails.deliver_invoice_issued(family.november.pk) is True
    assert len(mail.outbox) == 1


def test_the_credit_note_is_mailed_with_its_pdf(family, django_capture_on_commit_callbacks):
    InvoiceRecipient.objects.create(household=family.household, email="papi@example.org")
    credit_note = make_credit_note(family.november, 350)
    with django_capture_on_commit_callbacks(execute=True):
        billing_emails.send_credit_note_issued(credit_note)
    assert sorted(m.to[0] for m in mail.outbox) == ["camille@example.org", "papi@example.org"]
    assert mail.outbox[0].subject == f"Votre avoir n° {credit_note.number} est disponible"
    assert mail.outbox[0].attachments[0][1].startswith(b"%PDF")
    credit_note.refresh_from_db()
    assert credit_note.emailed_at is not None


# --- Extra recipients ---------------------------------------------------------------------------------------


def test_extra_recipients_at_most_three_validated_and_audited(family, client_of):
    url = reverse("portal:invoice_recipients")
    assert "Destinataires des factures" in text(client_of.get(url))
    for address in ("papi@example.org", "mamie@example.org", "nounou@example.org"):
        response = client_of.post(url, {"email": address})
        assert response.status_code == 302, text(response)
    assert InvoiceRecipient.objects.filter(household=family.household).count() == 3
    response = client_of.post(url, {"email": "quatrieme@example.org"})
    assert response.status_code == 400
    assert "déjà 3 adresses" in text(response)
    assert InvoiceRecipient.objects.filter(household=family.household).count() == 3
    # Validation: a malformed address, a duplicate (any case), a guardian's own address.
    recipient = InvoiceRecipient.objects.get(email="nounou@example.org")
    response = client_of.post(reverse("portal:invoice_recipient_remove", args=[recipient.pk]))
    assert response.status_code == 302
    assert client_of.post(url, {"email": "pas-une-adresse"}).status_code == 400
    assert "reçoit déjà" in text(client_of.post(url, {"email": "PAPI@example.org"}))
    assert "responsable du foyer" in text(client_of.post(url, {"email": "camille@example.org"}))
    assert sorted(InvoiceRecipient.objects.filter(household=family.household).values_list("email", flat=True)) == [
        "mamie@example.org",
        "papi@example.org",
    ]
    assert LogEntry.objects.filter(action="billing.recipient_added", household=family.household).count() == 3
    assert LogEntry.objects.filter(action="billing.recipient_removed", household=family.household).count() == 1


# --- Statement and per-enrolment detail ----------------------------------------------------------------------


def test_the_running_statement_ends_on_credit_minus_due(family, client_of):
    pay_invoice_at_desk(family.october, 1900, paid_at=timezone.now() - dt.timedelta(days=30))
    make_paid_payment(family.household, family.regie, 1000)  # unallocated: credit
    response = client_of.get(reverse("portal:invoice_statement"))
    page = text(response)
    assert family.october.number in page and family.november.number in page
    # Debits 19 + 63, credits 19 + 10: 53 € owed.
    assert "Solde de votre compte 53,00 € restant dû" in page
    account = household_account(family.household, with_payments=False)
    assert account.credit_cents - due(family.november) == -5300


def test_financial_detail_per_enrolment(family, client_of):
    activity = ActivityFactory(name="Accueil périscolaire")
    enrolment = EnrolmentFactory(child=family.lea, group=GroupFactory(activity=activity))
    month = dt.date(2026, 10, 1)  # the line is dated 1 October 2026, inside the enrolment's period
    assert enrolment.period.start_date <= month <= enrolment.period.end_date
    invoice = make_invoice(
        family.household, family.regie, month=month, lines=[(family.lea, "Forfait", 1, 4500)], activity=activity
    )
    response = client_of.get(reverse("portal:invoice_enrolments"))
    page = text(response)
    assert "Accueil périscolaire" in page and "45,00 €" in page and invoice.number in page
    detail = text(client_of.get(reverse("portal:invoice_enrolment_detail", args=[enrolment.pk])))
    assert "Forfait" in detail and f"n° {invoice.number}" in detail and "reste 45,00 €" in detail


@pytest.mark.parametrize(("paid_at_desk", "moved"), [(6300, 6300), (3000, 3000)])
def test_paid_online_after_a_desk_payment_the_excess_stays_as_credit(family, paid_at_desk, moved):
    started = invoice_payment.start_invoices_payment(
        household=family.household,
        invoice_ids=[family.october.pk, family.november.pk],
        actor=family.user,
        absolute_url=absolute,
    )
    pay_invoice_at_desk(family.november, paid_at_desk)  # while the family is at the bank
    notification = reverse("payments:notification", args=[family.regie.pk])
    Client().get(f"{notification}?transaction_id={started.attempt.external_id}&ok=1&signed=1")
    payment = Payment.objects.get(pk=started.attempt.payment_id)
    assert payment.status == PaymentStatus.PAID
    # The notification settled it (services._settle_paid calls settle_invoices); again is a no-op.
    assert invoice_payment.settle_invoices(payment, started.attempt, timezone.now()) == 0
    assert due(family.october) == 0 and due(family.november) == 0
    assert household_account(family.household, with_payments=False).credit_cents == moved
    incident = PaymentIncident.objects.get(payment=payment)
    assert family.november.number in incident.details and "restent en crédit" in incident.details


def test_pending_invoices_are_mailed_by_the_catch_up_job(family, stranger):
    stranger.guardian.email = ""
    stranger.guardian.save(update_fields=["email"])
    make_invoice(stranger.household, family.regie, lines=[(stranger.child, "Cantine", 1, 400)])  # no address
    assert billing_emails.deliver_pending_invoices() == 2
    assert sorted(m.subject for m in mail.outbox) == sorted(
        f"Votre facture n° {invoice.number} est disponible" for invoice in (family.october, family.november)
    )
    assert billing_emails.deliver_pending_invoices() == 0
