"""The invoice and credit-note PDFs (WeasyPrint), generated on demand and cached with their SHA-256.

An issued invoice is immutable, so is its PDF: it is rendered once (at the first download or when
the "facture disponible" e-mail goes out, never while a page lists invoices), stored in
`invoice.pdf` with its SHA-256 and served from there afterwards. A stored file whose hash no longer
matches is not served: it is logged and a fresh copy is rendered beside it (the old file is kept).

What it says (PAYMENTS.md §3.2, §4; CGCT L1617-5): the issuer (commune, régie, name and quality of
the ordonnateur), the payer, number, dates, "à payer avant", the detail lines per child (date,
service, quantity, unit price, amount), the previous balance and payments at the date of issue,
the amount due, how to pay (online with the PayFiP references, at the régie's counter, SEPA
mandate) and the "voies et délais de recours". Everything is read from the invoice's own snapshots
(payer, issuer, lines) and from facts dated before its issue, so the document reads the same
whenever it is first rendered.

Snapshot keys read (all optional; missing ones fall back to the régie and the town):
- issuer (billing.invoicing.issuer_snapshot): town {name, address, postcode, city, phone, email,
  website, siret, logo}, regie {name, code, contact, counter (guichet: address and hours), iban, bic,
  ics, creditor_name (SEPA creditor)}, recourse, and also issuer_name, issuer_quality (nom et qualité
  de l'ordonnateur), court,
  cheque_payee; the same keys flat (town, address…, regie, regie_code…) are read as well. The logo
  is a data: URI (PNG/JPEG/SVG): nothing else is ever fetched;
- payer (billing.invoicing.payer_snapshot): name, address_line1/address_line2 (or address_lines),
  postcode, city, email, household_reference (or reference).
"""

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone

from portail.catalog.wording import format_euros
from portail.core.pdf import render_pdf
from portail.payments.models import (
    CASH_CEILING_CENTS,
    Allocation,
    AllocationKind,
    Backend,
    Means,
    PaymentStatus,
)

from .models import Invoice, MandateStatus, SepaMandate

logger = logging.getLogger(__name__)
security_log = logging.getLogger("portail.security")

DEFAULT_RECOURSE = (
    "Vous pouvez contester la somme réclamée dans un délai de deux mois suivant la réception de la "
    "présente facture, en saisissant la juridiction compétente (article L1617-5 du code général des "
    "collectivités territoriales). Avant toute démarche, vous pouvez adresser une réclamation écrite "
    "à la régie, qui vous répondra."
)
PAYFIP_BACKENDS = (Backend.TIPI, Backend.PAYFIP_WS)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- Reading the snapshots --------------------------------------------------------------------------


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _regie_title(name: str) -> str:
    """ "Régie Enfance" stays as it is; "Enfance" becomes "Régie Enfance"."""
    return name if name.lower().startswith("régie") else f"Régie {name}"


def _section(snapshot: dict, key: str) -> dict:
    value = snapshot.get(key)
    return value if isinstance(value, dict) else {}


def issuer_of(document) -> dict:
    """The issuer as printed: the snapshot taken at issue (billing.invoicing.issuer_snapshot: nested
    "town" and "regie" sections; flat keys are read too), completed by the régie and the town."""
    snapshot = document.issuer if isinstance(document.issuer, dict) else {}
    town_snapshot, regie_snapshot = _section(snapshot, "town"), _section(snapshot, "regie")
    regie = document.regie
    town = regie.town

    def flat(key) -> str:
        value = snapshot.get(key)
        return "" if isinstance(value, dict | list) else _text(value)

    def town_field(key, fallback=""):
        return _text(town_snapshot.get(key)) or flat(key) or _text(fallback)

    regie_name = _text(regie_snapshot.get("name")) or flat("regie") or regie.name
    logo = flat("logo") or _text(town_snapshot.get("logo"))
    return {
        "town": _text(town_snapshot.get("name")) or flat("town") or (town.name if town else "") or "La commune",
        "address": town_field("address", town.address if town else ""),
        "postcode": town_field("postcode", town.postcode if town else ""),
        "city": town_field("city", town.city if town else ""),
        "phone": town_field("phone", town.phone if town else ""),
        "email": town_field("email", town.email if town else ""),
        "website": town_field("website"),
        "siret": town_field("siret", getattr(town, "siret", "") if town else ""),
        "regie": regie_name,
        "regie_code": _text(regie_snapshot.get("code")) or flat("regie_code") or regie.code,
        "regie_contact": _text(regie_snapshot.get("contact")) or flat("regie_contact") or regie.contact,
        "counter": _text(regie_snapshot.get("counter")) or flat("counter"),
        "issuer_name": flat("issuer_name") or _text(regie.issuer_name),
        "issuer_quality": flat("issuer_quality") or _text(regie.issuer_quality) or "L'ordonnateur, le Maire",
        "recourse": flat("recourse") or DEFAULT_RECOURSE,
        "court": flat("court"),
        "cheque_payee": flat("cheque_payee") or _regie_title(regie_name),
        "iban": _text(regie_snapshot.get("iban")) or flat("iban"),
        "bic": _text(regie_snapshot.get("bic")) or flat("bic"),
        # SEPA creditor identifier, printed with the RUM for households paying by direct debit.
        "ics": _text(regie_snapshot.get("ics")) or flat("ics") or _text(regie.sepa_ics),
        "creditor_name": _text(regie_snapshot.get("creditor_name")) or _text(regie.sepa_creditor_name) or regie_name,
        "logo": logo if logo.startswith("data:image/") else "",
    }


