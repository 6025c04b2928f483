"""The eopayment adapter (portail.payments.backends), each backend driven through the demo bank."""

import datetime as dt
import logging
from decimal import Decimal
from types import SimpleNamespace
from unittest import mock
from urllib.parse import parse_qs, urlencode, urlsplit

import eopayment
import pytest
from django.urls import reverse
from django.utils import timezone
from eopayment.common import PaymentCommon

from portail.demobank import soap
from portail.demobank.models import DemoPayFiPOperation
from portail.demobank.tests.helpers import (
    BANNER,
    DEFAULT_OPTIONS,
    NOTIFY_URL,
    RETURN_URL,
    enable_demo_bank,
    make_regie,
    notifications,
    press,
)
from portail.payments import backends
from portail.payments.backends import BackendError, NotificationError

pytestmark = pytest.mark.django_db

REFERENCE = "FAC2026000042"


@pytest.fixture
def demo(settings):
    return enable_demo_bank(settings)


def start(regie, amount_cents=1234, **overrides):
    kwargs = {
        "reference": REFERENCE,
        "amount_cents": amount_cents,
        "email": "famille@example.org",
        "label": "Cantine novembre",
        "notify_url": NOTIFY_URL,
        "return_url": RETURN_URL,
    }
    kwargs.update(overrides)
    return backends.start(regie, **kwargs)


def parse(regie, body="", *, method="POST", query_string=""):
    return backends.parse_notification(regie, method=method, query_string=query_string, body=body)


def last_notification(regie):
    sent = notifications()
    assert sent, "the demo bank sent no notification"
    return parse(regie, sent[-1]["body"])


