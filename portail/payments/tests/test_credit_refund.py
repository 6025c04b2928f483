"""Credit handed back to the family (trop-perçu, avoir) by a mandat: taken from the oldest money, no
longer spendable, never more than the credit, with a reason; audited; the régisseur's form on the
household's invoices page."""

import pytest
from django.urls import reverse

from portail.accounts import roles
from portail.core.models import LogEntry
from portail.payments.errors import PaymentError
from portail.payments.models import Allocation, AllocationKind, Means
from portail.payments.offline import record_offline_payment, refund_credit
from portail.payments.selectors import household_account
from portail.payments.services import credit_for
from portail.portal.views_invoices import statement_rows
from tests.factories import GuardianFactory, HouseholdFactory, StaffFactory
from tests.payment_factories import RegieFactory, payment_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def regie():
    return RegieFactory(name="Régie enfance", code="01A", accepted_means=[Means.CHEQUE, Means.CASH])


@pytest.fixture
def household():
    household = HouseholdFactory(reference="F000123")
    GuardianFactory(household=household, is_payer=True)
    return household


def cash(regie, household, cents):
    return record_offline_payment(
        regie=regie, household=household, means=Means.CASH, amount_cents=cents, actor=StaffFactory(), notify=False
    )


def test_credit_is_refunded_oldest_money_first_and_no_longer_spendable(regie, household):
    first, second = cash(regie, household, 500), cash(regie, household, 900)
    allocations = refund_credit(
        household=household, regie=regie, amount_cents=1000, actor=None, reason="Trop-perçu, mandat n° 2026-0412"
    )
    assert [(a.payment_id, a.amount_cents, a.kind) for a in allocations] == [
        (first.pk, 500, AllocationKind.REFUND),
        (second.pk, 500, AllocationKind.REFUND),
    ]
    assert credit_for(household, regie) == 400
    assert household_account(household, with_payments=False).credit_cents == 400
    rows = statement_rows(household)  # the family's "Relevé de compte"
    assert [row.label for row in rows if row.debit_cents] == ["Remboursement du crédit"] * 2
    assert rows[-1].balance_cents == 400
    entry = LogEntry.objects.get(action="payment.credit_refunded")
    assert entry.after["amount_cents"] == 1000 and "mandat n° 2026-0412" in entry.message


@pytest.mark.parametrize(
    ("cents", "reason", "code"),
    [(401, "Mandat 12", "not_enough_credit"), (0, "Mandat 12", "bad_amount"), (100, "  ", "reason_required")],
)
def test_refusals_change_nothing(regie, household, cents, reason, code):
    cash(regie, household, 400)
    with pytest.raises(PaymentError) as refused:
        refund_credit(household=household, regie=regie, amount_cents=cents, actor=None, reason=reason)
    assert refused.value.code == code
    assert not Allocation.objects.exists() and credit_for(household, regie) == 400


def test_credit_is_per_regie(regie, household):
    other = RegieFactory(name="Régie sports", code="02B", accepted_means=[Means.CASH])
    cash(other, household, 900)
    with pytest.raises(PaymentError, match="Régie enfance est de 0,00"):
        refund_credit(household=household, regie=regie, amount_cents=100, actor=None, reason="Mandat 12")


def test_the_regisseur_refunds_from_the_household_invoices_page(client, regie, household):
    cash(regie, household, 1360)
    page_url = reverse("backoffice:billing_household_invoices", args=[household.pk])
    url = reverse("backoffice:billing_credit_refund", args=[household.pk])
    client.force_login(payment_staff(roles.MANAGER))  # reads, does not refund
    assert "Rembourser le crédit" not in client.get(page_url).content.decode()
    assert client.post(url, {"regie": regie.pk, "montant": "13,60", "motif": "Mandat 7"}).status_code == 403
    client.force_login(payment_staff(roles.CASHIER))
    assert "Rembourser le crédit" in client.get(page_url).content.decode()
    refused = client.post(url, {"regie": regie.pk, "montant": "20,00", "motif": "Mandat 7"}, follow=True)
    assert "impossible de rembourser 20,00 €" in refused.content.decode()
    done = client.post(url, {"regie": regie.pk, "montant": "13,60", "motif": "Mandat 7"}, follow=True)
    assert "Crédit remboursé : 13,60 € (Régie enfance)." in done.content.decode()
    assert credit_for(household, regie) == 0
    assert "Rembourser le crédit" not in client.get(page_url).content.decode()  # nothing left to refund
