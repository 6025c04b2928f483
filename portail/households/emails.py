"""E-mails to families about their requests. Bodies live in templates/emails/households/
(plain text, French). Sent after the surrounding transaction commits: a rolled-back decision
never mails anyone."""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from portail.organisations.models import Town

from .models import ChangeRequest, RequestKind, RequestStatus


def family_address(change_request: ChangeRequest) -> str:
    """The payer guardian's e-mail, else the e-mail of whoever filed the request, else any guardian's."""
    guardians = list(change_request.household.guardians.select_related("user"))
    payer = next((g for g in guardians if g.is_payer), None)
    if payer and payer.email:
        return payer.email
    if change_request.submitted_by_id and change_request.submitted_by.email:
        return change_request.submitted_by.email
    for guardian in guardians:
        address = guardian.email or (guardian.user.email if guardian.user else "")
        if address:
            return address
    return ""


def send_decision(change_request: ChangeRequest, *, summary: str) -> None:
    address = family_address(change_request)
    if not address:
        return
    context = {
        "town": Town.current(),
        "site_url": settings.SITE_URL,
        "change_request": change_request,
        "accepted": change_request.status == RequestStatus.ACCEPTED,
        "is_signup": change_request.kind == RequestKind.SIGNUP,
        "summary": summary,
        "dashboard_url": settings.SITE_URL + reverse("portal:dashboard"),
        "login_url": settings.SITE_URL + reverse("accounts:login"),
    }
    subject = " ".join(render_to_string("emails/households/request_decided_subject.txt", context).split())
    body = render_to_string("emails/households/request_decided.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, None, [address]))
