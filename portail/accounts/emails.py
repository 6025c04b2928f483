"""E-mails of the accounts area. Bodies live in templates/emails/accounts/ (plain text, French).

Sent after the surrounding transaction commits: a rolled-back change never mails anyone.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from portail.organisations.models import Town


def _context(extra: dict) -> dict:
    return {"town": Town.current(), "site_url": settings.SITE_URL, **extra}


def send_templated(*, to: list[str], template: str, context: dict) -> None:
    """Render emails/accounts/<template>_subject.txt and <template>.txt, send on commit."""
    recipients = [address for address in to if address]
    if not recipients:
        return
    ctx = _context(context)
    subject = " ".join(render_to_string(f"emails/accounts/{template}_subject.txt", ctx).split())
    body = render_to_string(f"emails/accounts/{template}.txt", ctx)
    transaction.on_commit(lambda: send_mail(subject, body, None, recipients))
