"""E-mails of the planning: the recap of validated changes, absences declared and decided, a place
freed on a session the family waits for.

Rendered and sent after the transaction commits (never for a rolled-back change, never while
session rows are locked). Bodies live in templates/emails/bookings/.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from portail.households.selectors import guardian_addresses
from portail.organisations.models import Town

from .selectors import format_day, format_deadline


def _send(household_id, name, context):
    recipients = guardian_addresses(household_id)
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


def notify_waitlist_place(entry, session, deadline) -> None:
    """ "Une place s'est libérée le …": the place is not kept, the first family that books it gets it."""
    planning_url = f"{settings.SITE_URL}{reverse('portal:planning')}?vue=semaine&date={session.date.isoformat()}"
    context = {
        "child_name": entry.child.first_name,
        "session": session,
        "day": format_day(session.date),
        "deadline": format_deadline(deadline),
        "planning_url": planning_url,
        "waitlist_url": f"{settings.SITE_URL}{reverse('portal:planning_waitlist')}",
    }
    transaction.on_commit(lambda: _send(entry.household_id, "waitlist_place", context), robust=True)
