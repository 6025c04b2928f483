"""One-off invoice lines that are childcare: a régisseur's "Régularisation accueil périscolaire" for a
child counts in the attestation fiscale (service and staff form); care billed to no child is refused."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from portail.accounts import roles
from portail.billing import invoicing
from portail.billing.errors import BillingError
from portail.billing.models import Invoice
from portail.billing.tax_certificate import certificate_amounts
from portail.payments import invoice_payment, offline
from portail.payments.models import Means

from .test_invoicing import World
from .test_staff_billing import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return World()


def young_family(world):
    """A household whose child is under 6 on 1 January of this year (born three years before)."""
    household, guardian, (kid,) = world.family(birth_date=dt.date(timezone.localdate().year - 3, 3, 2))
    return household, kid


def pay_at_the_desk(world, household, invoice):
    """A cheque received today, then allocated to the invoice (the régisseur's two steps)."""
    offline.record_offline_payment(
        regie=world.regie,
        household=household,
        means=Means.CHEQUE,
        amount_cents=invoice.total_cents,
        actor=None,
        reference="1234567",
        cheque_bank="Banque test",
    )
    invoice_payment.pay_invoices_with_credit(household=household, invoice_ids=[invoice.pk], actor=None)


def one_off(world, household, **kwargs):
    kwargs.setdefault("label", "Régularisation accueil périscolaire")
    kwargs.setdefault("amount_cents", 4280)
    return invoicing.issue_one_off_invoice(
        regie=world.regie,
        household=household,
        actor=None,
        due_date=timezone.localdate() + dt.timedelta(days=30),
        **kwargs,
    )


def test_a_childcare_one_off_line_counts_in_the_attestation(world):
    household, kid = young_family(world)
    invoice = one_off(world, household, child=kid, childcare=True)
    assert invoice.lines.get().childcare_eligible
    pay_at_the_desk(world, household, invoice)

    amounts = certificate_amounts(household, world.regie, timezone.localdate().year)
    assert [(a.child_name, a.paid_cents, a.cesu_cents) for a in amounts] == [(kid.full_name, 4280, 0)]


def test_a_one_off_line_is_not_childcare_unless_asked(world):
    household, kid = young_family(world)
    invoice = one_off(world, household, child=kid, label="Remplacement du badge", amount_cents=500)
    assert not invoice.lines.get().childcare_eligible
    pay_at_the_desk(world, household, invoice)
    assert certificate_amounts(household, world.regie, timezone.localdate().year) == []


def test_childcare_without_a_child_is_refused_and_takes_no_number(world):
    household, _kid = young_family(world)
    with pytest.raises(BillingError, match="choisissez l'enfant") as refusal:
        one_off(world, household, childcare=True)
    assert refusal.value.code == "childcare_without_child"
    assert not Invoice.objects.exists()


def test_the_staff_form_checkbox(client, world):
    household, kid = young_family(world)
    login(client, roles.CASHIER)
    url = reverse("backoffice:billing_one_off_invoice", args=[household.pk])
    page = client.get(url).content.decode()
    assert 'type="checkbox" name="garde"' in page
    assert "Frais de garde (compte dans l&#x27;attestation fiscale)" in page
    due = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    form = {"regie": world.regie.pk, "libelle": "Régularisation accueil périscolaire", "montant": "42,80"}

    # Ticked without a child: the form says why, next to the child, and nothing is issued.
    refused = client.post(url, {**form, "echeance": due, "garde": "on"})
    assert refused.status_code == 200
    assert "choisissez l&#x27;enfant gardé" in refused.content.decode()
    assert not Invoice.objects.exists()

    response = client.post(
        url, {**form, "echeance": due, "garde": "on", "enfant": kid.pk, "activite": world.activity.pk}
    )
    assert response.status_code == 302
    line = Invoice.objects.get().lines.get()
    assert (line.childcare_eligible, line.child_id, line.amount_cents) == (True, kid.pk, 4280)
    assert line.activity_id == world.activity.pk  # the attestation names the kind of care from it

    # Not ticked: an ordinary line.
    client.post(url, {**form, "echeance": due, "enfant": kid.pk, "libelle": "Badge"})
    assert not Invoice.objects.get(lines__label="Badge").lines.get().childcare_eligible


def test_the_household_invoices_page_links_to_the_staff_billing_forms(client, world):
    household, _kid = young_family(world)
    page = reverse("backoffice:billing_household_invoices", args=[household.pk])
    one_off_url = reverse("backoffice:billing_one_off_invoice", args=[household.pk])
    presence_url = reverse("backoffice:billing_presence_new", args=[household.pk])

    login(client, roles.CASHIER)
    html = client.get(page).content.decode()
    assert f'href="{one_off_url}"' in html and f'href="{presence_url}"' in html
    assert "Présence non réservée" in html
    assert client.get(presence_url).status_code == 200

    # A manager reads the invoices but issues nothing: neither link.
    client.logout()
    login(client, roles.MANAGER)
    html = client.get(page).content.decode()
    assert client.get(page).status_code == 200
    assert one_off_url not in html and presence_url not in html


def test_a_one_off_invoice_without_e_mail(world, django_capture_on_commit_callbacks, mailoutbox):
    household, kid = young_family(world)
    with django_capture_on_commit_callbacks(execute=True):
        one_off(world, household, child=kid, notify=False)
    assert Invoice.objects.get().emailed_at is None and mailoutbox == []
    with django_capture_on_commit_callbacks(execute=True):
        one_off(world, household, child=kid)
    assert len(mailoutbox) == 1  # by default the family gets it
