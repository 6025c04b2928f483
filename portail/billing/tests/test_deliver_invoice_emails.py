"""`manage.py deliver_invoice_emails`, the periodic job that mails the invoices issued without e-mail."""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from tests.factories import make_family

from .factories import make_invoice, make_regie

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def deliver(*args) -> str:
    out = StringIO()
    call_command("deliver_invoice_emails", *args, stdout=out)
    return out.getvalue()


def test_mails_each_pending_invoice_once_oldest_first_within_the_limit():
    household, _guardian, _kids = make_family(children=1, email="camille@example.org")
    regie = make_regie()
    first, second = make_invoice(household, regie), make_invoice(household, regie)

    assert deliver("--limit", "1") == "1 facture(s) envoyée(s) par e-mail.\n"
    assert [m.subject for m in mail.outbox] == [f"Votre facture n° {first.number} est disponible"]
    assert mail.outbox[0].to == ["camille@example.org"]
    assert mail.outbox[0].attachments[0][2] == "application/pdf"

    assert deliver() == "1 facture(s) envoyée(s) par e-mail.\n"
    assert mail.outbox[-1].subject == f"Votre facture n° {second.number} est disponible"
    assert deliver() == "0 facture(s) envoyée(s) par e-mail.\n"  # a second pass sends nothing
    assert len(mail.outbox) == 2
