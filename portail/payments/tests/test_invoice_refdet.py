"""PayFiP refdet of invoice payments (PAYMENTS.md §2.2, §4): the invoice number when one invoice is paid;
a retry after a refusal or an abandon at the bank sends the number with a suffix (R2, R3…), always
6–30 letters or digits and unique (PaymentAttempt.reference, and TIPI's refdet is the attempt's bank
id too): never an IntegrityError, and PayFiP's own "mise en sécurité" of a used refdet is not hit."""

import datetime as dt
import re
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portail.billing.tests.factories import make_invoice, make_regie
from portail.demobank.models import DemoPayFiPOperation
from portail.payments import invoice_payment, services
from portail.payments.models import PaymentAttempt, PaymentStatus
from tests.factories import make_family

pytestmark = pytest.mark.django_db

REFDET = re.compile(r"^[A-Za-z0-9]{6,30}$")
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=timezone.get_current_timezone())


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


def absolute(path):
    return f"http://testserver{path}"


def family_with_invoice(backend, *, email="camille@example.org", code="ENF", **invoice_kwargs):
    household, guardian, (child,) = make_family(children=1, email=email)
    regie = make_regie(backend=backend, code=code)
    invoice = make_invoice(household, regie, lines=[(child, "Restauration scolaire", 10, 350)], **invoice_kwargs)
    return household, guardian.user, regie, invoice


def pay(household, user, invoices):
    return invoice_payment.start_invoices_payment(
        household=household, invoice_ids=[invoice.pk for invoice in invoices], actor=user, absolute_url=absolute
    ).attempt


def tipi_cancel(regie, attempt):
    """What PayFiP posts when the payer abandons (resultrans A), for this attempt's refdet."""
    fields = {
        "numcli": "123456",
        "exer": "2026",
        "refdet": attempt.reference,
        "objet": "Facture",
        "montant": str(attempt.amount_cents),
        "mel": "camille@example.org",
        "saisie": "T",
        "resultrans": "A",
        "numauto": "",
        "dattrans": "20112026",
        "heurtrans": "1000",
    }
    return Client().post(
        reverse("payments:notification", args=[regie.pk]),
        urlencode(fields),
        content_type="application/x-www-form-urlencoded",
    )


def test_tipi_pay_cancel_at_the_bank_then_pay_again(clock):
    household, user, regie, invoice = family_with_invoice("tipi")
    first = pay(household, user, [invoice])
    assert first.reference == invoice.number and first.external_id == invoice.number
    assert tipi_cancel(regie, first).status_code == 200
    first.refresh_from_db()
    assert first.status == PaymentStatus.CANCELLED

    second = pay(household, user, [invoice])  # at once: a cancellation frees the invoice
    assert second.pk != first.pk
    assert second.reference == f"{invoice.number}R2" and REFDET.match(second.reference)
    assert second.external_id == second.reference  # TIPI's id is the refdet: unique as well
    assert second.status == PaymentStatus.PENDING
    assert f"refdet={second.reference}" in second.request_data["url"]

    assert tipi_cancel(regie, second).status_code == 200
    third = pay(household, user, [invoice])
    assert third.reference == f"{invoice.number}R3"
    assert PaymentAttempt.objects.filter(household=household).count() == 3


def test_payfip_ws_pay_abandon_then_pay_again_through_the_demo_bank(clock):
    household, user, regie, invoice = family_with_invoice("payfip_ws")
    first = pay(household, user, [invoice])
    assert DemoPayFiPOperation.objects.get(idop=first.external_id).refdet == invoice.number
    now = timezone.localtime()
    DemoPayFiPOperation.objects.filter(idop=first.external_id).update(
        resultrans="A", dattrans=f"{now:%d%m%Y}", heurtrans=f"{now:%H%M}"
    )
    clock.shift(dt.timedelta(minutes=16))
    services.reconcile_payments()  # PayFiP reports an abandon after 2 minutes: the job reads it
    first.refresh_from_db()
    assert first.status == PaymentStatus.CANCELLED

    second = pay(household, user, [invoice])
    assert second.reference == f"{invoice.number}R2" and REFDET.match(second.reference)
    # The demo PayFiP web-service checks the refdet like the real one (R3 error otherwise).
    assert DemoPayFiPOperation.objects.get(idop=second.external_id).refdet == second.reference


def test_several_invoices_get_a_generated_reference_and_long_numbers_fall_back_to_it():
    household, user, regie, invoice = family_with_invoice("dummy")
    other = make_invoice(household, regie)
    attempt = pay(household, user, [invoice, other])
    assert REFDET.match(attempt.reference) and attempt.reference.startswith(f"P{regie.code}")

    # A 30-character number: its retry cannot take a suffix, a generated reference is used instead.
    long_number = "F" + "9" * 29
    household, user, regie, invoice = family_with_invoice(
        "tipi", email="sam@example.org", code="SPO", number=long_number
    )
    first = pay(household, user, [invoice])
    assert first.reference == long_number
    tipi_cancel(regie, first)
    second = pay(household, user, [invoice])
    assert REFDET.match(second.reference) and second.reference != long_number
    assert second.reference.startswith(f"P{regie.code}")