def query(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


# --- Amounts and references ------------------------------------------------------------------------


def test_euros_from_integer_cents_is_an_exact_decimal():
    assert backends.euros(28) == Decimal("0.28")
    assert backends.euros(1234) == Decimal("12.34")
    assert backends.euros(10005) == Decimal("100.05")
    assert backends.euros(28).as_tuple().exponent == -2
    # What TIPI and PayFiP put in `montant`: cents, at least 3 digits.
    assert PaymentCommon.clean_amount(backends.euros(28)) == "028"
    assert PaymentCommon.clean_amount(backends.euros(1234)) == "1234"


@pytest.mark.parametrize("bad", [12.5, "1234", Decimal("12.34"), True, None])
def test_euros_refuses_anything_but_int_cents(bad):
    with pytest.raises(TypeError):
        backends.euros(bad)


@pytest.mark.parametrize(("cents", "vads_amount"), [(28, "28"), (1, "1"), (1234, "1234"), (10005, "10005")])
def test_systempay_amount_is_the_integer_cents(demo, cents, vads_amount):
    checkout = start(make_regie("systempayv2"), amount_cents=cents)
    assert dict(checkout.fields)["vads_amount"] == vads_amount


def test_tipi_montant_is_the_cents_zero_padded(demo):
    checkout = start(make_regie("tipi"), amount_cents=100)
    assert query(checkout.url)["montant"] == "100"


@pytest.mark.parametrize("backend", ["tipi", "payfip_ws"])
def test_payfip_refuses_less_than_one_euro(demo, backend):
    with pytest.raises(BackendError) as refused:
        start(make_regie(backend), amount_cents=28)
    assert "1,00 €" in refused.value.message
    assert not DemoPayFiPOperation.objects.exists()


def test_tipi_refuses_more_than_its_maximum(demo):
    with pytest.raises(BackendError) as refused:
        start(make_regie("tipi"), amount_cents=10_000_00)
    assert "maximum" in refused.value.message


def test_zero_amount_is_refused(demo):
    with pytest.raises(BackendError):
        start(make_regie("dummy"), amount_cents=0)


def test_reference_must_be_alphanumeric(demo):
    with pytest.raises(ValueError):
        start(make_regie("dummy"), reference="FAC-2026-1")


@pytest.mark.parametrize("backend", ["tipi", "payfip_ws"])
def test_payfip_needs_an_email(demo, backend):
    with pytest.raises(BackendError) as refused:
        start(make_regie(backend), email="")
    assert "e-mail" in refused.value.message


def test_misconfigured_regie_gives_a_plain_french_error(demo):
    with pytest.raises(BackendError) as refused:
        start(make_regie("systempayv2", options={"vads_site_id": "123"}))
    assert "régie" in refused.value.message
    assert "vads_site_id" in refused.value.detail
    with pytest.raises(BackendError):
        start(make_regie("tipi", options={}))
    with pytest.raises(BackendError):
        start(make_regie("systempayv2", test_mode=False, options={"vads_site_id": "12345678", "secret_test": "abc"}))


def test_no_backend_is_refused(demo):
    regie = make_regie("dummy")
    regie.backend = ""
    with pytest.raises(BackendError):
        start(regie)
    with pytest.raises(NotificationError):
        parse(regie, "transaction_id=abc&ok=1&signed=1")


# --- Systempay / PayZen ----------------------------------------------------------------------------

SIGNED_FIELDS = {
    "vads_amount": "1234",
    "vads_ctx_mode": "TEST",
    "vads_currency": "978",
    "vads_site_id": "12345678",
    "vads_trans_date": "20260115103000",
    "vads_trans_id": "a1B2c3",
    "vads_version": "V2",
    "signature": "not part of the signed string",
    "other": "neither",
}
FIXTURE_KEY = "AbCdEf1234567890"
# Computed independently: printf '%s' "1234+TEST+978+12345678+20260115103000+a1B2c3+V2+AbCdEf1234567890" | sha1sum
# and ... | openssl dgst -sha256 -hmac AbCdEf1234567890 -binary | base64
FIXTURE_SHA1 = "a250bfcba617ff2e627ed491a57ecc3c5138d1a2"
FIXTURE_HMAC = "O5Rup5MQwmzdNFOFMQ9s18rarqIYEU/jNpL3Ea/ryFE="


def test_systempay_signature_fixtures():
    assert backends.systempay_signature(SIGNED_FIELDS, FIXTURE_KEY, "sha1") == FIXTURE_SHA1
    assert backends.systempay_signature(SIGNED_FIELDS, FIXTURE_KEY, "hmac_sha256") == FIXTURE_HMAC
    assert backends.systempay_signature(SIGNED_FIELDS, FIXTURE_KEY) == FIXTURE_HMAC
    for algo, expected in (("sha1", FIXTURE_SHA1), ("hmac_sha256", FIXTURE_HMAC)):
        gateway = eopayment.Payment(
            "systempayv2", {"vads_site_id": "12345678", "secret_test": FIXTURE_KEY, "signature_algo": algo}
        )
        assert gateway.backend.signature(dict(SIGNED_FIELDS)) == expected
    with pytest.raises(ValueError):
        backends.systempay_signature(SIGNED_FIELDS, FIXTURE_KEY, "md5")


@pytest.mark.parametrize("backend", ["systempayv2", "payzen"])
def test_systempay_checkout_is_a_signed_form_to_the_demo_bank(demo, backend):
    regie = make_regie(backend)
    checkout = start(regie)
    fields = dict(checkout.fields)
    assert checkout.method == "POST"
    assert checkout.url == "http://testserver" + reverse("demobank:systempay")
    assert checkout.external_id == REFERENCE
    assert checkout.test is True
    assert fields["vads_order_id"] == REFERENCE
    assert fields["vads_ext_info_eopayment_trans_id"] == REFERENCE
    assert fields["vads_ctx_mode"] == "TEST"
    assert fields["vads_url_check"] == NOTIFY_URL
    assert fields["vads_url_return"] == RETURN_URL
    assert fields["vads_cust_email"] == "famille@example.org"
    assert fields["vads_order_info"] == "Cantine novembre"
    assert fields["signature"] == backends.systempay_signature(fields, "TestKey1234567890", "hmac_sha256")


def test_systempay_production_mode_uses_the_production_key(demo):
    regie = make_regie("systempayv2", test_mode=False)
    checkout = start(regie)
    fields = dict(checkout.fields)
    assert fields["vads_ctx_mode"] == "PRODUCTION"
    assert checkout.test is False
    assert fields["signature"] == backends.systempay_signature(fields, "ProdKey0987654321")


def test_systempay_without_demo_bank_goes_to_the_real_gateway(settings):
    settings.PAYMENT_DEMO_BANK = False
    assert start(make_regie("systempayv2")).url == "https://paiement.systempay.fr/vads-payment/"
    assert start(make_regie("payzen")).url == "https://secure.payzen.eu/vads-payment/"


def test_systempay_sha1_regie(demo, client):
    regie = make_regie("systempayv2", options={**DEFAULT_OPTIONS["systempayv2"], "signature_algo": "sha1"})
    checkout = start(regie)
    fields = dict(checkout.fields)
    assert len(fields["signature"]) == 40
    assert fields["signature"] == backends.systempay_signature(fields, "TestKey1234567890", "sha1")
    page = client.post(checkout.url, fields)
    assert page.status_code == 200
    press(client, page, "payer")
    answer = last_notification(regie)
    assert (answer.status, answer.signed) == ("paid", True)
    assert len(answer.raw["signature"]) == 40


@pytest.mark.parametrize("backend", ["systempayv2", "payzen"])
def test_systempay_pay_through_the_demo_bank(demo, client, backend):
    regie = make_regie(backend)
    checkout = start(regie)
    page = client.post(checkout.url, dict(checkout.fields))
    assert page.status_code == 200
    text = page.content.decode()
    assert BANNER in text
    assert "12,34 €" in text
    assert REFERENCE in text
    assert regie.name in text

    back = press(client, page, "payer")
    assert back.status_code == 303
    assert back["Location"].startswith(RETURN_URL + "?")
    sent = notifications()
    assert len(sent) == 1
    assert sent[0]["method"] == "POST"
    assert sent[0]["content_type"] == "application/x-www-form-urlencoded"
    answer = parse(regie, sent[0]["body"])
    assert answer.external_id == REFERENCE
    assert answer.status == "paid"
    assert answer.signed is True
    assert answer.unsigned_protocol is False
    assert answer.test is True
    assert answer.amount_cents == 1234
    assert len(answer.bank_reference) == 6 and answer.bank_reference.isdigit()
    assert answer.raw["vads_trans_status"] == "CAPTURED"
    assert answer.return_content is None
    # The browser return carries the same signed answer (GET mode).
    returned = parse(regie, method="GET", query_string=urlsplit(back["Location"]).query)
    assert (returned.status, returned.signed, returned.external_id) == ("paid", True, REFERENCE)


@pytest.mark.parametrize(("choice", "status"), [("refuser", "denied"), ("annuler", "cancelled"), ("erreur", "error")])
def test_systempay_other_answers(demo, client, choice, status):
    regie = make_regie("systempayv2")
    checkout = start(regie)
    press(client, client.post(checkout.url, dict(checkout.fields)), choice)
    answer = last_notification(regie)
    assert (answer.status, answer.signed, answer.bank_reference) == (status, True, "")


def test_systempay_production_answer_is_not_a_test(demo, client):
    regie = make_regie("systempayv2", test_mode=False)
    checkout = start(regie)
    press(client, client.post(checkout.url, dict(checkout.fields)), "payer")
    answer = last_notification(regie)
    assert (answer.status, answer.signed, answer.test) == ("paid", True, False)


def test_systempay_tampered_field_is_unsigned(demo, client):
    regie = make_regie("systempayv2")
    checkout = start(regie)
    press(client, client.post(checkout.url, dict(checkout.fields)), "payer")
    body = notifications()[-1]["body"]
    assert "vads_amount=1234" in body
    tampered = parse(regie, body.replace("vads_amount=1234", "vads_amount=1"))
    assert tampered.signed is False
    assert tampered.status == "paid"  # eopayment still computes the result: the caller must reject it
    other_key = make_regie("systempayv2", options={**DEFAULT_OPTIONS["systempayv2"], "secret_test": "OtherKey123"})
    assert parse(other_key, body).signed is False


def test_systempay_bad_signature_toggle(demo, client):
    regie = make_regie("systempayv2")
    checkout = start(regie)
    press(client, client.post(checkout.url, dict(checkout.fields)), "payer", mauvaise_signature=True)
    assert last_notification(regie).signed is False


def test_systempay_production_answer_for_a_regie_without_production_key(demo, client):
    regie = make_regie("systempayv2", test_mode=False)
    checkout = start(regie)
    press(client, client.post(checkout.url, dict(checkout.fields)), "payer")
    body = notifications()[-1]["body"]
    regie.backend_options = {"vads_site_id": "12345678", "secret_test": "TestKey1234567890"}
    answer = parse(regie, body)
    assert answer.signed is False


def test_systempay_manual_validation_is_not_paid_yet(demo):
    regie = make_regie("systempayv2")
    fields = {
        "vads_ctx_mode": "TEST",
        "vads_auth_result": "00",
        "vads_result": "00",
        "vads_trans_status": "AUTHORISED_TO_VALIDATE",
        "vads_amount": "1234",
        "vads_site_id": "12345678",
        "vads_trans_date": "20260115103000",
        "vads_trans_id": "a1B2c3",
        "vads_ext_info_eopayment_trans_id": REFERENCE,
    }
    fields["signature"] = backends.systempay_signature(fields, "TestKey1234567890")
    answer = parse(regie, urlencode(fields))
    assert (answer.status, answer.signed) == ("pending", True)


@pytest.mark.parametrize(
    "body",
    ["", "vads_result=00", "signature=abc&vads_ctx_mode=TEST", "signature=a&vads_ctx_mode=TEST&vads_auth_result="],
)
def test_systempay_unreadable_notification(demo, body):
    with pytest.raises(NotificationError):
        parse(make_regie("systempayv2"), body)


# --- TIPI classic --------------------------------------------------------------------------------------


def test_tipi_checkout_points_at_the_demo_bank(demo):
    checkout = start(make_regie("tipi"))
    assert checkout.method == "GET"
    assert checkout.fields == []
    assert checkout.url.startswith("http://testserver" + reverse("demobank:tipi") + "?")
    assert checkout.external_id == REFERENCE
    params = query(checkout.url)
    assert params["numcli"] == "123456"
    assert params["refdet"] == REFERENCE
    assert params["montant"] == "1234"
    assert params["mel"] == "famille@example.org"
    assert params["saisie"] == "T"
    assert params["urlcl"] == NOTIFY_URL
    assert params["objet"] == "Cantine novembre"
    assert params["exer"] == str(timezone.localdate().year)


def test_tipi_production_saisie(demo):
    checkout = start(make_regie("tipi", test_mode=False))
    assert query(checkout.url)["saisie"] == "A"
    assert checkout.test is False


def test_tipi_without_demo_bank_goes_to_payfip(settings):
    settings.PAYMENT_DEMO_BANK = False
    assert start(make_regie("tipi")).url.startswith("https://www.payfip.gouv.fr/tpa/paiement.web?")


@pytest.mark.parametrize(
    ("choice", "status"), [("P", "paid"), ("V", "paid"), ("R", "denied"), ("Z", "denied"), ("A", "cancelled")]
)
def test_tipi_through_the_demo_bank(demo, client, choice, status):
    regie = make_regie("tipi")
    checkout = start(regie)
    page = client.get(checkout.url)
    assert page.status_code == 200
    assert BANNER in page.content.decode()
    assert "12,34 €" in page.content.decode()
    ticket = press(client, page, choice)
    assert ticket.status_code == 200
    assert "Ticket de paiement" in ticket.content.decode()
    assert f'href="/paiements/retour/?ref={REFERENCE}"' in ticket.content.decode()
    answer = last_notification(regie)
    assert answer.external_id == REFERENCE
    assert answer.status == status
    assert answer.signed is False  # TIPI classic is not signed…
    assert answer.unsigned_protocol is True  # …so the caller checks amount and numcli
    assert answer.numcli == "123456"
    assert answer.amount_cents == 1234
    assert answer.test is True
    assert answer.raw["resultrans"] == choice
    assert bool(answer.bank_reference) is (choice in "PV")


def test_tipi_answer_mapping_without_the_bank():
    regie = SimpleNamespace(backend="tipi", backend_options={"numcli": "123456"}, pk=1)
    base = "numcli=123456&exer=2026&refdet=FAC2026000042&montant=1234&mel=a%40b.fr&saisie=A&numauto=&dattrans=01012026&heurtrans=1200"
    assert parse(regie, base + "&resultrans=V").status == "paid"
    assert parse(regie, base + "&resultrans=Z").status == "denied"
    assert parse(regie, base + "&resultrans=Q").status == "error"
    assert parse(regie, base + "&resultrans=P").test is False
    with pytest.raises(NotificationError):
        parse(regie, "refdet=FAC2026000042&montant=1234")


def test_tipi_forged_amount_toggle(demo, client):
    regie = make_regie("tipi")
    press(client, client.get(start(regie).url), "P", montant_modifie=True)
    assert last_notification(regie).amount_cents == 1334


def test_tipi_reads_the_body_for_post_and_the_query_for_get():
    regie = SimpleNamespace(backend="tipi", backend_options={}, pk=1)
    fields = "refdet=FAC2026000042&resultrans=P&montant=1234"
    with pytest.raises(NotificationError):
        parse(regie, "", query_string=fields)  # POST: the query string is not the bank's answer
    assert parse(regie, method="GET", query_string=fields).status == "paid"


# --- PayFiP web-service ------------------------------------------------------------------------------


def test_payfip_ws_checkout_creates_an_operation_at_the_demo_bank(demo):
    checkout = start(make_regie("payfip_ws"))
    operation = DemoPayFiPOperation.objects.get()
    assert checkout.external_id == str(operation.idop)
    assert checkout.method == "GET"
    assert checkout.url == f"http://testserver{reverse('demobank:payfip')}?idop={operation.idop}"
    assert checkout.test is True
    assert (operation.numcli, operation.refdet, operation.montant) == ("123456", REFERENCE, "1234")
    assert (operation.saisie, operation.mel, operation.objet) == ("T", "famille@example.org", "Cantine novembre")
    assert (operation.urlnotif, operation.urlredirect) == (NOTIFY_URL, RETURN_URL)
    assert operation.exer == str(timezone.localdate().year)


def test_payfip_ws_production_saisie(demo):
    checkout = start(make_regie("payfip_ws", test_mode=False))
    assert DemoPayFiPOperation.objects.get().saisie == "W"
    assert checkout.test is False


@pytest.mark.parametrize(("choice", "status"), [("P", "paid"), ("V", "paid"), ("R", "denied"), ("Z", "denied")])
def test_payfip_ws_through_the_demo_bank(demo, client, choice, status):
    regie = make_regie("payfip_ws")
    checkout = start(regie)
    page = client.get(checkout.url)
    assert page.status_code == 200
    assert BANNER in page.content.decode()
    back = press(client, page, choice)
    assert back.status_code == 303
    assert back["Location"] == RETURN_URL
    sent = notifications()
    assert len(sent) == 1
    assert sent[0]["body"] == f"idop={checkout.external_id}"
    answer = parse(regie, sent[0]["body"])
    assert answer.external_id == checkout.external_id
    assert answer.status == status
    assert answer.signed is True
    assert answer.unsigned_protocol is False
    assert answer.test is True
    assert answer.amount_cents == 1234
    assert answer.numcli == "123456"
    assert answer.raw["refdet"] == REFERENCE
    assert bool(answer.bank_reference) is (choice in "PV")


def test_payfip_ws_pending_until_answered_then_idop_or_idOp(demo, client):
    regie = make_regie("payfip_ws")
    checkout = start(regie)
    idop = checkout.external_id
    pending = parse(regie, f"idop={idop}")
    assert (pending.status, pending.signed, pending.external_id) == ("pending", True, idop)  # P5
    press(client, client.get(checkout.url), "P")
    assert parse(regie, f"idop={idop}").status == "paid"
    assert parse(regie, f"idOp={idop}").status == "paid"
    assert parse(regie, method="GET", query_string=f"idOp={idop}").status == "paid"


def test_payfip_ws_unknown_idop_is_expired(demo):
    answer = parse(make_regie("payfip_ws"), "idop=0b4e7a0e-5c3d-4b0a-9f3e-3f0c1a2b3c4d")  # P1
    assert (answer.status, answer.signed) == ("expired", True)


def test_payfip_ws_cancel_waits_two_minutes(demo, client):
    regie = make_regie("payfip_ws")
    checkout = start(regie)
    press(client, client.get(checkout.url), "A")
    assert parse(regie, f"idop={checkout.external_id}").status == "pending"  # eopayment's 2-minute grace
    earlier = timezone.localtime(timezone.now() - dt.timedelta(minutes=10))
    DemoPayFiPOperation.objects.update(dattrans=earlier.strftime("%d%m%Y"), heurtrans=earlier.strftime("%H%M"))
    assert parse(regie, f"idop={checkout.external_id}").status == "cancelled"


def test_payfip_ws_no_answer_leaves_it_pending(demo, client):
    regie = make_regie("payfip_ws")
    checkout = start(regie)
    back = press(client, client.get(checkout.url), "silence")
    assert (back.status_code, back["Location"]) == (303, RETURN_URL)
    assert notifications() == []
    assert parse(regie, f"idop={checkout.external_id}").status == "pending"


def test_payfip_ws_fetch_status(demo, client):
    regie = make_regie("payfip_ws")
    checkout = start(regie)
    attempt = SimpleNamespace(external_id=checkout.external_id, created_at=timezone.now())
    assert backends.fetch_status(regie, attempt).status == "pending"
    old = SimpleNamespace(external_id=checkout.external_id, created_at=timezone.now() - dt.timedelta(hours=3))
    assert backends.fetch_status(regie, old).status == "expired"  # P5 for more than 2 hours
    press(client, client.get(checkout.url), "P")
    answer = backends.fetch_status(regie, attempt)
    assert (answer.status, answer.signed, answer.amount_cents) == ("paid", True, 1234)


@pytest.mark.parametrize("backend", ["dummy", "systempayv2", "payzen", "tipi"])
def test_fetch_status_is_for_payfip_ws_only(demo, backend):
    attempt = SimpleNamespace(external_id="x", created_at=timezone.now())
    assert backends.fetch_status(make_regie(backend), attempt) is None


def test_payfip_ws_refusal_by_the_service(demo):
    with pytest.raises(BackendError) as refused:
        start(make_regie("payfip_ws", options={"numcli": "12345"}))  # checked before calling PayFiP
    assert refused.value.message == backends.NOT_AVAILABLE
    assert not DemoPayFiPOperation.objects.exists()
    regie = make_regie("payfip_ws")
    regie.backend_options = {"numcli": "654321"}
    with mock.patch.object(soap, "create_operation", side_effect=soap.Fault("R3")):
        with pytest.raises(BackendError) as refused:
            start(regie)
    assert refused.value.message == backends.REFUSED
    assert "R3" in refused.value.detail


def test_payfip_ws_unreachable(demo):
    regie = make_regie("payfip_ws")
    with mock.patch.object(soap, "handle", side_effect=RuntimeError("down")):
        with pytest.raises(BackendError) as refused:
            start(regie)
        assert refused.value.message == backends.UNREACHABLE
        with pytest.raises(BackendError):
            backends.fetch_status(regie, SimpleNamespace(external_id="abc", created_at=timezone.now()))
        with pytest.raises(NotificationError):
            parse(regie, "idop=abc")  # the attempt stays pending; reconciliation asks again


@pytest.mark.parametrize("body", ["", "idop=", "foo=bar", "idop=a%20b", "idOp=../../x"])
def test_payfip_ws_unreadable_notification(demo, body):
    with pytest.raises(NotificationError):
        parse(make_regie("payfip_ws"), body)


def test_payfip_ws_without_demo_bank_uses_eopayment_client(settings):
    settings.PAYMENT_DEMO_BANK = False
    payment = backends._payment("payfip_ws", {"numcli": "123456"})
    assert payment.backend.payfip.wsdl_url.startswith("file://")  # eopayment's own, real PayFiP address


# --- Dummy -------------------------------------------------------------------------------------------------


def test_dummy_checkout_points_at_the_demo_bank(demo):
    checkout = start(make_regie("dummy"))
    assert checkout.method == "GET"
    assert checkout.test is True
    assert checkout.url.startswith("http://testserver" + reverse("demobank:dummy") + "?")
    params = query(checkout.url)
    assert params["transaction_id"] == checkout.external_id
    assert params["amount"] == "12.34"
    assert params["orderid"] == REFERENCE
    assert params["return_url"] == RETURN_URL
    assert params["direct_notification_url"] == NOTIFY_URL


def test_dummy_pay_through_the_demo_bank(demo, client):
    regie = make_regie("dummy")
    checkout = start(regie)
    page = client.get(checkout.url)
    assert page.status_code == 200
    assert BANNER in page.content.decode()
    assert "12,34 €" in page.content.decode()
    back = press(client, page, "payer")
    assert back.status_code == 303
    assert query(back["Location"]) == {"transaction_id": checkout.external_id, "ok": "1"}
    answer = last_notification(regie)
    assert (answer.external_id, answer.status, answer.signed, answer.test) == (checkout.external_id, "paid", True, True)
    assert answer.return_content == "signature ok"
    assert answer.raw["transaction_id"] == checkout.external_id


def test_dummy_refuse_and_wait(demo, client):
    regie = make_regie("dummy")
    checkout = start(regie)
    back = press(client, client.get(checkout.url), "refuser")
    assert "ok" not in query(back["Location"])
    assert (last_notification(regie).status, last_notification(regie).signed) == ("error", True)
    press(client, client.get(checkout.url), "attente")
    assert last_notification(regie).status == "pending"


def test_dummy_without_signed_is_unsigned():
    regie = SimpleNamespace(backend="dummy", backend_options={}, pk=1)
    answer = parse(regie, "transaction_id=abc&ok=1")
    assert (answer.status, answer.signed, answer.return_content) == ("paid", False, None)
    assert parse(regie, "transaction_id=abc&ok=1&signed=1").signed is True
    with pytest.raises(NotificationError):
        parse(regie, "ok=1&signed=1")
    with pytest.raises(NotificationError):
        parse(regie, b"transaction_id=\xff&ok=1")


def test_dummy_without_demo_bank_keeps_eopayment_url(settings):
    settings.PAYMENT_DEMO_BANK = False
    assert start(make_regie("dummy")).url.startswith("https://dummy-payment.entrouvert.com/?")


# --- Régie form parameters -------------------------------------------------------------------------------


def test_backend_parameters():
    systempay = {param["name"]: param for param in backends.backend_parameters("systempayv2")}
    assert list(systempay) == ["vads_site_id", "secret_test", "secret_production", "signature_algo"]
    assert systempay["secret_test"]["secret"] is True and systempay["secret_test"]["required"] is True
    assert systempay["vads_site_id"]["secret"] is False
    assert systempay["secret_production"]["required"] is False
    assert [param["name"] for param in backends.backend_parameters("payzen")] == list(systempay)
    for backend in ("tipi", "payfip_ws"):
        (numcli,) = backends.backend_parameters(backend)
        assert (numcli["name"], numcli["required"], numcli["secret"]) == ("numcli", True, False)
        assert numcli["label"] == "Numéro client PayFiP"
    assert backends.backend_parameters("dummy") == []
    assert backends.backend_parameters("") == []
    for param in backends.backend_parameters("systempayv2"):
        assert set(param) >= {"name", "label", "required", "secret"}


def test_eopayment_debug_log_never_shows_the_key(demo, caplog):
    # eopayment logs its options and the signed string (key included) at DEBUG.
    caplog.set_level(logging.DEBUG)
    regie = make_regie("systempayv2")
    checkout = start(regie)
    parse(regie, urlencode(dict(checkout.fields)) + "&vads_auth_result=")
    assert caplog.records  # DEBUG logging is on…
    assert "TestKey1234567890" not in caplog.text  # …but the key never reaches it