def payer_of(document) -> dict:
    """The payer as printed (billing.invoicing.payer_snapshot), the household's reference if empty."""
    snapshot = document.payer if isinstance(document.payer, dict) else {}
    lines = snapshot.get("address_lines")
    if isinstance(lines, list | tuple):
        address = [_text(line) for line in lines if _text(line)]
    else:
        address = [_text(snapshot.get(key)) for key in ("address_line1", "address_line2", "address")]
        address = [line for line in address if line]
    town_line = " ".join(part for part in (_text(snapshot.get("postcode")), _text(snapshot.get("city"))) if part)
    if town_line:
        address.append(town_line)
    reference = _text(snapshot.get("household_reference")) or _text(snapshot.get("reference"))
    return {
        "name": _text(snapshot.get("name")) or f"Foyer {document.household.reference}",
        "address": address,
        "email": _text(snapshot.get("email")),
        "reference": reference or document.household.reference,
    }


# --- The invoice ------------------------------------------------------------------------------------


@dataclass
class ChildBlock:
    name: str
    lines: list = field(default_factory=list)
    subtotal_cents: int = 0


def lines_by_child(lines) -> list[ChildBlock]:
    """The lines grouped per child in their order (lines of no child last, as "Famille")."""
    blocks: OrderedDict[str, ChildBlock] = OrderedDict()
    for line in lines:
        name = line.child_name or "Famille"
        block = blocks.setdefault(name, ChildBlock(name=name))
        block.lines.append(line)
        block.subtotal_cents += line.amount_cents
    family = blocks.pop("Famille", None)
    return [*blocks.values(), *([family] if family else [])]


def _paid_as_of(invoice_ids, when) -> dict[int, int]:
    """{invoice id: cents paid by PAID payments received at `when` or before}."""
    if not invoice_ids:
        return {}
    return dict(
        Allocation.objects.filter(
            kind=AllocationKind.INVOICE,
            invoice_id__in=list(invoice_ids),
            payment__status=PaymentStatus.PAID,
            payment__paid_at__lte=when,
        )
        .values("invoice_id")
        .annotate(total=Sum("amount_cents"))
        .values_list("invoice_id", "total")
    )


def _previous_unpaid(invoice) -> list[tuple[Invoice, int]]:
    """Earlier invoices of the same household and régie still unpaid on the day this one was issued."""
    earlier = list(
        Invoice.objects.filter(household_id=invoice.household_id, regie_id=invoice.regie_id)
        .filter(issued_at__lte=invoice.issued_at)
        .exclude(pk=invoice.pk)
        .exclude(issued_at=invoice.issued_at, pk__gt=invoice.pk)
        .order_by("issued_at", "pk")
    )
    paid = _paid_as_of([other.pk for other in earlier], invoice.issued_at)
    rows = []
    for other in earlier:
        if other.transferred_at is not None and other.transferred_at <= invoice.issued_at:
            continue  # then owed to the Trésor public, not to the régie
        due = other.total_cents - paid.get(other.pk, 0)
        if due > 0:
            rows.append((other, due))
    return rows


def mandate_at_issue(document):
    """The household's mandate with the régie that was in force when the document was issued (signed
    by then, not revoked before): the PDF reads the same whenever it is first rendered."""
    issued_at = document.issued_at
    return (
        SepaMandate.objects.filter(
            household_id=document.household_id,
            regie_id=document.regie_id,
            signed_on__lte=timezone.localtime(issued_at).date(),
        )
        .filter(Q(status=MandateStatus.ACTIVE) | Q(revoked_at__gt=issued_at))
        .order_by("-signed_on", "-pk")
        .first()
    )


