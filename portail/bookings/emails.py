"""E-mails of the planning: the recap of validated changes, absences declared and decided.

Rendered and sent after the transaction commits (never for a rolled-back change, never while
session rows are locked). Bodies live in templates/emails/bookings/.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from portail.households.models import Guardian
from portail.organisations.models import Town


def household_addresses(household_id) -> list[str]:
    return list(
        Guardian.objects.filter(household_id=household_id)
        .exclude(email="")
        .order_by("-is_payer", "pk")
        .values_list("email", flat=True)
    )


def _send(household_id, name, context):
    recipients = household_addresses(household_id)
    if not recipients:
        return
    context = {"town": Town.current(), "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"emails/bookings/{name}_subject.txt", context).split())
    body = render_to_string(f"emails/bookings/{name}.txt", context)
    send_mail(subject, body, None, recipients)


def notify_basket_confirmed(household, result) -> None:
    booked = [(b.child.first_name, b.session) for b in result.booked]
    cancelled = [(b.child.first_name, b.session) for b in result.cancelled]
    context = {"booked": booked, "cancelled": cancelled}
    transaction.on_commit(lambda: _send(household.pk, "confirmed", context), robust=True)


def notify_absence(absence, event: str) -> None:
    context = {"absence": absence, "booking": absence.booking, "session": absence.booking.session}
    transaction.on_commit(lambda: _send(absence.household_id, f"absence_{event}", context), robust=True)
