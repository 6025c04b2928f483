"""A record per SEPA direct debit: the file is kept (batch, SHA-256, message id) with one debit per
invoice; a submitted debit keeps its invoice out of other files and out of the family's online and
credit payments ("Prélèvement prévu le …"); staff mark the batch collected (one "sepa" payment per
debit, receipt, allocation) or a debit rejected (the invoice is due again, an incident, FRST stays
FRST). One transaction per action, audited."""

import datetime as dt
import hashlib
import html as htmllib
import re
from unittest import mock

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from lxml import etree

from portail.accounts import roles
from portail.billing import sepa
from portail.billing.models import SepaMandate
from portail.billing.selectors import invoice_due_cents
from portail.billing.tests.factories import make_invoice, make_paid_payment, make_regie, pay_invoice_at_desk
from portail.core.models import LogEntry
from portail.payments import direct_debits, invoice_payment
from portail.payments.errors import PaymentError
from portail.payments.models import (
    AllocationKind,
    DebitBatchStatus,
    DebitStatus,
    DirectDebit,
    DirectDebitBatch,
    IncidentKind,
    Means,
    Payment,
    PaymentIncident,
    PaymentStatus,
)
from tests.factories import make_family
from tests.payment_factories import payment_staff

pytestmark = pytest.mark.django_db

ICS = "FR72ZZZ123456"
DEBTOR_IBAN = "FR1420041010050500013M02606"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}


def absolute(path):
    return f"http://testserver{path}"


def text(response) -> str:
    markup = response.content.decode()
    if "<main" in markup:
        markup = markup[markup.index("<main") :]
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def regie():
    return make_regie(
        accepted_means=[Means.ONLINE, Means.CHEQUE, Means.DIRECT_DEBIT],
        sepa_ics=ICS,
        sepa_iban="FR7630001007941234567890185",
        sepa_bic="BDFEFRPPCCT",
    )


@pytest.fixture
def agent():
    return payment_staff(roles.CASHIER)


class Debited:
    """A household with an active mandate and an invoice issued 20 days ago."""

    def __init__(self, regie, agent, total_lines=None):
        self.household, self.guardian, (self.child,) = make_family(children=1)
        self.user = self.guardian.user
        self.mandate = sepa.create_mandate(
            regie=regie,
            household=self.household,
            debtor_name=self.guardian.full_name,
            iban=DEBTOR_IBAN,
            signed_on=timezone.localdate() - dt.timedelta(days=60),
            actor=agent,
        )
        self.invoice = make_invoice(
            self.household,
            regie,
            lines=total_lines or [(self.child, "Restauration scolaire", 10, 350)],
            issued_at=timezone.now() - dt.timedelta(days=20),
        )


def collection_day(days=3):
    return timezone.localdate() + dt.timedelta(days=days)


def make_batch(regie, agent, invoices, days=3):
    return sepa.generate_collection(
        regie=regie,
        invoices=invoices,
        collection_date=collection_day(days),
        creditor=sepa.creditor_for(regie),
        actor=agent,
    )


def after_collection(days=4):
    """Travel to the day after the collection date (the bank has credited the régie)."""
    return time_machine.travel(timezone.now() + dt.timedelta(days=days), tick=True)


# --- the record of a file ---------------------------------------------------------------------------


def test_the_file_is_recorded_with_one_submitted_debit_per_invoice(regie, agent):
    first, second = Debited(regie, agent), Debited(regie, agent)
    batch = make_batch(regie, agent, [first.invoice, second.invoice])

    assert batch.status == DebitBatchStatus.SUBMITTED and batch.collection_date == collection_day()
    assert batch.created_by == agent and batch.total_cents == 3500 + 3500
    with batch.file.open("rb") as stored:
        content = stored.read()
    assert content == batch.content and hashlib.sha256(content).hexdigest() == batch.sha256
    document = etree.fromstring(content)
    assert document.xpath("//p:GrpHdr/p:MsgId/text()", namespaces=NS) == [batch.message_id]
    debits = list(batch.debits.order_by("invoice_id"))
    assert [(d.invoice, d.mandate, d.amount_cents, d.sequence, d.end_to_end_id, d.status) for d in debits] == [
        (first.invoice, first.mandate, 3500, "FRST", first.invoice.number, DebitStatus.SUBMITTED),
        (second.invoice, second.mandate, 3500, "FRST", second.invoice.number, DebitStatus.SUBMITTED),
    ]
    assert LogEntry.objects.filter(action="sepa.batch_created", object_id=str(batch.pk)).count() == 1
    assert LogEntry.objects.filter(action=sepa.DEBIT_ACTION, after__batch=batch.pk).count() == 2


