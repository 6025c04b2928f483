"""The demo bank's pages: validation like the real services, buttons, notifications, test toggles."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from lxml import etree

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
    page_form,
    press,
)
from portail.payments import backends

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings):
    return enable_demo_bank(settings)


@pytest.fixture
def bank():
    """A browser on the bank's site: CSRF enforced, as the pages must not depend on the test client's leniency."""
    return Client(enforce_csrf_checks=True)


def start(regie, amount_cents=1234):
    return backends.start(
        regie,
        reference="FAC2026000042",
        amount_cents=amount_cents,
        email="famille@example.org",
        label="Cantine de novembre",
        notify_url=NOTIFY_URL,
        return_url=RETURN_URL,
    )


def qs(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


# --- Systempay -------------------------------------------------------------------------------------------


def test_systempay_page(demo, bank):
    regie = make_regie("systempayv2")
    checkout = start(regie)
    page = bank.post(checkout.url, dict(checkout.fields))
    assert page.status_code == 200
    text = page.content.decode()
    assert BANNER in text
    assert '<html lang="fr">' in text
    assert "12,34 €" in text and "FAC2026000042" in text and "Mode TEST" in text
    form = page_form(page)
    assert form["action"] == reverse("demobank:systempay_answer")
    assert dict(form["inputs"]) == dict(checkout.fields)
    assert [value for _name, value in form["buttons"]] == ["payer", "refuser", "annuler", "erreur", "silence"]
    assert "Envoyer la notification deux fois" in text


def test_systempay_bad_signature_is_refused_without_notification(demo, bank):
    regie = make_regie("systempayv2")
    fields = dict(start(regie).fields)
    fields["vads_amount"] = "1"
    page = bank.post(reverse("demobank:systempay"), fields)
    assert page.status_code == 400
    assert "Signature du formulaire invalide" in page.content.decode()
    assert BANNER in page.content.decode()
    # Even forcing the answer page does nothing.
    answer = bank.post(reverse("demobank:systempay_answer"), {**fields, "choix": "payer"})
    assert answer.status_code == 400
    assert notifications() == []


def test_systempay_unknown_shop_and_incomplete_form(demo, bank):
    regie = make_regie("systempayv2")
    fields = dict(start(regie).fields)
    regie.backend_options = {**regie.backend_options, "vads_site_id": "87654321"}
    regie.save()
    page = bank.post(reverse("demobank:systempay"), fields)
    assert page.status_code == 400
    assert "Boutique 12345678 inconnue" in page.content.decode()
    assert bank.post(reverse("demobank:systempay"), {"vads_site_id": "12345678"}).status_code == 400
    assert bank.get(reverse("demobank:systempay")).status_code == 405


def test_systempay_sha1_form_is_checked_too(demo, bank):
    regie = make_regie("systempayv2", options={**DEFAULT_OPTIONS["systempayv2"], "signature_algo": "sha1"})
    fields = dict(start(regie).fields)
    assert bank.post(reverse("demobank:systempay"), fields).status_code == 200
    fields["vads_amount"] = "999"
    assert bank.post(reverse("demobank:systempay"), fields).status_code == 400


def test_systempay_notification_twice(demo, bank):
    regie = make_regie("systempayv2")
    checkout = start(regie)
    press(bank, bank.post(checkout.url, dict(checkout.fields)), "payer", deux_fois=True)
    sent = notifications()
    assert len(sent) == 2
    assert sent[0]["body"] == sent[1]["body"]


def test_systempay_no_answer(demo, bank):
    regie = make_regie("systempayv2")
    checkout = start(regie)
    back = press(bank, bank.post(checkout.url, dict(checkout.fields)), "silence")
    assert (back.status_code, back["Location"]) == (303, RETURN_URL)
    assert notifications() == []


def test_systempay_return_modes(demo, bank):
    regie = make_regie("systempayv2")
    fields = dict(start(regie).fields)
    # The return mode is part of the signed form: re-sign as the shop would.
    for mode in ("POST", "NONE"):
        signed = {**fields, "vads_return_mode": mode}
        signed["signature"] = backends.systempay_signature(signed, "TestKey1234567890")
        response = bank.post(reverse("demobank:systempay_answer"), {**signed, "choix": "payer"})
        if mode == "NONE":
            assert (response.status_code, response["Location"]) == (303, RETURN_URL)
        else:
            assert response.status_code == 200
            form = page_form(response)
            assert form["action"] == RETURN_URL
            posted = dict(form["inputs"])
            assert posted["vads_result"] == "00"
            assert posted["signature"] == backends.systempay_signature(posted, "TestKey1234567890")
    assert len(notifications()) == 2


def test_systempay_answer_fields(demo, bank):
    regie = make_regie("systempayv2")
    checkout = start(regie)
    back = press(bank, bank.post(checkout.url, dict(checkout.fields)), "annuler")
    returned = qs(back["Location"])
    assert returned["vads_result"] == "17"
    assert returned["vads_trans_status"] == "ABANDONED"
    assert returned["vads_operation_type"] == "DEBIT"
    assert returned["vads_url_check_src"] == "PAY"
    assert len(returned["vads_trans_uuid"]) == 32
    assert not any(name.startswith("vads_url_") and name != "vads_url_check_src" for name in returned)
    assert returned["signature"] == backends.systempay_signature(returned, "TestKey1234567890")


# --- TIPI -----------------------------------------------------------------------------------------------


def test_tipi_validates_like_the_real_service(demo, bank):
    response = bank.get(
        reverse("demobank:tipi"),
        {"numcli": "12345", "refdet": "AB-1", "montant": "99", "mel": "a@b", "saisie": "Q", "exer": "26"},
    )
    assert response.status_code == 400
    text = response.content.decode()
    for field in ("numcli", "refdet", "montant", "mel", "saisie", "exer"):
        assert f"({field})" in text
    assert notifications() == []


def test_tipi_no_answer_shows_the_ticket_without_notifying(demo, bank):
    regie = make_regie("tipi")
    ticket = press(bank, bank.get(start(regie).url), "silence")
    assert ticket.status_code == 200
    assert "Aucune réponse envoyée" in ticket.content.decode()
    assert "Retour sur le portail" in ticket.content.decode()
    assert notifications() == []


def test_tipi_notification_fields_and_twice(demo, bank, settings):
    settings.PAYMENT_DEMO_BANK_PORTAL_RETURN_PATH = "/retour-demo/"
    regie = make_regie("tipi")
    ticket = press(bank, bank.get(start(regie).url), "P", deux_fois=True)
    assert 'href="/retour-demo/?ref=FAC2026000042"' in ticket.content.decode()
    assert "réponse HTTP 200" in ticket.content.decode()
    sent = notifications()
    assert len(sent) == 2
    fields = qs("?" + sent[0]["body"])
    assert set(fields) == {
        "numcli", "exer", "refdet", "objet", "montant", "mel", "saisie", "resultrans", "numauto", "dattrans", "heurtrans"
    }  # fmt: skip
    assert fields["resultrans"] == "P"
    assert len(fields["dattrans"]) == 8 and len(fields["heurtrans"]) == 4


# --- PayFiP web-service --------------------------------------------------------------------------------


def soap_call(client, operation, **values):
    arg0 = "".join(f"<{name}>{value}</{name}>" for name, value in values.items())
    envelope = (
        f'<soap-env:Envelope xmlns:soap-env="{soap.SOAP_ENV}"><soap-env:Body>'
        f'<ns0:{operation} xmlns:ns0="{soap.TNS}"><arg0>{arg0}</arg0></ns0:{operation}>'
        "</soap-env:Body></soap-env:Envelope>"
    )
    response = client.post(reverse("demobank:payfip_soap"), envelope, content_type="text/xml")
    return response, etree.fromstring(response.content)


def fault_code(tree):
    return tree.findtext(f".//{{{soap.TNS}}}FonctionnelleErreur/code")


def test_soap_faults_and_detail(demo, bank):
    response, tree = soap_call(bank, "recupererDetailPaiementSecurise", idOp="inconnu")
    assert response.status_code == 500
    assert tree.findtext(".//faultstring") == soap.FAULT_STRING
    assert fault_code(tree) == "P1"
    response, tree = soap_call(
        bank,
        "creerPaiementSecurise",
        exer="2026", mel="famille@example.org", montant="1234", numcli="123456", objet="Cantine",
        refdet="FAC2026000042", saisie="T", urlnotif=NOTIFY_URL, urlredirect=RETURN_URL,
    )  # fmt: skip
    assert response.status_code == 200
    idop = tree.findtext(".//return/idOp")
    assert DemoPayFiPOperation.objects.filter(pk=idop).exists()
    assert fault_code(soap_call(bank, "recupererDetailPaiementSecurise", idOp=idop)[1]) == "P5"
    DemoPayFiPOperation.objects.update(resultrans="P", numauto="112233", dattrans="15012026", heurtrans="1030")
    response, tree = soap_call(bank, "recupererDetailPaiementSecurise", idOp=idop)
    assert response.status_code == 200
    assert tree.findtext(".//return/resultrans") == "P"
    assert tree.findtext(".//return/montant") == "1234"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"refdet": "FAC1"}, "R3"),
        ({"mel": ""}, "A1"),
        ({"mel": "a@b"}, "A2"),
        ({"montant": "99"}, "M3"),
        ({"montant": "12,34"}, "M1"),
        ({"numcli": "12"}, "T1"),
        ({"saisie": "A"}, "S1"),
        ({"urlnotif": ""}, "N1"),
        ({"urlredirect": "ftp://x"}, "D1"),
    ],
)
def test_soap_creation_is_validated(demo, bank, change, code):
    values = {
        "exer": "2026", "mel": "famille@example.org", "montant": "1234", "numcli": "123456",
        "refdet": "FAC2026000042", "saisie": "T", "urlnotif": NOTIFY_URL, "urlredirect": RETURN_URL,
    }  # fmt: skip
    values.update(change)
    response, tree = soap_call(bank, "creerPaiementSecurise", **values)
    assert (response.status_code, fault_code(tree)) == (500, code)
    assert not DemoPayFiPOperation.objects.exists()


def test_soap_client_detail_and_garbage(demo, bank):
    regie = make_regie("payfip_ws")
    response, tree = soap_call(bank, "recupererDetailClient", numCli="123456")
    assert tree.findtext(".//return/libelleN1") == regie.name
    assert fault_code(soap_call(bank, "recupererDetailClient", numCli="999999")[1]) == "T1"
    response = bank.post(reverse("demobank:payfip_soap"), "<not-soap", content_type="text/xml")
    assert response.status_code == 500
    assert fault_code(etree.fromstring(response.content)) == "X1"


def test_payfip_page_unknown_used_and_expired_idop(demo, bank):
    assert bank.get(reverse("demobank:payfip"), {"idop": "nope"}).status_code == 404
    regie = make_regie("payfip_ws")
    checkout = start(regie)
    page = bank.get(checkout.url)
    assert page.status_code == 200
    assert "12,34 €" in page.content.decode()
    assert regie.name in page.content.decode()
    press(bank, page, "R")
    again = bank.get(checkout.url)
    assert "déjà reçu une réponse" in again.content.decode()
    assert press_is_impossible(again)
    second = start(regie)
    DemoPayFiPOperation.objects.filter(pk=second.external_id).update(
        created_at=timezone.now() - dt.timedelta(minutes=16)
    )
    expired = bank.get(second.url)
    assert "Délai dépassé" in expired.content.decode()
    assert f'href="{RETURN_URL}"' in expired.content.decode()
    assert len(notifications()) == 1


def press_is_impossible(response):
    return "<form" not in response.content.decode()


def test_payfip_notification_twice(demo, bank):
    regie = make_regie("payfip_ws")
    checkout = start(regie)
    press(bank, bank.get(checkout.url), "P", deux_fois=True)
    assert [entry["body"] for entry in notifications()] == [f"idop={checkout.external_id}"] * 2
    operation = DemoPayFiPOperation.objects.get()
    assert (operation.resultrans, len(operation.numauto)) == ("P", 6)


# --- Dummy ------------------------------------------------------------------------------------------------


def test_dummy_page_needs_a_transaction(demo, bank):
    assert bank.get(reverse("demobank:dummy")).status_code == 400


def test_dummy_no_answer(demo, bank):
    regie = make_regie("dummy")
    checkout = start(regie)
    back = press(bank, bank.get(checkout.url), "silence")
    assert back.status_code == 303
    assert qs(back["Location"]) == {"transaction_id": checkout.external_id}
    assert notifications() == []


def test_dummy_notification_twice(demo, bank):
    regie = make_regie("dummy")
    press(bank, bank.get(start(regie).url), "payer", deux_fois=True)
    assert len(notifications()) == 2


def test_index(demo, bank):
    start(make_regie("payfip_ws"))
    page = bank.get(reverse("demobank:index"))
    assert page.status_code == 200
    assert BANNER in page.content.decode()
    assert "FAC2026000042" in page.content.decode()
