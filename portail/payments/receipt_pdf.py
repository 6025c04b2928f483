"""The "reçu de paiement" (ticket de paiement): one page proving a household paid a régie.

Only numbered payments (money received) have one. The HTML is built by `receipt_html`
(templates/payments/receipt.html) so that its content can be checked without parsing a PDF;
WeasyPrint turns it into the PDF and fetches nothing (styles are in the template).
"""

from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import timezone

from portail.catalog.wording import format_euros
from portail.core.pdf import render_pdf

from .errors import PaymentError
from .models import Means, PaymentStatus


@dataclass
class ReceiptLine:
    label: str
    amount: str


def receipt_available(payment) -> bool:
    return bool(payment.receipt_number)


def receipt_filename(payment) -> str:
    return f"recu-{payment.receipt_number}.pdf"


def _means_details(payment) -> list[tuple[str, str]]:
    """(label, value) rows describing how it was paid."""
    rows = []
    if payment.means == Means.CHEQUE:
        rows += [("Chèque n°", payment.reference), ("Banque", payment.cheque_bank)]
    elif payment.means == Means.CESU:
        rows.append(("Titres CESU", payment.cesu_details))
    elif payment.means == Means.ONLINE:
        rows.append(("N° d'autorisation", payment.reference))
    elif payment.reference:
        rows.append(("Référence", payment.reference))
    if payment.drawer:
        rows.append(("Tireur / payeur", payment.drawer))
    return [(label, value) for label, value in rows if value]


def receipt_context(payment, *, issued_on=None) -> dict:
    regie = payment.regie
    town = regie.town
    allocations = list(payment.allocations.all())
    allocated = sum(a.amount_cents for a in allocations)
    lines = [ReceiptLine(a.label, format_euros(a.amount_cents)) for a in allocations]
    credit = payment.amount_cents - allocated
    if credit > 0:
        lines.append(ReceiptLine("Crédit (avoir) sur votre compte", format_euros(credit)))
    guardians = list(payment.household.guardians.order_by("-is_payer", "last_name", "first_name"))
    return {
        "payment": payment,
        "regie": regie,
        "town": town,
        "town_label": (town.name if town else "") or "la commune",
        "household": payment.household,
        "guardians": guardians,
        "paid_at": timezone.localtime(payment.paid_at) if payment.paid_at else None,
        "amount": format_euros(payment.amount_cents),
        "means_details": _means_details(payment),
        "lines": lines,
        "refunded": payment.status == PaymentStatus.REFUNDED,
        "refunded_at": timezone.localtime(payment.refunded_at) if payment.refunded_at else None,
        "issued_on": issued_on or timezone.localdate(),
    }


def receipt_html(payment, **kwargs) -> str:
    if not receipt_available(payment):
        raise PaymentError("Ce paiement n'a pas de reçu : il n'est pas encaissé.", code="no_receipt")
    return render_to_string("payments/receipt.html", receipt_context(payment, **kwargs))


def render_receipt_pdf(payment, **kwargs) -> bytes:
    return render_pdf(receipt_html(payment, **kwargs))
