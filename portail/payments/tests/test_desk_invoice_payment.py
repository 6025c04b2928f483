"""A payment at the desk for chosen invoices: it pays them oldest first as far as it goes, the rest is
credit; a wrong régie or an invoice already paid refuses the whole payment (nothing recorded); the staff
form lists the household's invoices to pay; a form sent twice allocates once."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from portail.billing import invoicing
from portail.billing.selectors import invoice_due_cents
from portail.core.models import LogEntry
from portail.payments.errors import PaymentError
from portail.payments.models import Allocation, Means, Payment
from portail.payments.offline import record_offline_payment
from portail.payments.services import credit_for
from tests.factories import GuardianFactory, HouseholdFactory, StaffFactory
from tests.payment_factories import RegieFactory

from .test_staff_views import desk, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def regie():
    return RegieFactory(name="Régie enfance", code="01A", accepted_means=[Means.CHEQUE, Means.CASH])


@pytest.fixture
def household():
    household = HouseholdFactory(reference="F000123")
    GuardianFactory(household=household, first_name="Camille", last_name="Martin", is_payer=True)
    return household


@pytest.fixture
def agent():
    return StaffFactory(role="Régisseur")


def invoice(regie, household, cents, agent, label="Accueil périscolaire"):
    today = timezone.localdate()
    return invoicing.issue_one_off_invoice(
        regie=regie,
        household=household,
        label=label,
        amount_cents=cents,
        actor=agent,
        due_date=today + dt.timedelta(days=30),
    )


def cheque(regie, household, agent, cents, invoice_ids, **kwargs):
    return record_offline_payment(
        regie=regie,
        household=household,
        means=Means.CHEQUE,
        amount_cents=cents,
        actor=agent,
        reference="0001234",
        cheque_bank="La Banque Postale",
        invoice_ids=invoice_ids,
        **kwargs,
    )


def test_a_cheque_pays_the_oldest_invoice_first_and_the_last_one_in_part(regie, household, agent):
    october = invoice(regie, household, 4150, agent)
    november = invoice(regie, household, 6490, agent)
    payment = cheque(regie, household, agent, 10000, [november.pk, october.pk])
    assert invoice_due_cents(october) == 0
    assert invoice_due_cents(november) == 640
    assert credit_for(household, regie) == 0
    entry = LogEntry.objects.get(action="payment.allocated")
    assert entry.after == {"invoices": {october.number: 4150, november.number: 5850}, "credit_left_cents": 0}
    assert payment.receipt_number in entry.message


def test_what_is_left_over_stays_as_credit(regie, household, agent):
    october = invoice(regie, household, 4150, agent)
    cheque(regie, household, agent, 5000, [october.pk])
    assert invoice_due_cents(october) == 0
    assert credit_for(household, regie) == 850


@pytest.mark.parametrize("case", ["other_regie", "already_paid", "another_household"])
def test_a_refused_allocation_records_nothing(regie, household, agent, case):
    if case == "other_regie":
        target = invoice(RegieFactory(name="Régie sports", code="02B"), household, 4150, agent)
    elif case == "already_paid":
        target = invoice(regie, household, 4150, agent)
        cheque(regie, household, agent, 4150, [target.pk])
    else:
        other = HouseholdFactory(reference="F000999")
        GuardianFactory(household=other, is_payer=True)
        target = invoice(regie, other, 4150, agent)
    before = Payment.objects.count()
    with pytest.raises(PaymentError) as refused:
        cheque(regie, household, agent, 4150, [target.pk], idempotency_key="k" * 32)
    assert refused.value.code in {"other_regie", "already_paid", "not_yours"}
    assert Payment.objects.count() == before  # the payment itself was rolled back with its allocation


def test_the_staff_form_lists_the_invoices_to_pay_and_pays_them(client, regie, household, agent):
    cashier = login(client)
    october = invoice(regie, household, 4150, agent)
    url = reverse("backoffice:payment_record", args=[household.pk])
    page = cashier.get(url).content.decode()
    assert "<legend>Factures réglées par ce paiement</legend>" in page
    assert f"n° {october.number}" in page and "reste 41,50 €" in page
    data = desk(regie, montant="41,50", factures=[october.pk])
    cashier.post(url, data)
    cashier.post(url, data)  # sent twice: one payment, one allocation
    assert Payment.objects.count() == 1
    assert Allocation.objects.filter(invoice=october).count() == 1
    assert invoice_due_cents(october) == 0
    assert f"n° {october.number}" not in cashier.get(url).content.decode()  # paid: no longer offered


def test_the_form_shows_a_refusal_on_the_invoices(client, regie, household, agent):
    cashier = login(client)
    other_regie = RegieFactory(name="Régie sports", code="02B", accepted_means=[Means.CHEQUE])
    sports = invoice(other_regie, household, 4150, agent)
    url = reverse("backoffice:payment_record", args=[household.pk])
    response = cashier.post(url, desk(regie, montant="41,50", factures=[sports.pk]))
    assert response.status_code == 200
    assert response.context["form"].errors["factures"] == [
        "Ces factures sont à payer à la Régie sports : enregistrez le paiement sur cette régie."
    ]
    assert not Payment.objects.exists()
