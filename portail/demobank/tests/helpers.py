"""Shared by the demo bank tests and portail/payments/tests/test_backends.py."""

import itertools
from html.parser import HTMLParser

from portail.demobank.tests import urls as test_urls
from portail.payments.models import Regie
from tests.factories import TownFactory

NOTIFY_URL = "http://testserver/test-notify/"
RETURN_URL = "http://testserver/test-return/"
BANNER = "Banque de démonstration — aucun paiement réel"

SYSTEMPAY_OPTIONS = {
    "vads_site_id": "12345678",
    "secret_test": "TestKey1234567890",
    "secret_production": "ProdKey0987654321",
    "signature_algo": "hmac_sha256",
}
PAYFIP_OPTIONS = {"numcli": "123456"}
DEFAULT_OPTIONS = {
    "systempayv2": SYSTEMPAY_OPTIONS,
    "payzen": SYSTEMPAY_OPTIONS,
    "tipi": PAYFIP_OPTIONS,
    "payfip_ws": PAYFIP_OPTIONS,
    "dummy": {},
}

_codes = itertools.count(1)


def enable_demo_bank(settings) -> list[dict]:
    """Demo bank on, the test URLconf (demo bank + stand-in portal views), and a clean log."""
    settings.PAYMENT_DEMO_BANK = True
    settings.PAYMENT_DEMO_BANK_BASE_URL = "http://testserver"
    settings.PAYMENT_DEMO_BANK_ALLOWED_WITHOUT_DEBUG = True
    settings.ROOT_URLCONF = "portail.demobank.tests.urls"
    test_urls.received.clear()
    return test_urls.received


def notifications() -> list[dict]:
    return [entry for entry in test_urls.received if entry["view"] == "notify"]


def make_regie(backend: str, *, test_mode: bool = True, options: dict | None = None, **extra) -> Regie:
    number = next(_codes)
    return Regie.objects.create(
        town=TownFactory(),
        name=f"Régie {backend} {number}",
        code=f"RG{number:04d}",
        backend=backend,
        backend_options=dict(DEFAULT_OPTIONS[backend] if options is None else options),
        accepted_means=["online"],
        test_mode=test_mode,
        **extra,
    )


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "inputs": [], "buttons": []})
        elif self.forms and tag == "input" and attrs.get("type") == "hidden":
            self.forms[-1]["inputs"].append((attrs.get("name"), attrs.get("value") or ""))
        elif self.forms and tag == "button" and attrs.get("name"):
            self.forms[-1]["buttons"].append((attrs["name"], attrs.get("value") or ""))


def page_form(response) -> dict:
    """The first form of a demo bank page: action, hidden inputs, submit buttons."""
    parser = _FormParser()
    parser.feed(response.content.decode())
    assert parser.forms, "no form on the page"
    return parser.forms[0]


def press(client, response, choice: str, **toggles):
    """Submit the page's form with the button whose value is `choice` (plus ticked test options)."""
    form = page_form(response)
    assert ("choix", choice) in form["buttons"], f"no button {choice!r} in {form['buttons']}"
    data = dict(form["inputs"])
    data["choix"] = choice
    data.update({name: "1" for name, ticked in toggles.items() if ticked})
    return client.post(form["action"], data)