def _how_to_pay(invoice, issuer) -> dict:
    regie = invoice.regie
    means = set(regie.accepted_means or [])
    numcli = ""
    if regie.backend in PAYFIP_BACKENDS:
        numcli = _text((regie.backend_options or {}).get("numcli"))  # public: printed on every ASAP
    mandate = mandate_at_issue(invoice)
    counter_means = [
        label if label.isupper() else label[0].lower() + label[1:]
        for value, label in Means.choices
        if value in means and value in _COUNTER_MEANS
    ]
    return {
        "online": regie.accepts_online,
        "payfip": regie.backend in PAYFIP_BACKENDS,
        "numcli": numcli,
        "site_url": settings.SITE_URL,
        "counter_means": counter_means,
        "cheque": Means.CHEQUE in means,
        "cash": Means.CASH in means,
        "cash_ceiling": format_euros(CASH_CEILING_CENTS),
        "cesu": Means.CESU in means,
        "transfer": Means.TRANSFER in means and bool(issuer["iban"]),
        "direct_debit": Means.DIRECT_DEBIT in means,
        "mandate": mandate,
        "mandate_iban_end": mandate.iban.replace(" ", "")[-4:] if mandate else "",
    }


_COUNTER_MEANS = {Means.CHEQUE, Means.CASH, Means.CESU, Means.CARD_DESK, Means.TRANSFER}


def invoice_context(invoice) -> dict:
    issuer = issuer_of(invoice)
    lines = list(invoice.lines.all().order_by("child_name", "service_date", "pk"))
    already_paid = _paid_as_of([invoice.pk], invoice.issued_at).get(invoice.pk, 0)
    due = max(0, invoice.total_cents - already_paid)
    previous = _previous_unpaid(invoice)
    previous_cents = sum(cents for _other, cents in previous)
    return {
        "invoice": invoice,
        "issuer": issuer,
        "payer": payer_of(invoice),
        "issued_on": timezone.localtime(invoice.issued_at).date(),
        "blocks": lines_by_child(lines),
        "lines_total_cents": sum(line.amount_cents for line in lines),
        "already_paid_cents": already_paid,
        "due_cents": due,
        "previous": previous,
        "previous_cents": previous_cents,
        "balance_cents": previous_cents + due,
        "pay": _how_to_pay(invoice, issuer),
        "refdet": invoice.number,
    }


def invoice_html(invoice) -> str:
    return render_to_string("billing/invoice.html", invoice_context(invoice))


def invoice_filename(invoice) -> str:
    return f"facture-{invoice.number}.pdf"


# --- The credit note --------------------------------------------------------------------------------


def credit_note_context(credit_note) -> dict:
    return {
        "credit_note": credit_note,
        "invoice": credit_note.invoice,
        "issuer": issuer_of(credit_note),
        "payer": payer_of(credit_note),
        "issued_on": timezone.localtime(credit_note.issued_at).date(),
        "lines": list(credit_note.lines.all().order_by("pk")),
        "mandate": mandate_at_issue(credit_note),
    }


def credit_note_html(credit_note) -> str:
    return render_to_string("billing/credit_note.html", credit_note_context(credit_note))


def credit_note_filename(credit_note) -> str:
    return f"avoir-{credit_note.number}.pdf"


# --- Cached PDFs ------------------------------------------------------------------------------------


def _stored(document) -> bytes | None:
    """The cached PDF if there is one and its hash matches."""
    if not document.pdf or not document.pdf_sha256:
        return None
    try:
        with document.pdf.open("rb") as stored:
            data = stored.read()
    except OSError:
        logger.warning("%s: cached PDF %s is missing, rendering it again", document, document.pdf.name)
        return None
    if _sha256(data) != document.pdf_sha256:
        security_log.error("%s: cached PDF %s does not match its SHA-256, not served", document, document.pdf.name)
        return None
    return data


def _cached_pdf(document, html_of, filename_of) -> bytes:
    data = _stored(document)
    if data is not None:
        return data
    data = render_pdf(html_of(document))  # no row lock held while rendering
    model = type(document)
    with transaction.atomic():
        fresh = model.objects.select_for_update().get(pk=document.pk)
        stored = _stored(fresh)
        if stored is not None:  # rendered meanwhile by another request: serve that one
            document.pdf, document.pdf_sha256 = fresh.pdf, fresh.pdf_sha256
            return stored
        fresh.pdf.save(filename_of(fresh), ContentFile(data), save=False)
        fresh.pdf_sha256 = _sha256(data)
        fresh.save(update_fields=["pdf", "pdf_sha256"])  # allowed by the immutability guard
    document.pdf, document.pdf_sha256 = fresh.pdf, fresh.pdf_sha256
    return data


def invoice_pdf(invoice) -> bytes:
    """The invoice's PDF: the cached one, or rendered now and cached with its SHA-256."""
    return _cached_pdf(invoice, invoice_html, invoice_filename)


def credit_note_pdf(credit_note) -> bytes:
    """The credit note's PDF: the cached one, or rendered now and cached with its SHA-256."""
    return _cached_pdf(credit_note, credit_note_html, credit_note_filename)
