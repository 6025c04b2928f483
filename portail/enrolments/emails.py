"""E-mails to the family at each step of an enrolment. Bodies live in templates/emails/enrolments/.

Rendered and sent after the surrounding transaction commits: a rolled-back decision never
mails anyone, and the capacity lock is not held while templates render.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from portail.households.selectors import guardian_addresses
from portail.organisations.models import Town

from .selectors import waiting_rank

# The e-mail sent for each status reached (templates/emails/enrolments/<name>.txt and <name>_subject.txt).
TEMPLATES = {
    "requested": "requested",
    "pre_enrolment": "pre_enrolment",
    "waiting": "waiting",
    "validated": "validated",
    "refused": "refused",
    "cancelled": "cancelled",
    "offered": "offered",
    "offer_expired": "offer_expired",
    "group_changed": "group_changed",
}


def family_addresses(enrolment) -> list[str]:
    return guardian_addresses(enrolment.child.household_id)


def notify_family(enrolment, event: str, **extra) -> None:
    """Queue the `event` e-mail. It is rendered and sent once the transaction commits: outside
    the capacity lock (keeps the lock short) and never for a rolled-back change. A mail failure
    after commit is logged, not raised: the decision itself is saved."""
    name = TEMPLATES[event]
    transaction.on_commit(lambda: send_notification(enrolment, name, extra), robust=True)


def send_notification(enrolment, name: str, extra: dict) -> None:
    recipients = family_addresses(enrolment)
    if not recipients:
        return
    context = {
        "town": Town.current(),
        "site_url": settings.SITE_URL,
        "enrolment": enrolment,
        "child": enrolment.child,
        "activity": enrolment.activity,
        "period": enrolment.period,
        "group": enrolment.group,
        **extra,
    }
    if name == "waiting":
        context.setdefault("rank", waiting_rank(enrolment))
    subject = " ".join(render_to_string(f"emails/enrolments/{name}_subject.txt", context).split())
    body = render_to_string(f"emails/enrolments/{name}.txt", context)
    send_mail(subject, body, None, recipients)