def test_an_invoice_in_a_submitted_debit_is_in_no_other_file(regie, agent):
    debited = Debited(regie, agent)
    make_batch(regie, agent, [debited.invoice])
    ready, refused = sepa.collectable_invoices(regie, collection_day(30))
    assert debited.invoice not in [debit.invoice for debit in ready]
    with pytest.raises(sepa.SepaError) as refusal:
        sepa.direct_debit_file(regie, [debited.invoice], collection_day(30), sepa.creditor_for(regie))
    assert "déjà dans un fichier" in refusal.value.message
    # The database says so too.
    other = DirectDebitBatch.objects.create(
        regie=regie, collection_date=collection_day(40), message_id="PRLVTEST2", sha256="0" * 64
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        DirectDebit.objects.create(
            batch=other,
            invoice=debited.invoice,
            mandate=debited.mandate,
            amount_cents=100,
            sequence="RCUR",
            end_to_end_id=debited.invoice.number,
        )


def test_an_invoice_being_paid_online_is_not_debited(regie, agent):
    debited = Debited(regie, agent)
    invoice_payment.start_invoices_payment(
        household=debited.household, invoice_ids=[debited.invoice.pk], actor=debited.user, absolute_url=absolute
    )
    ready, refused = sepa.collectable_invoices(regie, collection_day())
    assert ready == [] and "paiement en ligne" in refused[0][1]


# --- the family cannot pay it -------------------------------------------------------------------------


def test_the_family_cannot_pay_a_debited_invoice_online_nor_with_its_credit(regie, agent, client):
    debited = Debited(regie, agent)
    other = make_invoice(debited.household, regie, lines=[(debited.child, "Accueil du soir", 2, 250)])
    make_batch(regie, agent, [debited.invoice])
    day = f"{collection_day():%d/%m/%Y}"

    with pytest.raises(PaymentError) as refused:
        invoice_payment.start_invoices_payment(
            household=debited.household,
            invoice_ids=[debited.invoice.pk, other.pk],
            actor=debited.user,
            absolute_url=absolute,
        )
    assert refused.value.code == "direct_debit"
    assert f"sera prélevée le {day}" in refused.value.message
    make_paid_payment(debited.household, regie, 10_000)
    with pytest.raises(PaymentError) as refused:
        invoice_payment.pay_invoices_with_credit(
            household=debited.household, invoice_ids=[debited.invoice.pk], actor=debited.user
        )
    assert refused.value.code == "direct_debit"
    assert not Payment.objects.filter(household=debited.household, means=Means.ONLINE).exists()

    client.force_login(debited.user)
    response = client.get(reverse("portal:invoices"))
    html, page = response.content.decode(), text(response)
    assert f"Prélèvement prévu le {day}" in page
    assert f'name="factures" value="{debited.invoice.pk}"' not in html
    assert f'name="factures" value="{other.pk}"' in html  # the other invoice stays payable
    detail = text(client.get(reverse("portal:invoice_detail", args=[debited.invoice.pk])))
    assert f"Prélèvement prévu le {day}" in detail and "Payer cette facture" not in detail
    # Through the form: refused with the message.
    response = client.post(reverse("portal:invoices_pay"), {"factures": [debited.invoice.pk]}, follow=True)
    assert f"sera prélevée le {day}" in text(response)


# --- collected ----------------------------------------------------------------------------------------


def test_staff_mark_the_batch_collected_one_payment_per_debit(regie, agent, django_capture_on_commit_callbacks):
    first, second = Debited(regie, agent), Debited(regie, agent)
    batch = make_batch(regie, agent, [first.invoice, second.invoice])
    with pytest.raises(PaymentError) as refused:
        direct_debits.mark_batch_collected(batch=batch, actor=agent)
    assert refused.value.code == "too_early"
    assert not Payment.objects.filter(means=Means.DIRECT_DEBIT).exists()

    with after_collection(), django_capture_on_commit_callbacks(execute=True):
        payments = direct_debits.mark_batch_collected(batch=batch, actor=agent)

    assert len(payments) == 2
    for payment, debited in zip(payments, (first, second), strict=True):
        assert payment.means == Means.DIRECT_DEBIT and payment.status == PaymentStatus.PAID
        assert payment.amount_cents == 3500 and payment.receipt_number.startswith(f"R{regie.code}")
        assert payment.household == debited.household and payment.reference == debited.invoice.number
        assert timezone.localtime(payment.paid_at).date() == collection_day()
        allocation = payment.allocations.get()
        assert (allocation.kind, allocation.invoice, allocation.amount_cents) == (
            AllocationKind.INVOICE,
            debited.invoice,
            3500,
        )
        assert invoice_due_cents(debited.invoice) == 0
    batch.refresh_from_db()
    assert batch.status == DebitBatchStatus.COLLECTED and batch.collected_by == agent
    assert sorted(batch.debits.values_list("status", "payment_id")) == sorted(
        (DebitStatus.COLLECTED, payment.pk) for payment in payments
    )
    assert LogEntry.objects.filter(action="sepa.batch_collected", object_id=str(batch.pk)).count() == 1
    assert LogEntry.objects.filter(action="sepa.debit_collected").count() == 2
    with pytest.raises(PaymentError) as refused:
        direct_debits.mark_batch_collected(batch=batch, actor=agent)
    assert refused.value.code == "already_collected"


def test_collecting_is_all_or_nothing(regie, agent):
    first, second = Debited(regie, agent), Debited(regie, agent)
    batch = make_batch(regie, agent, [first.invoice, second.invoice])
    real = direct_debits.give_receipt_number
    calls = []

    def failing(payment):
        calls.append(payment)
        if len(calls) == 2:
            raise RuntimeError("disque plein")
        return real(payment)

    with after_collection(), mock.patch.object(direct_debits, "give_receipt_number", failing):
        with pytest.raises(RuntimeError):
            direct_debits.mark_batch_collected(batch=batch, actor=agent)
    assert not Payment.objects.filter(means=Means.DIRECT_DEBIT).exists()
    batch.refresh_from_db()
    assert batch.status == DebitBatchStatus.SUBMITTED
    assert set(batch.debits.values_list("status", flat=True)) == {DebitStatus.SUBMITTED}
    assert not LogEntry.objects.filter(action__in=["sepa.batch_collected", "sepa.debit_collected"]).exists()


def test_an_invoice_paid_meanwhile_at_the_desk_leaves_the_debit_as_credit(regie, agent):
    debited = Debited(regie, agent)
    batch = make_batch(regie, agent, [debited.invoice])
    pay_invoice_at_desk(debited.invoice, 1000)
    with after_collection():
        (payment,) = direct_debits.mark_batch_collected(batch=batch, actor=agent)
    assert payment.amount_cents == 3500 and payment.allocations.get().amount_cents == 2500
    assert invoice_due_cents(debited.invoice) == 0
    assert PaymentIncident.objects.filter(payment=payment).exists()  # 10,00 € left as credit


# --- rejected -----------------------------------------------------------------------------------------


def test_a_rejected_first_debit_reopens_the_invoice_and_stays_frst(regie, agent):
    debited = Debited(regie, agent)
    batch = make_batch(regie, agent, [debited.invoice])
    debit = batch.debits.get()
    debited.mandate.refresh_from_db()
    assert debited.mandate.last_collected_on == collection_day()

    with pytest.raises(PaymentError) as refused:
        direct_debits.reject_debit(debit=debit, actor=agent, reason="  ")
    assert refused.value.code == "reason_required"
    direct_debits.reject_debit(debit=debit, actor=agent, reason="AM04 provision insuffisante")

    debit.refresh_from_db()
    assert debit.status == DebitStatus.REJECTED and debit.rejection_reason == "AM04 provision insuffisante"
    assert debit.payment is None and invoice_due_cents(debited.invoice) == 3500
    incident = PaymentIncident.objects.get(kind=IncidentKind.DIRECT_DEBIT_REJECTED)
    assert incident.household == debited.household and "AM04" in incident.details
    entry = LogEntry.objects.get(action="sepa.debit_rejected", object_id=str(debit.pk))
    assert entry.before["status"] == "submitted" and entry.after["status"] == "rejected"
    # The next sequence of this mandate is FRST again (EPC), and the invoice may be debited again.
    debited.mandate.refresh_from_db()
    assert debited.mandate.last_collected_on is None
    ready, _ = sepa.collectable_invoices(regie, collection_day(10))
    assert [(d.invoice, d.sequence) for d in ready] == [(debited.invoice, "FRST")]
    # The family may pay it online again.
    started = invoice_payment.start_invoices_payment(
        household=debited.household, invoice_ids=[debited.invoice.pk], actor=debited.user, absolute_url=absolute
    )
    assert started.attempt.amount_cents == 3500
    with pytest.raises(PaymentError) as refused:
        direct_debits.reject_debit(debit=debit, actor=agent, reason="encore")
    assert refused.value.code == "already_rejected"


def test_a_rejected_recurring_debit_keeps_the_mandate_recurring(regie, agent):
    debited = Debited(regie, agent)
    SepaMandate.objects.filter(pk=debited.mandate.pk).update(last_collected_on=timezone.localdate())
    batch = make_batch(regie, agent, [debited.invoice])
    debit = batch.debits.get()
    assert debit.sequence == "RCUR"
    direct_debits.reject_debit(debit=debit, actor=agent, reason="MD06 contestation du débiteur")
    debited.mandate.refresh_from_db()
    assert debited.mandate.last_collected_on == collection_day()
    ready, _ = sepa.collectable_invoices(regie, collection_day(10))
    assert [(d.invoice, d.sequence) for d in ready] == [(debited.invoice, "RCUR")]


def test_a_debit_returned_after_collection_cancels_its_payment(regie, agent):
    debited = Debited(regie, agent)
    batch = make_batch(regie, agent, [debited.invoice])
    with after_collection():
        (payment,) = direct_debits.mark_batch_collected(batch=batch, actor=agent)
        assert invoice_due_cents(debited.invoice) == 0
        direct_debits.reject_debit(debit=batch.debits.get(), actor=agent, reason="AC04 compte clôturé")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED and "AC04" in payment.refund_reason
    assert invoice_due_cents(debited.invoice) == 3500
    assert batch.debits.get().status == DebitStatus.REJECTED
    assert LogEntry.objects.filter(action="payment.refunded", object_id=str(payment.pk)).exists()
    assert PaymentIncident.objects.filter(kind=IncidentKind.DIRECT_DEBIT_REJECTED, payment=payment).exists()


def test_a_debit_rejected_before_collection_gets_no_payment(regie, agent):
    first, second = Debited(regie, agent), Debited(regie, agent)
    batch = make_batch(regie, agent, [first.invoice, second.invoice])
    direct_debits.reject_debit(debit=batch.debits.get(invoice=first.invoice), actor=agent, reason="AC04")
    with after_collection():
        payments = direct_debits.mark_batch_collected(batch=batch, actor=agent)
    assert [payment.household for payment in payments] == [second.household]
    assert invoice_due_cents(first.invoice) == 3500 and invoice_due_cents(second.invoice) == 0


# --- staff pages ----------------------------------------------------------------------------------------


def test_staff_pages_list_download_collect_and_reject(client, regie, agent):
    first, second = Debited(regie, agent), Debited(regie, agent)
    client.force_login(agent)
    response = client.post(
        reverse("backoffice:sepa_collection"),
        {
            "regie": regie.pk,
            "date_prelevement": collection_day().isoformat(),
            "factures": [first.invoice.pk, second.invoice.pk],
        },
    )
    assert response["Content-Type"] == "application/xml"
    batch = DirectDebitBatch.objects.get()
    assert response.content == batch.file.open("rb").read()

    assert batch.message_id in text(client.get(reverse("backoffice:debit_batches")))
    page = text(client.get(reverse("backoffice:debit_batch", args=[batch.pk])))
    assert first.invoice.number in page and "Prélèvement prévu" in page
    assert "pourra être marqué encaissé" in page  # not before the collection date
    download = client.get(reverse("backoffice:debit_batch_file", args=[batch.pk]))
    assert download.status_code == 200 and download.content == response.content

    reject_url = reverse("backoffice:debit_reject", args=[batch.debits.get(invoice=first.invoice).pk])
    assert "motif du rejet" in text(client.post(reject_url, {"reason": ""}, follow=True))
    assert client.post(reject_url, {"reason": "AM04 provision insuffisante"}).status_code == 302
    assert batch.debits.get(invoice=first.invoice).status == DebitStatus.REJECTED

    collect_url = reverse("backoffice:debit_batch_collect", args=[batch.pk])
    assert "à partir de cette date" in text(client.post(collect_url, follow=True))
    with after_collection():
        client.force_login(agent)  # four days later: a new session (session timeouts)
        response = client.post(collect_url)
        assert response.status_code == 302 and response.url == reverse("backoffice:debit_batch", args=[batch.pk])
    batch.refresh_from_db()
    assert batch.status == DebitBatchStatus.COLLECTED
    assert Payment.objects.filter(means=Means.DIRECT_DEBIT, household=second.household).count() == 1

    # A stored file that no longer matches its SHA-256 is not served.
    with open(batch.file.path, "ab") as stored:
        stored.write(b"<!-- changed -->")
    assert client.get(reverse("backoffice:debit_batch_file", args=[batch.pk])).status_code == 404


def test_direct_debit_pages_need_the_change_payment_permission(client, regie, agent):
    debited = Debited(regie, agent)
    batch = make_batch(regie, agent, [debited.invoice])
    client.force_login(payment_staff(roles.MANAGER))  # sees payments, does not handle them
    for url in (
        reverse("backoffice:debit_batches"),
        reverse("backoffice:debit_batch", args=[batch.pk]),
        reverse("backoffice:debit_batch_file", args=[batch.pk]),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("backoffice:debit_batch_collect", args=[batch.pk])).status_code == 403
    assert (
        client.post(reverse("backoffice:debit_reject", args=[batch.debits.get().pk]), {"reason": "x"}).status_code
        == 403
    )
    assert batch.debits.get().status == DebitStatus.SUBMITTED
