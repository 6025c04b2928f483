"""E-mails about invoices: "Votre facture n° … est disponible" and "Votre avoir n° … est disponible",
the PDF attached, to the household's guardians and the up to 3 extra addresses the family chose
(InvoiceRecipient, seed 002).

Sent after the transaction that issued the document commits (robust on_commit: a mail failure is
logged, the invoice stays issued), once: `emailed_at` is claimed before sending (a second call, a
re-run of the invoicing or two workers at once send nothing more) and given back if sending fails.
Each address gets its own message: the extra recipients never see each other's addresses nor the
guardians'. The PDF is rendered here, after the commit, never inside the issuing transaction.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from portail.households.selectors import guardian_addresses

from .models import CreditNote, Invoice, InvoiceRecipient

logger = logging.getLogger(__name__)


def invoice_addresses(household_id) -> list[str]:
    """The guardians' addresses (the payer's first), then the family's extra ones; each once
    (compared without case)."""
    addresses, seen = [], set()
    extra = InvoiceRecipient.objects.filter(household_id=household_id).order_by("pk").values_list("email", flat=True)
    for address in [*guardian_addresses(household_id), *extra]:
        address = (address or "").strip()
        if address and address.lower() not in seen:
            seen.add(address.lower())
            addresses.append(address)
    return addresses


def _portal_url(name, *args) -> str:
    try:
        return settings.SITE_URL + reverse(name, args=args)
    except NoReverseMatch:
        return settings.SITE_URL + "/"


def _claim(model, pk, now) -> bool:
    """Take the right to send (emailed_at set) exactly once."""
    return bool(model.objects.filter(pk=pk, emailed_at__isnull=True).update(emailed_at=now))


def _release(model, pk, now) -> None:
    model.objects.filter(pk=pk, emailed_at=now).update(emailed_at=None)


def _send_each(subject, body, recipients, attachment) -> None:
    filename, content = attachment
    for address in recipients:
        message = EmailMessage(subject, body, None, [address])
        message.attach(filename, content, "application/pdf")
        message.send()


def _deliver_once(model, document, now, compose) -> bool:
    """Send `document` (None when gone) to the invoice addresses once: `compose()` gives the subject,
    the body and the attachment, called after the claim (the PDF is rendered only when it is sent)."""
    if document is None or document.emailed_at is not None:
        return False
    recipients = invoice_addresses(document.household_id)
    if not recipients:
        logger.info("%s: no e-mail address for household %s", document, document.household_id)
        return False
    now = now or timezone.now()
    if not _claim(model, document.pk, now):
        return False
    try:
        subject, body, attachment = compose()
        _send_each(subject, body, recipients, attachment)
    except Exception:
        _release(model, document.pk, now)
        raise
    return True


# --- Invoices ---------------------------------------------------------------------------------------


def send_invoice_issued(invoice) -> None:
    """ "Votre facture n° … est disponible", after the issuing transaction commits."""
    invoice_id = invoice.pk
    transaction.on_commit(lambda: deliver_invoice_issued(invoice_id), robust=True)


def deliver_invoice_issued(invoice_id, *, now=None) -> bool:
    """Send it now (once). Returns True when sent."""
    from .invoice_pdf import invoice_filename, invoice_pdf

    invoice = Invoice.objects.select_related("regie__town", "household").filter(pk=invoice_id).first()

    def compose():
        pdf = invoice_pdf(invoice)
        context = {
            "invoice": invoice,
            "regie": invoice.regie,
            "town": invoice.regie.town,
            "site_url": settings.SITE_URL,
            "invoices_url": _portal_url("portal:invoices"),
            "invoice_url": _portal_url("portal:invoice_detail", invoice.pk),
        }
        body = render_to_string("billing/emails/invoice_issued.txt", context)
        return f"Votre facture n° {invoice.number} est disponible", body, (invoice_filename(invoice), pdf)

    return _deliver_once(Invoice, invoice, now, compose)


# --- Credit notes -----------------------------------------------------------------------------------


def send_credit_note_issued(credit_note) -> None:
    """ "Votre avoir n° … est disponible", after the transaction that issued it commits."""
    credit_note_id = credit_note.pk
    transaction.on_commit(lambda: deliver_credit_note_issued(credit_note_id), robust=True)


def deliver_credit_note_issued(credit_note_id, *, now=None) -> bool:
    from .invoice_pdf import credit_note_filename, credit_note_pdf

    credit_note = (
        CreditNote.objects.select_related("regie__town", "household", "invoice").filter(pk=credit_note_id).first()
    )

    def compose():
        pdf = credit_note_pdf(credit_note)
        context = {
            "credit_note": credit_note,
            "invoice": credit_note.invoice,
            "regie": credit_note.regie,
            "town": credit_note.regie.town,
            "site_url": settings.SITE_URL,
            "invoices_url": _portal_url("portal:invoices"),
        }
        body = render_to_string("billing/emails/credit_note_issued.txt", context)
        return f"Votre avoir n° {credit_note.number} est disponible", body, (credit_note_filename(credit_note), pdf)

    return _deliver_once(CreditNote, credit_note, now, compose)


# --- Catching up (a periodic job, when the issuing run does not mail itself) --------------------------


def deliver_pending_invoices(*, limit=100, now=None) -> int:
    """Mail the invoices not mailed yet (oldest first, at most `limit`), for a periodic job that keeps
    PDF rendering and SMTP out of the invoicing run. Households without any address are skipped.
    Returns how many invoices were sent."""
    from django.db.models import Exists, OuterRef

    from portail.households.models import Guardian

    with_address = Exists(Guardian.objects.filter(household=OuterRef("household")).exclude(email="")) | Exists(
        InvoiceRecipient.objects.filter(household=OuterRef("household"))
    )
    pending = (
        Invoice.objects.filter(emailed_at__isnull=True, transferred_at__isnull=True)
        .filter(with_address)
        .order_by("issued_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for invoice_id in list(pending):
        try:
            sent += deliver_invoice_issued(invoice_id, now=now)
        except Exception:  # one bad address or PDF must not stop the others
            logger.exception("Invoice %s: e-mail not sent", invoice_id)
    return sent
