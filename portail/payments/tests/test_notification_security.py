"""Notifications that must change nothing: forged signature, tampered amount, unknown order, another
régie's transaction, a test notification for a régie in production, an unsigned TIPI answer that does
not match. Each is stored raw, rejected (or an incident for an amount mismatch), logged for security,
and leaves payments, attempts and bookings as they were."""

import datetime as dt
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portail.bookings import services as booking_services
from portail.bookings.models import Booking, BookingStatus
from portail.core.models import Channel, LogEntry
from portail.payments import backends, services
from portail.payments.models import (
    BankNotification,
    IncidentKind,
    NotificationOutcome,
    Payment,
    PaymentIncident,
    PaymentStatus,
)

from .test_online_flows import SYSTEMPAY_KEY, make_setup, tick

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=timezone.get_current_timezone())


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=True):
        yield


def started(backend, **kwargs):
    """A prepaid basket sent to the bank (the family never comes back): the attempt is pending."""
    setup = make_setup(backend, **kwargs)
    tick(setup, 0, 0)
    result = services.start_basket_payment(
        household=setup.household, actor=setup.guardian.user, absolute_url=lambda path: f"http://testserver{path}"
    )
    setup.attempt = result.attempt
    return setup


def systempay_answer(setup, *, result="00", amount=None, key=SYSTEMPAY_KEY, ctx_mode="TEST"):
    """A Systempay IPN as the bank signs it."""
    fields = {
        "vads_site_id": setup.regie.backend_options["vads_site_id"],
        "vads_ctx_mode": ctx_mode,
        "vads_trans_id": "a1b2c3",
        "vads_trans_date": "20261120090000",
        "vads_amount": str(setup.attempt.amount_cents if amount is None else amount),
        "vads_currency": "978",
        "vads_order_id": setup.attempt.reference,
        "vads_ext_info_eopayment_trans_id": setup.attempt.external_id,
        "vads_result": result,
        "vads_auth_result": result,
        "vads_auth_number": "123456",
        "vads_trans_status": "CAPTURED" if result == "00" else "REFUSED",
        "vads_effective_creation_date": "20261120090100",
        "vads_operation_type": "DEBIT",
        "vads_url_check_src": "PAY",
    }
    fields["signature"] = backends.systempay_signature(fields, key, "hmac_sha256")
    return fields


def notify(setup, fields, regie=None):
    return Client().post(
        reverse("payments:notification", args=[(regie or setup.regie).pk]),
        urlencode(fields),
        content_type="application/x-www-form-urlencoded",
    )


def assert_nothing_changed(setup):
    setup.attempt.refresh_from_db()
    assert setup.attempt.status == PaymentStatus.PENDING
    assert not Payment.objects.filter(status=PaymentStatus.PAID).exists()
    assert Booking.objects.get(child=setup.children[0]).status == BookingStatus.AWAITING_PAYMENT


def assert_rejected(reason_part):
    notification = BankNotification.objects.latest("pk")
    assert notification.outcome == NotificationOutcome.REJECTED
    assert reason_part in notification.reason
    assert LogEntry.objects.filter(action="payment.notification_rejected", object_id=str(notification.pk)).exists()


def test_a_genuine_systempay_ipn_is_applied():
    setup = started("systempayv2")
    assert notify(setup, systempay_answer(setup)).status_code == 200
    setup.attempt.refresh_from_db()
    assert setup.attempt.status == PaymentStatus.PAID


def test_forged_signature_is_rejected(caplog):
    setup = started("systempayv2")
    response = notify(setup, systempay_answer(setup, key="PasLaBonneCle"))
    assert response.status_code == 200
    assert_rejected("bad signature")
    assert_nothing_changed(setup)
    assert "rejected" in caplog.text


def test_tampered_amount_after_signing_is_rejected():
    setup = started("systempayv2")
    fields = systempay_answer(setup)
    fields["vads_amount"] = "1"
    notify(setup, fields)
    assert_rejected("bad signature")
    assert_nothing_changed(setup)


