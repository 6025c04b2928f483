"""E-mails about money: the receipt of a payment (PDF attached) and an online payment that failed.

Rendered and sent after the transaction commits: a rolled-back payment never mails anyone and no
row lock is held while the PDF renders. A mail failure after the commit is logged, not raised
(robust on_commit): the payment itself is saved. Bodies live in templates/emails/payments/.
"""

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string

from portail.catalog.wording import format_euros
from portail.households.selectors import guardian_addresses


def _payment(payment_id):
    from .models import Payment

    return Payment.objects.select_related("regie__town", "household").filter(pk=payment_id).first()


def _message(name: str, context: dict, recipients: list[str]) -> EmailMessage:
    context = {"site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"emails/payments/{name}_subject.txt", context).split())
    body = render_to_string(f"emails/payments/{name}.txt", context)
    return EmailMessage(subject, body, None, recipients)


def send_receipt(payment) -> None:
    """ "Reçu de paiement n° …" to the household's guardians, the PDF receipt attached."""
    payment_id = payment.pk
    transaction.on_commit(lambda: deliver_receipt(payment_id), robust=True)


def deliver_receipt(payment_id) -> None:
    from .receipt_pdf import receipt_filename, render_receipt_pdf

    payment = _payment(payment_id)
    if payment is None or not payment.receipt_number:
        return
    recipients = guardian_addresses(payment.household_id)
    if not recipients:
        return
    context = {"payment": payment, "regie": payment.regie, "town": payment.regie.town, "amount": _amount(payment)}
    message = _message("receipt", context, recipients)
    message.attach(receipt_filename(payment), render_receipt_pdf(payment), "application/pdf")
    message.send()


def send_payment_failed(payment) -> None:
    """An online payment refused, abandoned or expired: nothing is paid, what it held is released."""
    payment_id = payment.pk
    transaction.on_commit(lambda: deliver_payment_failed(payment_id), robust=True)


def deliver_payment_failed(payment_id) -> None:
    payment = _payment(payment_id)
    if payment is None:
        return
    recipients = guardian_addresses(payment.household_id)
    if not recipients:
        return
    attempt = payment.attempts.order_by("-created_at", "-pk").first()
    context = {
        "payment": payment,
        "regie": payment.regie,
        "town": payment.regie.town,
        "amount": _amount(payment),
        "purpose": attempt.purpose if attempt else "",
        "status_label": payment.get_status_display().lower(),
    }
    _message("failed", context, recipients).send()


def _amount(payment) -> str:
    return format_euros(payment.amount_cents)
