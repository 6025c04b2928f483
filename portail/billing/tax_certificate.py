"""Attestation fiscale pour frais de garde des enfants de moins de 6 ans (CGI art. 200 quater B;
PAYMENTS.md §3.6, §3.8).

What counts, for a household, a régie and a calendar year N:

- **Cash basis.** Money counts in the year it was received: allocations to invoices of payments that
  are PAID with `paid_at` in year N, in local (Paris) time. A December invoice paid in January N+1
  counts in N+1. Payments of means "avoir" count too: an avoir is money paid earlier and handed back
  by a credit note, and that credit note is deducted (below) in the year it is issued, so each euro
  counts once whichever invoice the avoir is spent on (the invoice it corrects or a later one), and
  an avoir refunded in cash leaves the credit note's deduction alone. The avoir payment must carry
  `paid_at` (the credit note's date).
- **Care only.** Only invoice lines flagged `childcare_eligible` (garde: périscolaire, accueil de
  loisirs, crèche) count. Meals, penalties and outings are lines without the flag.
- **Children under 6 on 1 January of N**, as the administration reads it: born in N−6 or later
  (the birth date copied on the invoice line, else the child's).
- **From invoice to lines.** An allocation pays an invoice, not a line. It is spread over the
  invoice's lines by amount: *eligible share of a child = allocation × that child's eligible lines
  total / invoice total*, rounded half-up (integer cents), per allocation and per child, never more
  than what is left of that child's eligible total on the invoice.
  CESU is the exception: a CESU title may only pay eligible care (§3.8), so a CESU allocation goes
  to the eligible lines first (up to what is left of them) and the other allocations share the
  rest by the same proportion. Without CESU on an invoice this is exactly the rule above. The
  allocations of every year are walked in payment order so that an invoice paid over two years is
  never counted more than once.
- **Credit notes reduce** the amount: credit note lines on eligible lines of eligible children,
  issued in year N, are deducted from that child's amount (never below zero).
- **CESU is shown separately**: `cesu_cents` is the part of `paid_cents` paid with CESU titles
  (the family deducts the employer-financed part from what it declares).

`issue_certificate` numbers (numbering.next_number: counter of the régie, the *tax year* and the
series "certificate", e.g. CENF2026000001 for an attestation of 2026 issued in January 2027) and archives each issue (a TaxCertificate row with its amounts and the
PDF's SHA-256); `certificate_pdf` renders templates/billing/tax_certificate.html with WeasyPrint,
from the stored amounts only.
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from portail.catalog.wording import format_euros
from portail.core.audit import log_action
from portail.core.models import Channel
from portail.core.pdf import render_pdf
from portail.payments.models import Allocation, Means, PaymentStatus

from .errors import BillingError
from .models import CreditNoteLine, InvoiceLine, SeriesKind, TaxCertificate
from .numbering import next_number

CHILD_AGE_LIMIT = 6


class TaxCertificateError(BillingError):
    pass


@dataclass(frozen=True)
class ChildAmount:
    child_name: str
    birth_date: date | None
    paid_cents: int  # eligible care paid in the year, all means (CESU included)
    cesu_cents: int  # of which paid with CESU titles
    services: tuple[str, ...] = field(default=())  # the kinds of care paid (activity types)

    @property
    def other_means_cents(self) -> int:
        return self.paid_cents - self.cesu_cents

    def as_json(self) -> dict:
        return {
            "child_name": self.child_name,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "paid_cents": self.paid_cents,
            "cesu_cents": self.cesu_cents,
            "services": list(self.services),
        }

    @classmethod
    def from_json(cls, data: dict) -> "ChildAmount":
        birth = data.get("birth_date")
        return cls(
            child_name=data.get("child_name", ""),
            birth_date=date.fromisoformat(birth) if birth else None,
            paid_cents=int(data.get("paid_cents") or 0),
            cesu_cents=int(data.get("cesu_cents") or 0),
            services=tuple(data.get("services") or ()),
        )


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """[1 January N 00:00, 1 January N+1 00:00) in local time (settings.TIME_ZONE, Europe/Paris)."""
    zone = timezone.get_default_timezone()
    return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)


def is_eligible_birth_date(birth_date: date | None, year: int) -> bool:
    """Under 6 on 1 January of `year`, as the tax administration reads it: born in year−6 or later."""
    return birth_date is not None and birth_date.year >= year - CHILD_AGE_LIMIT


def _half_up(numerator: int, denominator: int) -> int:
    """round(numerator / denominator), halves away from zero, in integers (both ≥ 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass
class _Child:
    name: str
    birth_date: date | None
    paid: int = 0
    cesu: int = 0
    services: list = field(default_factory=list)

    def add_service(self, name: str) -> None:
        if name and name not in self.services:
            self.services.append(name)


def _child_key(line) -> tuple:
    return ("child", line.child_id) if line.child_id else ("name", line.child_name)


def _line_birth_date(line) -> date | None:
    if line.child_birth_date:
        return line.child_birth_date
    return line.child.birth_date if line.child_id else None


def _service_name(line) -> str:
    activity = line.activity
    if activity is None:
        return ""
    return activity.activity_type.name if activity.activity_type_id else activity.name


def _split(amount: int, remaining: dict, pool: int) -> dict:
    """`amount` spread over `remaining` (child → cents left) in proportion to its part of `pool`,
    half-up per child, each capped at what is left for it."""
    if amount <= 0 or pool <= 0:
        return {}
    return {key: min(left, _half_up(amount * left, pool)) for key, left in remaining.items() if left > 0}


def certificate_amounts(household, regie, year: int) -> list[ChildAmount]:
    """Eligible care paid in `year` to `regie` by `household`, per child (see the module docstring)."""
    start, end = year_bounds(year)
    paid_in_year = Allocation.objects.filter(
        payment__household=household,
        payment__regie=regie,
        payment__status=PaymentStatus.PAID,
        payment__paid_at__gte=start,
        payment__paid_at__lt=end,
        invoice__regie=regie,
        invoice__household=household,
    )
    invoice_ids = set(paid_in_year.values_list("invoice_id", flat=True))
    children: dict[tuple, _Child] = {}

    # Eligible lines, per invoice and child (children old enough are left out from the start).
    eligible: dict[int, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    if invoice_ids:
        lines = (
            InvoiceLine.objects.filter(invoice_id__in=invoice_ids, childcare_eligible=True)
            .select_related("child", "activity__activity_type")
            .order_by("invoice_id", "pk")
        )
        for line in lines:
            if not (line.child_id or line.child_name):
                continue
            birth_date = _line_birth_date(line)
            if not is_eligible_birth_date(birth_date, year):
                continue
            key = _child_key(line)
            name = line.child_name or (line.child.full_name if line.child_id else "")
            child = children.setdefault(key, _Child(name, birth_date))
            child.add_service(_service_name(line))
            eligible[line.invoice_id][key] += line.amount_cents

    # Walk every allocation of these invoices (all years, payment order): CESU first on eligible care.
    allocations = (
        Allocation.objects.filter(invoice_id__in=list(eligible), payment__status=PaymentStatus.PAID)
        .select_related("payment", "invoice")
        .order_by("invoice_id", "payment__paid_at", "pk")
    )
    state: dict[int, tuple[dict, list]] = {}
    for allocation in allocations:
        invoice = allocation.invoice
        if invoice.id not in state:
            left = {key: max(0, cents) for key, cents in eligible[invoice.id].items()}
            state[invoice.id] = (left, [invoice.total_cents])
        left, unpaid = state[invoice.id]
        cesu = allocation.payment.means == Means.CESU
        amount = allocation.amount_cents
        if cesu:
            pool = sum(left.values())
            shares = _split(min(amount, pool), left, pool)
        else:
            # Never more than the allocation itself (a discount line may make care exceed the total).
            shares = _split(amount, left, max(unpaid[0], sum(left.values())))
        unpaid[0] = max(0, unpaid[0] - amount)
        paid_at = allocation.payment.paid_at
        counted = paid_at is not None and start <= paid_at < end
        for key, share in shares.items():
            left[key] -= share
            if counted:
                children[key].paid += share
                if cesu:
                    children[key].cesu += share

    # Credit notes issued in the year on eligible lines of eligible children.
    credit_lines = (
        CreditNoteLine.objects.filter(
            credit_note__household=household,
            credit_note__regie=regie,
            credit_note__issued_at__gte=start,
            credit_note__issued_at__lt=end,
            invoice_line__childcare_eligible=True,
        )
        .select_related("invoice_line__child")
        .order_by("pk")
    )
    for credit in credit_lines:
        line = credit.invoice_line
        key = _child_key(line)
        if key in children and is_eligible_birth_date(_line_birth_date(line), year):
            children[key].paid -= credit.amount_cents

    result = []
    for child in children.values():
        paid = max(0, child.paid)
        if paid == 0:
            continue
        result.append(ChildAmount(child.name, child.birth_date, paid, min(child.cesu, paid), tuple(child.services)))
    result.sort(key=lambda c: (c.birth_date or date.max, c.child_name))
    return result


def certificate_years(household) -> list[int]:
    """The years the household paid something (local time), newest first."""
    from portail.payments.models import Payment

    moments = Payment.objects.filter(household=household, status=PaymentStatus.PAID, paid_at__isnull=False).datetimes(
        "paid_at", "year", order="DESC", tzinfo=timezone.get_default_timezone()
    )
    return sorted({moment.year for moment in moments}, reverse=True)


def check_year_over(year: int) -> None:
    """An attestation covers a whole calendar year: none before 1 January of the next one."""
    if year >= timezone.localdate().year:
        raise TaxCertificateError(
            f"L'attestation fiscale de l'année {year} sera disponible à partir du 1er janvier {year + 1}.",
            code="year_not_over",
        )


class _AlreadyIssued(Exception):
    """Rolls back the number taken when another worker issued the same attestation meanwhile."""


def issue_certificate(
    household, regie, year: int, actor, *, channel: str = Channel.WEB, unless_issued: bool = False
) -> TaxCertificate | None:
    """A new numbered attestation for a past year, archived with its amounts. Every call issues a new
    one (staff may re-issue after a correction); the family page shows the one issued instead.
    `unless_issued` (the January job): None if the household already has one for that year and régie,
    checked under the counter's row lock so that two jobs at once never issue it twice."""
    check_year_over(year)
    amounts = certificate_amounts(household, regie, year)
    if not amounts:
        raise TaxCertificateError(
            f"Aucun frais de garde d'enfant de moins de 6 ans n'a été payé à la régie « {regie.name} » en {year} : "
            "il n'y a pas d'attestation à établir.",
            code="nothing_to_certify",
        )
    try:
        return _issue_certificate(household, regie, year, actor, amounts, channel=channel, unless_issued=unless_issued)
    except _AlreadyIssued:
        return None


def _issue_certificate(household, regie, year, actor, amounts, *, channel, unless_issued) -> TaxCertificate:
    with transaction.atomic():
        number = next_number(regie, year, SeriesKind.TAX_CERTIFICATE)  # C<régie code><year><n:06d>
        if unless_issued and TaxCertificate.objects.filter(household=household, regie=regie, year=year).exists():
            raise _AlreadyIssued  # the number goes back with the rollback: no gap
        certificate = TaxCertificate.objects.create(
            regie=regie,
            household=household,
            year=year,
            number=number,
            issued_at=timezone.now(),
            amounts=[amount.as_json() for amount in amounts],
        )
        pdf = certificate_pdf(certificate)
        certificate.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
        certificate.save(update_fields=["pdf_sha256"])
        log_action(
            actor=actor,
            channel=channel,
            action="tax_certificate.issued",
            obj=certificate,
            household=household,
            after={"number": number, "year": year, "amounts": certificate.amounts},
            message=f"Attestation fiscale {year} n° {number}",
        )
    certificate.rendered_pdf = pdf  # the e-mail attaches this copy rather than rendering it again
    return certificate


def latest_certificates(household, year: int) -> dict[int, TaxCertificate]:
    """The last attestation issued per régie for that year: {regie_id: certificate}."""
    latest = {}
    for certificate in TaxCertificate.objects.filter(household=household, year=year).order_by("issued_at", "pk"):
        latest[certificate.regie_id] = certificate
    return latest


# --- the PDF -------------------------------------------------------------------------------------


def certificate_amounts_of(certificate) -> list[ChildAmount]:
    return [ChildAmount.from_json(item) for item in certificate.amounts or []]


def certificate_context(certificate) -> dict:
    regie = certificate.regie
    town = regie.town
    household = certificate.household
    guardians = list(household.guardians.order_by("-is_payer", "last_name", "first_name"))
    payer = next((g for g in guardians if g.is_payer), guardians[0] if guardians else None)
    children = certificate_amounts_of(certificate)
    services = []
    for child in children:
        services += [name for name in child.services if name not in services]
    total = sum(c.paid_cents for c in children)
    cesu = sum(c.cesu_cents for c in children)
    return {
        "certificate": certificate,
        "regie": regie,
        "town": town,
        "town_label": (town.name if town else "") or "la commune",
        "household": household,
        "payer": payer,
        "guardians": guardians,
        "children": [
            {
                "name": c.child_name,
                "birth_date": c.birth_date,
                "paid": format_euros(c.paid_cents),
                "cesu": format_euros(c.cesu_cents),
                "other": format_euros(c.other_means_cents),
                "services": ", ".join(c.services),
            }
            for c in children
        ],
        "services": services,
        "total": format_euros(total),
        "total_cesu": format_euros(cesu),
        "total_other": format_euros(total - cesu),
        "has_cesu": cesu > 0,
        "issued_at": timezone.localtime(certificate.issued_at),
        "year": certificate.year,
    }


def certificate_html(certificate) -> str:
    return render_to_string("billing/tax_certificate.html", certificate_context(certificate))


def certificate_pdf(certificate) -> bytes:
    # The template carries its own styles: nothing (file or network) is fetched while rendering.
    return render_pdf(certificate_html(certificate))


def certificate_filename(certificate) -> str:
    return f"attestation-fiscale-{certificate.year}-{certificate.number}.pdf"


# --- Every January: the attestations of the year just ended, for every household -----------------------


@dataclass
class YearIssueResult:
    year: int
    issued: list = field(default_factory=list)
    already: int = 0  # the household had asked for it, or a previous run issued it
    failed: list = field(default_factory=list)  # (household id, régie code, French message)


def certificate_candidates(year: int, regie=None) -> list[tuple[int, int]]:
    """(household id, régie id) pairs that paid eligible care in `year`: money received that year on
    invoices with care lines. Children's ages are checked by certificate_amounts, per pair."""
    start, end = year_bounds(year)
    rows = Allocation.objects.filter(
        payment__status=PaymentStatus.PAID,
        payment__paid_at__gte=start,
        payment__paid_at__lt=end,
        invoice__lines__childcare_eligible=True,
    )
    if regie is not None:
        rows = rows.filter(invoice__regie=regie)
    return sorted(set(rows.values_list("invoice__household_id", "invoice__regie_id")))


def issue_year_certificates(year: int, *, regie=None, notify: bool = True, actor=None) -> YearIssueResult:
    """Issue the attestation of `year` for every household that paid eligible care (the January job,
    PAYMENTS.md §3.6: "available every January"). Idempotent: a household that already has one for
    that year and régie is left alone, so a re-run (or a family that asked first) issues nothing twice.
    Each attestation has its own transaction (its number is taken there); the e-mail leaves after it."""
    from portail.households.models import Household
    from portail.payments.models import Regie

    check_year_over(year)
    result = YearIssueResult(year=year)
    pairs = certificate_candidates(year, regie)
    existing = set(TaxCertificate.objects.filter(year=year).values_list("household_id", "regie_id"))
    households = Household.objects.in_bulk({household_id for household_id, _ in pairs})
    regies = Regie.objects.select_related("town").in_bulk({regie_id for _, regie_id in pairs})
    for household_id, regie_id in pairs:
        if (household_id, regie_id) in existing:
            result.already += 1
            continue
        try:
            certificate = issue_certificate(
                households[household_id], regies[regie_id], year, actor, channel=Channel.SYSTEM, unless_issued=True
            )
        except TaxCertificateError as refusal:
            result.failed.append((household_id, regies[regie_id].code, refusal.message))
            continue
        if certificate is None:  # issued meanwhile by another run or at the family's request
            result.already += 1
            continue
        result.issued.append(certificate)
        if notify:
            send_certificate_available(certificate)
    return result


def send_certificate_available(certificate) -> None:
    """ "Votre attestation fiscale … est disponible", the PDF attached, to the invoice addresses."""
    from django.conf import settings
    from django.urls import reverse

    from .emails import _send_each, invoice_addresses

    recipients = invoice_addresses(certificate.household_id)
    if not recipients:
        return
    regie = certificate.regie
    body = render_to_string(
        "billing/emails/tax_certificate_available.txt",
        {
            "certificate": certificate,
            "regie": regie,
            "town": regie.town,
            "certificates_url": settings.SITE_URL + reverse("portal:tax_certificates"),
        },
    )
    subject = f"Votre attestation fiscale {certificate.year} est disponible"

    def send():
        # The copy rendered (and hashed) at issue when there is one: the same bytes, rendered once.
        pdf = getattr(certificate, "rendered_pdf", None) or certificate_pdf(certificate)
        _send_each(subject, body, recipients, (certificate_filename(certificate), pdf))

    # After the commit (robust: a mail failure leaves the attestation issued, the family finds it online).
    transaction.on_commit(send, robust=True)