def test_signed_answer_with_another_amount_is_an_incident_never_allocated():
    setup = started("systempayv2")
    notify(setup, systempay_answer(setup, amount=setup.attempt.amount_cents - 100))
    assert BankNotification.objects.latest("pk").outcome == NotificationOutcome.INCIDENT
    assert PaymentIncident.objects.get().kind == IncidentKind.AMOUNT_MISMATCH
    assert_nothing_changed(setup)


def test_unknown_order_is_rejected():
    setup = started("systempayv2")
    fields = systempay_answer(setup)
    fields["vads_ext_info_eopayment_trans_id"] = "INCONNU123456"
    fields["vads_order_id"] = "INCONNU123456"
    fields["signature"] = backends.systempay_signature(fields, SYSTEMPAY_KEY)
    notify(setup, fields)
    assert_rejected("unknown transaction")
    assert_nothing_changed(setup)


def test_another_regies_transaction_is_rejected():
    setup = started("dummy")
    other = make_setup("dummy", code="AUT")  # another town's régie, another household
    response = Client().get(
        reverse("payments:notification", args=[other.regie.pk]),
        {"transaction_id": setup.attempt.external_id, "ok": "1", "signed": "1"},
    )
    assert response.status_code == 200
    assert_rejected("unknown transaction")
    assert_nothing_changed(setup)


def test_test_notification_for_a_regie_in_production_is_rejected():
    setup = started("systempayv2")
    setup.regie.test_mode = False
    setup.regie.backend_options = {**setup.regie.backend_options, "secret_production": "CleDeProd9876"}
    setup.regie.save()
    notify(setup, systempay_answer(setup, ctx_mode="TEST"))
    assert_rejected("test notification")
    assert_nothing_changed(setup)


def test_unsigned_dummy_notification_is_rejected():
    setup = started("dummy")
    Client().get(
        reverse("payments:notification", args=[setup.regie.pk]),
        {"transaction_id": setup.attempt.external_id, "ok": "1"},
    )
    assert_rejected("bad signature")
    assert_nothing_changed(setup)


def tipi_answer(setup, **changes):
    fields = {
        "numcli": "123456",
        "exer": "2026",
        "refdet": setup.attempt.reference,
        "objet": "Reservations",
        "montant": str(setup.attempt.amount_cents),
        "mel": "parent@example.org",
        "saisie": "T",
        "resultrans": "P",
        "numauto": "123456",
        "dattrans": "20112026",
        "heurtrans": "1000",
    }
    return {**fields, **changes}


def test_unsigned_tipi_answer_must_match_the_attempt():
    setup = started("tipi")
    notify(setup, tipi_answer(setup, numcli="999999"))
    assert_rejected("does not match")
    assert_nothing_changed(setup)
    notify(setup, tipi_answer(setup, montant="100"))
    assert BankNotification.objects.latest("pk").outcome == NotificationOutcome.INCIDENT
    assert_nothing_changed(setup)
    notify(setup, tipi_answer(setup))
    setup.attempt.refresh_from_db()
    assert setup.attempt.status == PaymentStatus.PAID


def test_garbage_is_stored_and_rejected():
    setup = started("systempayv2")
    response = Client().post(reverse("payments:notification", args=[setup.regie.pk]), "n'importe quoi", "text/plain")
    assert response.status_code == 200
    assert_rejected("unreadable")
    assert BankNotification.objects.latest("pk").body == "n'importe quoi"
    assert_nothing_changed(setup)
    assert Client().get(reverse("payments:notification", args=[999999])).status_code == 200
    assert_rejected("unknown régie")


def test_staff_desk_payment_during_an_online_attempt_does_not_double_book():
    """A cancelled online payment frees the basket: the family can pay again at once."""
    setup = started("systempayv2")
    notify(setup, systempay_answer(setup, result="17"))
    setup.attempt.refresh_from_db()
    assert setup.attempt.status == PaymentStatus.CANCELLED
    booking_services.toggle_cell(
        household=setup.household,
        child=setup.children[0],
        session_id=setup.sessions[0].pk,
        actor=setup.guardian.user,
        channel=Channel.WEB,
    )
    again = services.start_basket_payment(
        household=setup.household, actor=setup.guardian.user, absolute_url=lambda path: f"http://testserver{path}"
    )
    assert again.attempt.pk != setup.attempt.pk
