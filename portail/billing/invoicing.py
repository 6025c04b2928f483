"""Monthly invoicing of the invoiced activities, per régie and month; one-off invoices.

What is billed for month M of régie R (the billing rules):

1. Bookings of the activities R collects (``Regie.activities``) whose payment mode is INVOICED
   ("Facturée chaque mois"); prepaid and paid-at-enrolment activities are never invoiced.
2. Only CONFIRMED bookings: cancelled ones are not billed (nor those awaiting an online payment,
   which belong to prepaid activities anyway), nor bookings of a session the town cancelled.
3. Session date in M, or earlier and never billed (catch-up: a booking entered late, or held back
   last month, is billed with the next run). Sessions after M wait for their month.
4. A booking already linked to an invoice line is never billed again (``InvoiceLine.booking`` is
   one-to-one): a re-run, or the next month's run, cannot bill it twice.
5. Absences: an EXCUSED absence is not billed; a BILLED absence is billed at the grid's absence
   percent of the price decided at the tick (line kind "absence", the trail says how); a PENDING
   absence (staff have not decided yet) holds the booking back: it is listed as a warning in the
   preview and caught up by a later run once decided.
6. Price of each line: the price decided when the booking was made (``Booking.price_cents`` and its
   ``price_trail``, priced by the tariff engine at the tick) is copied, never recomputed: a quotient
   that changed since does not change it. A late booking's surcharge (``surcharge_cents``, included
   in its price) goes on its own line "Majoration hors délai" (kind "late"), which is a penalty and
   so not childcare for the tax certificate. Bookings made before prices were decided at the tick
   (empty trail) are priced by the engine here (``portail.billing.tariffs.quote_booking``) with the
   session date and the household's facts, read in bulk per chunk of households. A booking the engine
   cannot price (no grid, no price for the unit or bracket) is an ERROR: it blocks that household's
   invoice (listed in the preview and in the run's errors), the other households proceed. Fix the
   tariff and re-run: the blocked households are invoiced then.
6b. Billable items (``BillableItem``), priced once when they came to exist: unexpected presences
   (``billing.billable_items.record_unexpected_presence``) and flat fees per period. For an activity
   whose grid valid at a period's start has a flat fee, each VALIDATED enrolment of a period started
   by the end of the month gets one FLAT_FEE item, created and priced by the engine when its invoice
   is issued (one per enrolment × period, a constraint); that activity's bookings on the dates of such
   a grid are then not billed per session. Items dated up to the end of the month and not invoiced yet
   are billed (catch-up like bookings; ``InvoiceLine.billable_item`` is one-to-one).
7. One invoice per household × régie × month (the model's constraint ``one_monthly_invoice``); a
   household that already has its invoice for M is skipped (idempotent re-run: 0 new invoices).
8. Households are issued by batches of ``BATCH`` in one transaction: the (régie, year, "invoice")
   counter row is locked and a block of numbers taken at once (``F{code}{year}{n:06d}``, gapless), the
   invoices created with their payer and issuer snapshots, their lines (which link the bookings and
   items) in multi-row INSERTs, each household's available credit with the régie (credit notes,
   prepayments, unallocated desk payments) applied, the audit entries written. If anything fails in
   a batch, the whole batch rolls back (counter included: no gap, no half invoice) and its households
   are issued again one per transaction, so only the failing household is left out. A crash half-way
   leaves the committed batches; a re-run completes the others.
9. Issue date and due date come from the run (the issue date is never in the future nor before the
   last invoice already issued by the régie that year: numbers stay chronological). The numbering
   year is the year of issue.
10. After each commit the family is e-mailed (``portail.billing.emails.send_invoice_issued``).


One-off invoices ("Facture ponctuelle"): a manual line a régisseur adds for a household is issued at
once as a one-line invoice of its own number (``issue_one_off_invoice``), outside the monthly runs.

Query budget: candidates are found with 3 queries (bookings, items, flat-fee enrolments); households
are then handled by chunks of ``CHUNK`` with a fixed number of queries per chunk (households and
guardians, facts, credits, bookings, items, enrolments) and about 5 statements per batch of ``BATCH``
households (counter UPDATE … RETURNING, invoices, lines in one COPY on PostgreSQL or INSERTs of 500
elsewhere, audit entries, new items; 2 more per household with credit to apply). E-mails (PDF attached) leave after each commit; with ``notify=False``
they are sent later (``manage.py invoice_month … --send-emails``).
"""

import json
import logging
import zlib
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, IntegerField, Max, OuterRef, Prefetch, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from portail.bookings.models import AbsenceStatus, Booking, BookingStatus
from portail.bookings.selectors import MONTH_NAMES, format_day
from portail.catalog.models import Activity, PaymentMode, Unit, UnitKind
from portail.catalog.wording import format_euros
from portail.core.audit import _jsonable as audit_jsonable
from portail.core.audit import log_action
from portail.core.models import Channel, LogEntry
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.households.models import Child, Guardian, Household
from portail.payments.models import Allocation, AllocationKind, Payment, PaymentStatus
from portail.payments.services import spend_credit

from .emails import send_invoice_issued
from .errors import BillingError
from .models import (
    BillableItem,
    BillableItemKind,
    Invoice,
    InvoiceLine,
    InvoicingRun,
    LineKind,
    RunStatus,
    SeriesKind,
)
from .numbering import next_number, next_numbers
from .pricing import PricingError, grid_on
from .tariffs import household_facts, load_grids, quote_booking

logger = logging.getLogger(__name__)

CHUNK = 250
# Households issued per transaction: one block of numbers, a few multi-row INSERTs, one commit. A failing
# batch is retried household by household, so a bad household costs its batch one retry, never a gap.
BATCH = 50
RECOURSE = (
    "Vous pouvez contester cette somme dans un délai de deux mois à compter de la réception de cette "
    "facture devant le tribunal judiciaire ou administratif compétent selon la nature de la créance "
    "(article L1617-5 du code général des collectivités territoriales)."
)
MEAL_ACTIVITY_TYPES = {"restauration", "cantine"}


# --- Drafts: what would be billed -------------------------------------------------------------------


@dataclass
class DraftLine:
    kind: str
    label: str
    unit_price_cents: int
    amount_cents: int
    quantity: int = 1
    booking_id: int | None = None
    child_id: int | None = None
    child_name: str = ""
    child_birth_date: date | None = None
    activity_id: int | None = None
    activity_name: str = ""
    service_date: date | None = None
    childcare_eligible: bool = False
    trail: list = field(default_factory=list)
    # An unexpected presence or flat fee already recorded, or a flat fee to record at issue (its fields).
    billable_item_id: int | None = None
    new_item: dict | None = None


@dataclass
class HouseholdDraft:
    household: Household
    payer: dict
    lines: list[DraftLine] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    credit_payment_ids: list[int] = field(default_factory=list)

    @property
    def household_id(self) -> int:
        return self.household.pk

    @property
    def reference(self) -> str:
        return self.household.reference

    @property
    def payer_name(self) -> str:
        return self.payer.get("name", "")

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def blocked(self) -> bool:
        return bool(self.errors)


@dataclass
class Preview:
    """What a run of month M for régie R would issue now (nothing is written)."""

    regie: object
    month: date
    households: list[HouseholdDraft]  # would be invoiced
    blocked: list[HouseholdDraft]  # an error blocks their invoice
    errors: list[dict]
    warnings: list[dict]
    already_invoiced: int  # households that already have their invoice for the month

    @property
    def invoices_count(self) -> int:
        return len(self.households)

    @property
    def lines_count(self) -> int:
        return sum(len(h.lines) for h in self.households)

    @property
    def total_cents(self) -> int:
        return sum(h.total_cents for h in self.households)


# --- Months and dates --------------------------------------------------------------------------------


def month_start(value) -> date:
    """The first day of a month, from a date or a "YYYY-MM" string (BillingError if it is not one)."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.replace(day=1)
    try:
        year, month = (int(part) for part in str(value).strip().split("-"))
        return date(year, month, 1)
    except (TypeError, ValueError) as bad:
        raise BillingError("Mois invalide : écrivez-le AAAA-MM, par exemple 2026-11.", code="bad_month") from bad


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def month_label(month: date) -> str:
    return f"{MONTH_NAMES[month.month - 1]} {month.year}"


def _issued_at(issued_on: date) -> datetime:
    if issued_on == timezone.localdate():
        return timezone.now()
    return timezone.make_aware(datetime.combine(issued_on, time(12, 0)))


def check_issue_dates(regie, issued_on: date, due_date: date) -> None:
    """The issue date is not in the future nor before the régie's last invoice of that year
    (chronological numbering); the due date is not before the issue date."""
    if not isinstance(issued_on, date) or not isinstance(due_date, date):
        raise BillingError("Indiquez la date d'émission et la date limite de paiement.", code="dates_missing")
    if issued_on > timezone.localdate():
        raise BillingError("La date d'émission ne peut pas être dans le futur.", code="future_issue")
    if due_date < issued_on:
        raise BillingError(
            "La date limite de paiement ne peut pas précéder la date d'émission.", code="due_before_issue"
        )
    last = Invoice.objects.filter(regie=regie, issued_at__year=issued_on.year).aggregate(last=Max("issued_at"))["last"]
    if last is not None:
        last_day = timezone.localtime(last).date()
        if issued_on < last_day:
            raise BillingError(
                f"La régie a déjà émis une facture le {last_day:%d/%m/%Y} : la date d'émission ne peut pas être "
                "antérieure (les numéros suivent l'ordre chronologique).",
                code="issue_before_last",
            )


# --- Snapshots ---------------------------------------------------------------------------------------


def issuer_snapshot(regie) -> dict:
    town = regie.town
    return {
        "town": {
            "name": town.name,
            "address": town.address,
            "postcode": town.postcode,
            "city": town.city,
            "phone": town.phone,
            "email": town.email,
            "siret": town.siret,
        },
        "regie": {
            "name": regie.name,
            "code": regie.code,
            "contact": regie.contact,
            # SEPA creditor: its ICS is printed for households under a mandate; its account for transfers.
            "creditor_name": regie.sepa_creditor_name or regie.name,
            "ics": regie.sepa_ics,
            "iban": regie.sepa_iban,
            "bic": regie.sepa_bic,
        },
        # Mandatory mentions (CGCT L1617-5): name and quality of the ordonnateur.
        "issuer_name": regie.issuer_name,
        "issuer_quality": regie.issuer_quality,
        "recourse": RECOURSE,
    }


def payer_snapshot(household: Household, guardians: list[Guardian]) -> dict:
    """The payer (the guardian marked payer, else the first one) as printed on the invoice; {} if none."""
    payer = next((g for g in guardians if g.is_payer), guardians[0] if guardians else None)
    if payer is None:
        return {}
    return {
        "household_reference": household.reference,
        "civility": payer.get_civility_display(),
        "first_name": payer.first_name,
        "last_name": payer.last_name,
        "name": f"{payer.get_civility_display()} {payer.first_name} {payer.last_name.upper()}",
        "address_line1": payer.address_line1,
        "address_line2": payer.address_line2,
        "postcode": payer.postcode,
        "city": payer.city,
        "email": payer.email,
    }


def _jsonable(value):
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value):
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def is_childcare(*, unit, activity, child_birth_date: date | None, service_date: date) -> bool:
    """Frais de garde (tax credit, children under 6 on 1 January of the year): care only, meals excluded.
    `unit` may be None (a flat fee is for the activity)."""
    if (unit is not None and unit.kind == UnitKind.MEAL) or activity.activity_type.slug in MEAL_ACTIVITY_TYPES:
        return False
    if child_birth_date is None:
        return False
    jan_first = date(service_date.year, 1, 1)
    age = (
        jan_first.year
        - child_birth_date.year
        - ((jan_first.month, jan_first.day) < (child_birth_date.month, child_birth_date.day))
    )
    return age < 6


# --- Deriving the billable items ---------------------------------------------------------------------


def invoiced_activity_ids(regie) -> list[int]:
    return list(regie.activities.filter(payment_mode=PaymentMode.INVOICED).values_list("pk", flat=True))


@dataclass(frozen=True)
class FlatFeeSpan:
    """The dates over which an activity is paid by a flat fee per period (a grid with a flat fee)."""

    activity_id: int
    valid_from: date
    valid_until: date | None

    def q(self, activity_field: str, date_field: str) -> Q:
        q = Q(**{activity_field: self.activity_id, f"{date_field}__gte": self.valid_from})
        if self.valid_until is not None:
            q &= Q(**{f"{date_field}__lte": self.valid_until})
        return q


def flat_fee_spans(grids_by_activity: dict) -> list[FlatFeeSpan]:
    """The spans of the grids that have a flat fee, from {activity_id: [Grid]} (no query)."""
    return [
        FlatFeeSpan(activity_id, grid.valid_from, grid.valid_until)
        for activity_id, grids in grids_by_activity.items()
        for grid in grids
        if grid.flat_fee_cents is not None
    ]


def _any_of(spans: list[FlatFeeSpan], activity_field: str, date_field: str) -> Q | None:
    if not spans:
        return None
    q = Q()
    for span in spans:
        q |= span.q(activity_field, date_field)
    return q


def _spans_for(activity_ids, spans):
    if spans is None:
        spans = flat_fee_spans(load_grids(activity_ids))
    return spans


def _invoiced_this_month(regie, month: date, household_field: str):
    return Exists(
        Invoice.objects.filter(regie=regie, month=month, run__isnull=False, household_id=OuterRef(household_field))
    )


def _base_bookings(regie, month: date, activity_ids, spans=()):
    """Confirmed, unbilled bookings of the régie's invoiced activities up to the end of the month,
    of households without their invoice for the month yet (absences not filtered here). Bookings of
    an activity on dates where its grid is a flat fee per period are not billed one by one."""
    bookings = (
        Booking.objects.filter(
            status=BookingStatus.CONFIRMED,
            session__unit__activity_id__in=activity_ids,
            session__date__lt=next_month(month),
            session__is_cancelled=False,
            invoice_line__isnull=True,
        )
        .exclude(_invoiced_this_month(regie, month, "child__household_id"))
        .order_by()
    )
    flat = _any_of(list(spans), "session__unit__activity_id", "session__date")
    return bookings.exclude(flat) if flat is not None else bookings


def billable_bookings(regie, month: date, activity_ids=None, spans=None):
    """The bookings a run of `month` bills (rules 1–5 of the module docstring)."""
    if activity_ids is None:
        activity_ids = invoiced_activity_ids(regie)
    spans = _spans_for(activity_ids, spans)
    return _base_bookings(regie, month, activity_ids, spans).filter(
        Q(absence__isnull=True) | Q(absence__status=AbsenceStatus.BILLED)
    )


def billable_items(regie, month: date, activity_ids=None):
    """Unexpected presences and flat fees already recorded, dated up to the end of the month, not invoiced."""
    if activity_ids is None:
        activity_ids = invoiced_activity_ids(regie)
    return (
        BillableItem.objects.filter(
            activity_id__in=activity_ids, service_date__lt=next_month(month), invoice_line__isnull=True
        )
        .exclude(_invoiced_this_month(regie, month, "household_id"))
        .order_by()
    )


def flat_fee_enrolments(regie, month: date, activity_ids=None, spans=None):
    """VALIDATED enrolments owing a flat fee not recorded yet: their period started by the end of the
    month (catch-up: an enrolment validated after its period began is billed by the next run) and the
    activity's grid valid at the period's start has a flat fee."""
    if activity_ids is None:
        activity_ids = invoiced_activity_ids(regie)
    spans = _spans_for(activity_ids, spans)
    invoiced = set(activity_ids)
    flat = _any_of([s for s in spans if s.activity_id in invoiced], "activity_id", "period__start_date")
    if flat is None:
        return Enrolment.objects.none()
    owed = Exists(
        BillableItem.objects.filter(
            kind=BillableItemKind.FLAT_FEE, enrolment_id=OuterRef("pk"), period_id=OuterRef("period_id")
        )
    )
    return (
        Enrolment.objects.filter(flat, status=EnrolmentStatus.VALIDATED, period__start_date__lt=next_month(month))
        .exclude(owed)
        .exclude(_invoiced_this_month(regie, month, "child__household_id"))
        .order_by()
    )


def candidate_household_ids(regie, month: date, activity_ids=None, spans=None) -> list[int]:
    """The households a run of `month` would invoice now (3 queries), in a stable order."""
    if activity_ids is None:
        activity_ids = invoiced_activity_ids(regie)
    spans = _spans_for(activity_ids, spans)
    ids = set(
        billable_bookings(regie, month, activity_ids, spans).values_list("child__household_id", flat=True).distinct()
    )
    ids.update(billable_items(regie, month, activity_ids).values_list("household_id", flat=True).distinct())
    ids.update(
        flat_fee_enrolments(regie, month, activity_ids, spans).values_list("child__household_id", flat=True).distinct()
    )
    return sorted(ids)


def _pending_absence_warnings(regie, month: date, activity_ids, spans=()) -> list[dict]:
    rows = (
        _base_bookings(regie, month, activity_ids, spans)
        .filter(absence__status=AbsenceStatus.PENDING)
        .select_related("child__household", "session__unit__activity")
        .order_by("child__household__reference", "session__date", "pk")
    )
    return [
        {
            "household_id": b.child.household_id,
            "household": b.child.household.reference,
            "child": b.child.full_name,
            "date": b.session.date.isoformat(),
            "date_label": f"{b.session.date:%d/%m/%Y}",
            "activity": b.session.unit.activity.name,
            "message": "Absence en attente de décision : la réservation n'est pas facturée ce mois-ci "
            "(elle le sera à la facturation suivante une fois l'absence traitée).",
        }
        for b in rows
    ]


class _Context:
    """What a run reads once: the régie's units and activities, the issuer, the grids."""

    def __init__(self, regie, month: date):
        self.regie = regie
        self.month = month
        self.activity_ids = invoiced_activity_ids(regie)
        self.units = {
            unit.pk: unit
            for unit in Unit.objects.filter(activity_id__in=self.activity_ids).select_related("activity__activity_type")
        }
        self.activities = {unit.activity_id: unit.activity for unit in self.units.values()}
        self.issuer = issuer_snapshot(regie)
        # {activity_id: [Grid]}: every grid version of the régie's activities, read once (2 queries).
        self.grids_cache: dict = dict(load_grids(self.activity_ids))
        self.spans = flat_fee_spans(self.grids_cache)

    def facts(self, household_ids: list[int]) -> dict:
        """HouseholdFacts of a chunk of households (≤ 3 queries: the town is known)."""
        return household_facts(household_ids, town=self.regie.town)

    def activity(self, activity_id: int):
        activity = self.activities.get(activity_id)
        if activity is None:  # an activity without units (a flat fee needs none)
            activity = self.activities[activity_id] = Activity.objects.select_related("activity_type").get(
                pk=activity_id
            )
        return activity

    def grid_on(self, activity_id: int, day: date):
        return grid_on(self.grids_cache.get(activity_id, ()), day)


def _credit_payments(regie, household_ids) -> dict[int, list[int]]:
    """Per household, its PAID payments to the régie with money not allocated yet (its credit)."""
    allocated = (
        Allocation.objects.filter(payment=OuterRef("pk"))
        .order_by()
        .values("payment")
        .annotate(total=Sum("amount_cents"))
        .values("total")
    )
    rows = (
        Payment.objects.filter(regie=regie, household_id__in=household_ids, status=PaymentStatus.PAID)
        .annotate(allocated=Coalesce(Subquery(allocated, output_field=IntegerField()), Value(0)))
        .filter(amount_cents__gt=F("allocated"))
        .order_by("paid_at", "pk")
        .values_list("household_id", "pk")
    )
    credits: dict[int, list[int]] = defaultdict(list)
    for household_id, payment_id in rows:
        credits[household_id].append(payment_id)
    return credits


@dataclass
class _Item:
    """One billable booking, read as plain values (no model instance per booking: the run reads many)."""

    booking_id: int
    child: Child
    service_date: date
    unit_id: int
    billed_absence: bool
    # The price decided at the tick (surcharge included) and how; an empty trail: decided before the
    # engine priced bookings at the tick (older data), priced here.
    price_cents: int = 0
    surcharge_cents: int = 0
    price_trail: list = field(default_factory=list)
    late: bool = False


_ITEM_FIELDS = (
    "pk",
    "child_id",
    "child__household_id",
    "child__first_name",
    "child__last_name",
    "child__birth_date",
    "session__date",
    "session__unit_id",
    "absence__status",
    "price_cents",
    "surcharge_cents",
    "price_trail",
    "late",
)


def _trail(trail) -> list:
    if isinstance(trail, (list, tuple)) and all(isinstance(step, str) for step in trail):
        return list(trail)
    return _jsonable(list(trail))


def _half_up(exact: Decimal) -> int:
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _price_item(ctx: _Context, item: _Item, household, facts) -> list[DraftLine]:
    """The line of a booking (and its "Majoration hors délai" line when it was booked late)."""
    unit = ctx.units[item.unit_id]
    activity = unit.activity
    child = item.child
    if item.price_trail:
        # Decided at the tick: copied as it is (a quotient changed since does not change it).
        decided = item.price_cents - item.surcharge_cents
        surcharge = item.surcharge_cents
        trail = _trail(item.price_trail)
        if surcharge:
            trail.append(f"Majoration hors délai ({format_euros(surcharge)}) : sur une ligne à part")
        unit_price = amount = decided
        if item.billed_absence:
            # The grid's percent of the price decided at the tick, not a re-quote: the absence is decided
            # now, but what the booking cost was decided then (same quotient, siblings, residency).
            grid = ctx.grid_on(activity.pk, item.service_date)
            if grid is None:
                raise PricingError(
                    f"Aucune grille tarifaire pour « {activity.name} » le {item.service_date:%d/%m/%Y} "
                    "(pourcentage de l'absence facturée)."
                )
            exact = Decimal(decided) * Decimal(grid.billed_absence_percent) / Decimal(100)
            amount = _half_up(exact)
            trail.append(f"Absence facturée : {grid.billed_absence_percent} % du prix réservé")
            if exact != amount:
                trail.append(f"Arrondi au centime : {format_euros(amount)}")
    else:
        quote = quote_booking(
            child=child,
            household=household,
            unit=unit,
            service_date=item.service_date,
            kind="billed_absence" if item.billed_absence else "booking",
            late=item.late,
            grids_cache=ctx.grids_cache,
            facts=facts,
        )
        surcharge = int(getattr(quote, "surcharge_cents", 0) or 0)
        unit_price = int(quote.unit_price_cents)
        amount = int(quote.amount_cents) - surcharge
        trail = _trail(quote.trail)
    what = f"{activity.name} – {unit.name} – {format_day(item.service_date)}"
    common = _about(child, activity, item.service_date)
    lines = [
        DraftLine(
            kind=LineKind.ABSENCE if item.billed_absence else LineKind.BOOKING,
            label=(f"Absence facturée – {what}" if item.billed_absence else what)[:250],
            unit_price_cents=unit_price,
            amount_cents=amount,
            booking_id=item.booking_id,
            childcare_eligible=is_childcare(
                unit=unit, activity=activity, child_birth_date=child.birth_date, service_date=item.service_date
            ),
            trail=trail,
            **common,
        )
    ]
    if surcharge:
        lines.append(
            _penalty_line(LineKind.LATE, f"Majoration hors délai – {what}", surcharge, "Réservation hors délai", common)
        )
    return lines


def _penalty_line(kind, label: str, cents: int, rule: str, about: dict) -> DraftLine:
    """A surcharge (late booking, unexpected presence) is a penalty: its own line, left out of the tax
    certificate (not childcare)."""
    return DraftLine(
        kind=kind,
        label=label[:250],
        unit_price_cents=cents,
        amount_cents=cents,
        childcare_eligible=False,
        trail=[f"{rule} : +{format_euros(cents)}"],
        **about,
    )


def _about(child, activity, day) -> dict:
    """What an invoice line copies of the child and the activity it bills (kept if they change later)."""
    return {
        "child_id": child.pk,
        "child_name": child.full_name,
        "child_birth_date": child.birth_date,
        "activity_id": activity.pk,
        "activity_name": activity.name,
        "service_date": day,
    }


def _error(
    draft: HouseholdDraft, message: str, *, kind: str, child=None, day: date | None = None, activity=None, **extra
) -> dict:
    """A household's error; with the child, date and activity of the line it is about."""
    entry = {"kind": kind, "household_id": draft.household_id, "household": draft.reference, "message": message}
    entry.update(extra)
    if child is not None:
        entry.update(
            {
                "child": child.full_name,
                "date": day.isoformat(),
                "date_label": f"{day:%d/%m/%Y}",
                "activity": activity.name,
            }
        )
    return entry


def _child(children: dict, child_id, household_id, first_name, last_name, birth_date) -> Child:
    child = children.get(child_id)
    if child is None:
        child = children[child_id] = Child(
            id=child_id, household_id=household_id, first_name=first_name, last_name=last_name, birth_date=birth_date
        )
    return child


def _items(ctx: _Context, household_ids: list[int], children: dict):
    """The billable bookings of these households as _Items, in invoice order (one query)."""
    rows = (
        billable_bookings(ctx.regie, ctx.month, ctx.activity_ids, ctx.spans)
        .filter(child__household_id__in=household_ids)
        .order_by("child__household_id", "session__date", "session__unit__position", "child__first_name", "pk")
        .values_list(*_ITEM_FIELDS)
    )
    for (
        booking_id,
        child_id,
        household_id,
        first_name,
        last_name,
        birth_date,
        day,
        unit_id,
        absence,
        price_cents,
        surcharge_cents,
        price_trail,
        late,
    ) in rows:
        child = _child(children, child_id, household_id, first_name, last_name, birth_date)
        yield (
            household_id,
            _Item(
                booking_id,
                child,
                day,
                unit_id,
                absence == AbsenceStatus.BILLED,
                price_cents=price_cents,
                surcharge_cents=surcharge_cents or 0,
                price_trail=price_trail or [],
                late=bool(late),
            ),
        )


def _recorded_item_lines(ctx: _Context, household_ids: list[int], children: dict):
    """(household_id, DraftLine) of the unexpected presences and flat fees recorded and not invoiced (one query)."""
    rows = (
        billable_items(ctx.regie, ctx.month, ctx.activity_ids)
        .filter(household_id__in=household_ids)
        .order_by("household_id", "service_date", "pk")
        .values_list(
            "pk",
            "household_id",
            "child_id",
            "child__first_name",
            "child__last_name",
            "child__birth_date",
            "activity_id",
            "unit_id",
            "kind",
            "service_date",
            "label",
            "unit_price_cents",
            "amount_cents",
            "surcharge_cents",
            "trail",
        )
    )
    for (
        pk,
        household_id,
        child_id,
        first,
        last,
        birth,
        activity_id,
        unit_id,
        kind,
        day,
        label,
        unit_price,
        amount,
        surcharge,
        trail,
    ) in rows:
        child = _child(children, child_id, household_id, first, last, birth)
        activity = ctx.activity(activity_id)
        unit = ctx.units.get(unit_id)
        yield (
            household_id,
            DraftLine(
                kind=LineKind.PRESENCE if kind == BillableItemKind.PRESENCE else LineKind.FLAT_FEE,
                label=label,
                unit_price_cents=unit_price,
                amount_cents=amount - surcharge,
                billable_item_id=pk,
                childcare_eligible=is_childcare(
                    unit=unit, activity=activity, child_birth_date=child.birth_date, service_date=day
                ),
                trail=_trail(trail or []),
                **_about(child, activity, day),
            ),
        )
        if surcharge:  # the grid's presence charge
            yield (
                household_id,
                _penalty_line(
                    LineKind.PRESENCE,
                    f"Majoration – {label}",
                    surcharge,
                    "Présence non réservée",
                    _about(child, activity, day),
                ),
            )


def flat_fee_label(activity_name: str, period_name: str) -> str:
    return f"Forfait {period_name} – {activity_name} (les séances ne sont pas facturées une à une)"[:250]


def _flat_fee_lines(ctx: _Context, household_ids: list[int], children: dict, households: dict, facts_of: dict):
    """(household_id, DraftLine or PricingError message, enrolment row) of the flat fees owed and not
    recorded yet (one query): priced once by the engine here; the BillableItem is created at issue."""
    if not ctx.spans:
        return
    rows = (
        flat_fee_enrolments(ctx.regie, ctx.month, ctx.activity_ids, ctx.spans)
        .filter(child__household_id__in=household_ids)
        .order_by("child__household_id", "period__start_date", "child__first_name", "pk")
        .values_list(
            "pk",
            "child_id",
            "child__household_id",
            "child__first_name",
            "child__last_name",
            "child__birth_date",
            "activity_id",
            "period_id",
            "period__name",
            "period__start_date",
        )
    )
    for pk, child_id, household_id, first, last, birth, activity_id, period_id, period_name, start in rows:
        child = _child(children, child_id, household_id, first, last, birth)
        child.household = households[household_id]
        activity = ctx.activity(activity_id)
        try:
            quote = quote_booking(
                child=child,
                household=households[household_id],
                unit=Unit(activity_id=activity_id),  # a flat fee is for the activity, not a unit
                service_date=start,
                kind="flat_fee",
                grids_cache=ctx.grids_cache,
                facts=facts_of.get(household_id),
            )
        except PricingError as refusal:
            yield household_id, getattr(refusal, "message", "") or str(refusal), (child, activity, start)
            continue
        label = flat_fee_label(activity.name, period_name)
        trail = [*_trail(quote.trail), "Séances de la période comprises dans le forfait"]
        yield (
            household_id,
            DraftLine(
                kind=LineKind.FLAT_FEE,
                label=label,
                unit_price_cents=int(quote.unit_price_cents),
                amount_cents=int(quote.amount_cents),
                **_about(child, activity, start),
                childcare_eligible=is_childcare(
                    unit=None, activity=activity, child_birth_date=child.birth_date, service_date=start
                ),
                trail=trail,
                new_item={
                    "household_id": household_id,
                    "child_id": child_id,
                    "activity_id": activity_id,
                    "enrolment_id": pk,
                    "period_id": period_id,
                    "kind": BillableItemKind.FLAT_FEE,
                    "service_date": start,
                    "label": label,
                    "unit_price_cents": int(quote.unit_price_cents),
                    "amount_cents": int(quote.amount_cents),
                    "trail": trail,
                },
            ),
            None,
        )


def _drafts_for(ctx: _Context, household_ids: list[int]) -> list[HouseholdDraft]:
    """The drafts of a chunk of households: a fixed number of queries whatever the chunk's size."""
    if not household_ids:
        return []
    households = {
        h.pk: h
        for h in Household.objects.filter(pk__in=household_ids).prefetch_related(
            Prefetch("guardians", queryset=Guardian.objects.order_by("-is_payer", "pk"))
        )
    }
    facts_of = ctx.facts(list(households))
    credits = _credit_payments(ctx.regie, list(households))
    drafts: dict[int, HouseholdDraft] = {}
    for household_id in household_ids:
        household = households.get(household_id)
        if household is None:
            continue
        guardians = list(household.guardians.all())
        draft = HouseholdDraft(
            household=household,
            payer=payer_snapshot(household, guardians),
            credit_payment_ids=credits.get(household_id, []),
        )
        if not draft.payer:
            draft.errors.append(_error(draft, "Foyer sans responsable légal : pas de payeur.", kind="payer"))
        drafts[household_id] = draft
    children: dict[int, Child] = {}
    for household_id, item in _items(ctx, list(households), children):
        draft = drafts.get(household_id)
        if draft is None:
            continue
        item.child.household = draft.household
        try:
            draft.lines.extend(_price_item(ctx, item, draft.household, facts_of.get(household_id)))
        except PricingError as refusal:
            message = getattr(refusal, "message", "") or str(refusal) or "Aucun tarif ne s'applique."
            draft.errors.append(
                _error(
                    draft,
                    message,
                    kind="tariff",
                    booking_id=item.booking_id,
                    child=item.child,
                    day=item.service_date,
                    activity=ctx.units[item.unit_id].activity,
                )
            )
    for household_id, line in _recorded_item_lines(ctx, list(households), children):
        if household_id in drafts:
            drafts[household_id].lines.append(line)
    for household_id, line, refused in _flat_fee_lines(ctx, list(households), children, households, facts_of):
        draft = drafts.get(household_id)
        if draft is None:
            continue
        if refused is None:
            draft.lines.append(line)
            continue
        child, activity, start = refused
        draft.errors.append(_error(draft, line, kind="tariff", child=child, day=start, activity=activity))
    return [draft for draft in drafts.values() if draft.lines or draft.errors]


def _chunks(ids: list[int], size: int = CHUNK):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def preview_month(regie, month) -> Preview:
    """What a run for `month` would issue now: households with their lines and totals, the errors
    that block some households, warnings (absences awaiting a decision). Writes nothing."""
    month = month_start(month)
    ctx = _Context(regie, month)
    households, blocked = [], []
    for chunk in _chunks(candidate_household_ids(regie, month, ctx.activity_ids, ctx.spans)):
        for draft in _drafts_for(ctx, chunk):
            (blocked if draft.blocked else households).append(draft)
    already = Invoice.objects.filter(regie=regie, month=month, run__isnull=False).values("household").distinct().count()
    return Preview(
        regie=regie,
        month=month,
        households=households,
        blocked=blocked,
        errors=[error for draft in blocked for error in draft.errors],
        warnings=_pending_absence_warnings(regie, month, ctx.activity_ids, ctx.spans),
        already_invoiced=already,
    )


# --- Issuing ----------------------------------------------------------------------------------------


_LINE_FIELDS = (
    "invoice",
    "kind",
    "child",
    "child_name",
    "child_birth_date",
    "activity",
    "label",
    "service_date",
    "quantity",
    "unit_price_cents",
    "amount_cents",
    "booking",
    "billable_item",
    "childcare_eligible",
    "trail",
)
_LINES_PER_STATEMENT = 500
# The lines of an open batch (see _issue_batch): _create_lines adds to it instead of writing at once.
_line_buffer: ContextVar[list | None] = ContextVar("invoice_line_buffer", default=None)


def _create_items(lines: list[DraftLine], actor, channel: str) -> None:
    """The flat fees priced in the draft become BillableItems now (one INSERT), so the line links them."""
    new = [line for line in lines if line.new_item is not None and line.billable_item_id is None]
    if not new:
        return
    created_by = actor if getattr(actor, "is_authenticated", False) else None
    items = BillableItem.objects.bulk_create(
        [BillableItem(**line.new_item, created_by=created_by, channel=channel) for line in new]
    )
    for line, item in zip(new, items, strict=True):
        line.billable_item_id = item.pk


def _create_lines(invoice: Invoice, lines: list[DraftLine]) -> None:
    """The invoice's lines in one multi-row INSERT (per 500 lines); inside a batch, added to the batch's
    INSERT instead. A monthly run writes ~100,000 lines: bulk_create's model instance and per-field
    preparation per line cost more than the rest of the run together, so the values are bound directly
    (dates and JSON adapted by the backend)."""
    if not lines:
        return
    connection = transaction.get_connection()
    opts = InvoiceLine._meta
    adapt_date = connection.ops.adapt_datefield_value
    adapt_json = connection.ops.adapt_json_value
    encoder = opts.get_field("trail").encoder
    rows = [
        (
            invoice.pk,
            line.kind,
            line.child_id,
            line.child_name,
            adapt_date(line.child_birth_date),
            line.activity_id,
            line.label,
            adapt_date(line.service_date),
            line.quantity,
            line.unit_price_cents,
            line.amount_cents,
            line.booking_id,
            line.billable_item_id,
            bool(line.childcare_eligible),
            adapt_json(line.trail, encoder),
        )
        for line in lines
    ]
    buffer = _line_buffer.get()
    if buffer is not None:
        buffer.extend(rows)
        return
    _insert_line_rows(rows)


def _insert_line_rows(rows: list[tuple]) -> None:
    """Write prepared line rows: one COPY on PostgreSQL (a multi-row INSERT of 500 lines × 15 values
    costs psycopg more to build and quote client-side than the server takes to write it), multi-row
    INSERTs elsewhere. Inside the caller's transaction either way."""
    if not rows:
        return
    connection = transaction.get_connection()
    opts = InvoiceLine._meta
    fields = [opts.get_field(name) for name in _LINE_FIELDS]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # The driver's cursor: Django's wrapper has no copy(); values are dumped by psycopg's adapters.
            with cursor.cursor.copy(f"COPY {quote(opts.db_table)} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    head = f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES "  # noqa: S608 - names from the model
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _LINES_PER_STATEMENT):
            batch = rows[start : start + _LINES_PER_STATEMENT]
            cursor.execute(
                head + ", ".join([row_sql] * len(batch)),
                [value for row in batch for value in row],
            )


def _apply_credit(invoice: Invoice, payment_ids: list[int]) -> int:
    """Allocate the household's credit (oldest payment first) to the new invoice, up to its total.
    The payments are locked: what they still have is recounted under the lock."""
    if not payment_ids or invoice.total_cents <= 0:
        return 0
    payments = list(
        Payment.objects.select_for_update(no_key=True)
        .filter(pk__in=payment_ids, status=PaymentStatus.PAID, regie=invoice.regie_id)
        .order_by("paid_at", "pk")
    )
    used = dict(
        Allocation.objects.filter(payment_id__in=[p.pk for p in payments])
        .order_by()
        .values("payment")
        .annotate(total=Sum("amount_cents"))
        .values_list("payment", "total")
    )
    sources = [
        (payment, payment.amount_cents - used.get(payment.pk, 0))
        for payment in payments
        if payment.amount_cents > used.get(payment.pk, 0)
    ]
    due = {"kind": AllocationKind.INVOICE, "label": f"Facture {invoice.number}", "invoice": invoice}
    allocations = spend_credit(sources, [(invoice.total_cents, due)], timezone.now())
    Allocation.objects.bulk_create(allocations)
    return sum(allocation.amount_cents for allocation in allocations)


def _issued_audit(invoice: Invoice, draft: HouseholdDraft, credited: int) -> dict:
    """The "invoice.issued" audit entry's `after`, alone or in a batch."""
    return {
        "number": invoice.number,
        "total_cents": invoice.total_cents,
        "lines": len(draft.lines),
        "month": invoice.month,
        "run": invoice.run_id,
        "credit_applied_cents": credited,
    }


def _issue(
    *,
    regie,
    draft: HouseholdDraft,
    run,
    month: date | None,
    issued_at: datetime,
    due_date: date,
    issuer: dict,
    actor,
    channel: str,
    message: str = "",
    notify: bool = True,
) -> Invoice:
    """One invoice in its own transaction (a savepoint when called inside one)."""
    with transaction.atomic():
        number = next_number(regie, timezone.localtime(issued_at).year, SeriesKind.INVOICE)
        invoice = Invoice.objects.create(
            regie=regie,
            household=draft.household,
            run=run,
            number=number,
            month=month,
            issued_at=issued_at,
            due_date=due_date,
            payer=draft.payer,
            issuer=issuer,
            total_cents=draft.total_cents,
        )
        _create_items(draft.lines, actor, channel)
        _create_lines(invoice, draft.lines)
        credited = _apply_credit(invoice, draft.credit_payment_ids)
        log_action(
            actor=actor,
            channel=channel,
            action="invoice.issued",
            obj=invoice,
            household=draft.household,
            after=_issued_audit(invoice, draft, credited),
            message=message,
        )
        if notify:  # sent once the transaction commits (emails registers it with on_commit)
            send_invoice_issued(invoice)
    return invoice


@dataclass
class IssueResult:
    created: int = 0
    total_cents: int = 0
    skipped: int = 0  # already invoiced for the month
    errors: list[dict] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)


def _issue_batch(run: InvoicingRun, ctx: _Context, drafts: list[HouseholdDraft], *, issued_at, actor, channel, notify):
    """The invoices of several households in ONE transaction: a block of numbers from the counter, the
    invoices, the new items, every line and every audit entry in a few multi-row INSERTs. Anything that
    fails rolls the whole batch back, counter included (no gap); the caller then issues its households
    one by one."""
    regie = run.regie
    with transaction.atomic():
        numbers = next_numbers(regie, timezone.localtime(issued_at).year, SeriesKind.INVOICE, len(drafts))
        invoices = Invoice.objects.bulk_create(
            [
                Invoice(
                    regie=regie,
                    household=draft.household,
                    run=run,
                    number=number,
                    month=run.month,
                    issued_at=issued_at,
                    due_date=run.due_date,
                    payer=draft.payer,
                    issuer=ctx.issuer,
                    total_cents=draft.total_cents,
                )
                for draft, number in zip(drafts, numbers, strict=True)
            ]
        )
        _create_items([line for draft in drafts for line in draft.lines], actor, channel)
        rows: list = []
        token = _line_buffer.set(rows)
        try:
            for invoice, draft in zip(invoices, drafts, strict=True):
                _create_lines(invoice, draft.lines)
        finally:
            _line_buffer.reset(token)
        _insert_line_rows(rows)
        credited = {
            invoice.pk: _apply_credit(invoice, draft.credit_payment_ids)
            for invoice, draft in zip(invoices, drafts, strict=True)
        }
        who = actor if getattr(actor, "is_authenticated", False) else None
        LogEntry.objects.bulk_create(
            [
                LogEntry(
                    actor=who,
                    channel=channel,
                    action="invoice.issued",
                    object_type=Invoice._meta.label,
                    object_id=str(invoice.pk),
                    object_repr=str(invoice)[:200],
                    household=draft.household,
                    after=audit_jsonable(_issued_audit(invoice, draft, credited[invoice.pk])),
                )
                for invoice, draft in zip(invoices, drafts, strict=True)
            ]
        )
        if notify:
            for invoice in invoices:
                send_invoice_issued(invoice)
    return invoices


def _issue_one(run: InvoicingRun, ctx: _Context, draft: HouseholdDraft, *, issued_at, actor, channel, notify, result):
    try:
        invoice = _issue(
            regie=run.regie,
            draft=draft,
            run=run,
            month=run.month,
            issued_at=issued_at,
            due_date=run.due_date,
            issuer=ctx.issuer,
            actor=actor,
            channel=channel,
            notify=notify,
        )
    except IntegrityError:
        # The unique constraints: the household got its invoice for the month meanwhile (another
        # worker on an overlapping slice), or a booking was billed by another run; rolled back.
        if Invoice.objects.filter(
            regie=run.regie, household=draft.household, month=run.month, run__isnull=False
        ).exists():
            result.skipped += 1
        else:
            logger.exception("invoicing run %s: household %s conflicts", run.pk, draft.household_id)
            result.errors.append(
                _error(
                    draft,
                    "Une réservation a été facturée entre-temps par une autre facturation : relancer la facturation.",
                    kind="technical",
                )
            )
    except BillingError as refusal:
        result.errors.append(_error(draft, refusal.message, kind="refused"))
    except Exception as failure:  # noqa: BLE001 - one household's failure must not stop the others
        logger.exception("invoicing run %s: household %s failed", run.pk, draft.household_id)
        result.errors.append(
            _error(
                draft,
                f"Erreur technique, facture non émise (relancer la facturation) : {failure.__class__.__name__}",
                kind="technical",
            )
        )
    else:
        result.created += 1
        result.total_cents += invoice.total_cents
        result.invoices.append(invoice)


def _issue_drafts(run: InvoicingRun, ctx: _Context, drafts, *, actor, channel, notify, result: IssueResult) -> None:
    issued_at = _issued_at(run.issued_on)
    ready = []
    for draft in drafts:
        if draft.blocked:
            result.errors.extend(draft.errors)
        else:
            ready.append(draft)
    for batch in _chunks(ready, BATCH):
        if len(batch) > 1:
            try:
                invoices = _issue_batch(
                    run, ctx, batch, issued_at=issued_at, actor=actor, channel=channel, notify=notify
                )
            except Exception:  # noqa: BLE001 - rolled back as a whole; retried household by household below
                logger.info("invoicing run %s: a batch failed, its households are issued one by one", run.pk)
                for draft in batch:  # items created in the failed batch were rolled back with it
                    for line in draft.lines:
                        if line.new_item is not None:
                            line.billable_item_id = None
            else:
                result.created += len(invoices)
                result.total_cents += sum(invoice.total_cents for invoice in invoices)
                result.invoices.extend(invoices)
                continue
        for draft in batch:
            _issue_one(run, ctx, draft, issued_at=issued_at, actor=actor, channel=channel, notify=notify, result=result)


def issue_households(
    run: InvoicingRun,
    household_ids: list[int],
    *,
    actor=None,
    channel=Channel.STAFF,
    notify: bool = True,
    context: "_Context | None" = None,
) -> IssueResult:
    """Issue the invoices of `household_ids` for the run's régie and month, each in its own
    transaction (households already invoiced for the month are skipped). Safe to call from several
    processes at once on disjoint or overlapping slices: numbering is serialised by the counter lock.
    The run's errors are updated at the end (under the run's row lock)."""
    ctx = context or _Context(run.regie, run.month)
    result = IssueResult()
    for chunk in _chunks(list(household_ids)):
        _issue_drafts(run, ctx, _drafts_for(ctx, chunk), actor=actor, channel=channel, notify=notify, result=result)
    if result.errors:
        with transaction.atomic():
            locked = InvoicingRun.objects.select_for_update(no_key=True).get(pk=run.pk)
            locked.errors = list(locked.errors) + result.errors
            locked.save(update_fields=["errors"])
            run.errors = locked.errors
    return result


@contextmanager
def _exclusive_run(regie, month: date):
    """One run at a time per régie and month (a PostgreSQL session advisory lock, released on exit or
    when the process dies). SQLite (development) serialises writers anyway."""
    if connection.vendor != "postgresql":
        yield
        return
    key = zlib.crc32(f"portail.billing.run:{regie.pk}:{month:%Y-%m}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    if not acquired:
        raise BillingError(
            "Une facturation de ce mois est déjà en cours pour cette régie : attendez qu'elle se termine.",
            code="run_in_progress",
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def start_run(regie, month, *, issued_on: date, due_date: date, actor=None, channel=Channel.STAFF) -> InvoicingRun:
    """A new run (RUNNING). Runs of the same month left RUNNING by a crashed process are marked FAILED
    by run_month, which holds the month's lock."""
    month = month_start(month)
    check_issue_dates(regie, issued_on, due_date)
    run = InvoicingRun.objects.create(
        regie=regie,
        month=month,
        status=RunStatus.RUNNING,
        issued_on=issued_on,
        due_date=due_date,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    log_action(
        actor=actor,
        channel=channel,
        action="invoicing_run.started",
        obj=run,
        after={"regie": regie.code, "month": month, "issued_on": issued_on, "due_date": due_date},
    )
    return run


def finish_run(run: InvoicingRun, *, actor=None, channel=Channel.STAFF) -> InvoicingRun:
    """Close the run: counts and total from its invoices; FAILED (to re-run) if a household failed
    for a technical reason, DONE otherwise (tariff errors are listed; fix and re-run)."""
    with transaction.atomic():
        run = InvoicingRun.objects.select_for_update(no_key=True).get(pk=run.pk)
        figures = run.invoices.aggregate(n=Count("pk"), total=Coalesce(Sum("total_cents"), 0))
        run.invoices_count = figures["n"]
        run.total_cents = figures["total"]
        technical = any(error.get("kind") == "technical" for error in run.errors)
        run.status = RunStatus.FAILED if technical else RunStatus.DONE
        run.finished_at = timezone.now()
        run.save(update_fields=["invoices_count", "total_cents", "status", "finished_at"])
        log_action(
            actor=actor,
            channel=channel,
            action="invoicing_run.finished",
            obj=run,
            after={
                "status": run.status,
                "invoices": run.invoices_count,
                "total_cents": run.total_cents,
                "errors": len(run.errors),
            },
        )
    return run


def run_month(
    regie, month, *, issued_on: date, due_date: date, actor=None, channel=Channel.STAFF, notify: bool = True
) -> InvoicingRun:
    """Invoice `month` for `regie`: every household with billable items and no invoice for the month
    yet gets one (idempotent: a re-run creates nothing new; after a crash it completes the month).
    Returns the run, with `created`, `skipped` and `created_total_cents` set for this call."""
    month = month_start(month)
    with _exclusive_run(regie, month):
        # Holding the month's lock, a run still RUNNING is one whose process died: it was interrupted.
        InvoicingRun.objects.filter(regie=regie, month=month, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED, finished_at=timezone.now()
        )
        run = start_run(regie, month, issued_on=issued_on, due_date=due_date, actor=actor, channel=channel)
        ctx = _Context(regie, month)
        result = issue_households(
            run,
            candidate_household_ids(regie, month, ctx.activity_ids, ctx.spans),
            actor=actor,
            channel=channel,
            notify=notify,
            context=ctx,
        )
        run = finish_run(run, actor=actor, channel=channel)
    run.created = result.created
    run.skipped = result.skipped
    run.created_total_cents = result.total_cents
    return run


# --- One-off invoices ("Facture ponctuelle") ---------------------------------------------------------


def issue_one_off_invoice(
    *,
    regie,
    household: Household,
    label: str,
    amount_cents: int,
    actor,
    due_date: date,
    issued_on: date | None = None,
    child=None,
    service_date: date | None = None,
    channel=Channel.STAFF,
    childcare: bool = False,
    activity=None,
    notify: bool = True,
) -> Invoice:
    """A manual line a régisseur bills to a household, issued at once as a one-line invoice with its
    own number (outside the monthly runs: a run never includes it). Audited; e-mailed after the commit.

    `childcare`: the line is care of that child (a "régularisation accueil périscolaire"…), so it counts
    in the attestation fiscale like the care lines of the runs. `activity`: the service it is for (the
    attestation names the kind of care from it). `notify=False`: no e-mail (the demo, imports)."""
    label = (label or "").strip()
    if not label:
        raise BillingError("Indiquez le libellé de la ligne.", code="label_missing")
    if len(label) > 250:
        raise BillingError("Libellé : 250 caractères au plus.", code="label_too_long")
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise BillingError("Le montant doit être supérieur à zéro.", code="bad_amount")
    if child is not None and child.household_id != household.pk:
        raise BillingError("Cet enfant n'appartient pas à ce foyer.", code="child_elsewhere")
    if childcare and child is None:
        # The attestation is per child (under 6 on 1 January): care billed to nobody cannot count.
        raise BillingError(
            "Des frais de garde concernent un enfant : choisissez l'enfant gardé.", code="childcare_without_child"
        )
    issued_on = issued_on or timezone.localdate()
    check_issue_dates(regie, issued_on, due_date)
    guardians = list(household.guardians.order_by("-is_payer", "pk"))
    draft = HouseholdDraft(
        household=household,
        payer=payer_snapshot(household, guardians),
        lines=[
            DraftLine(
                kind=LineKind.MANUAL,
                label=label,
                unit_price_cents=amount_cents,
                amount_cents=amount_cents,
                child_id=child.pk if child else None,
                child_name=child.full_name if child else "",
                child_birth_date=child.birth_date if child else None,
                service_date=service_date,
                activity_id=activity.pk if activity else None,
                activity_name=activity.name if activity else "",
                childcare_eligible=bool(childcare),
                trail=[{"rule": "manual", "label": "Ligne saisie par la régie", "amount_cents": amount_cents}],
            )
        ],
        credit_payment_ids=_credit_payments(regie, [household.pk]).get(household.pk, []),
    )
    if not draft.payer:
        raise BillingError("Ce foyer n'a aucun responsable légal : pas de payeur à facturer.", code="no_payer")
    return _issue(
        regie=regie,
        draft=draft,
        run=None,
        month=month_start(service_date or issued_on),
        issued_at=_issued_at(issued_on),
        due_date=due_date,
        issuer=issuer_snapshot(regie),
        actor=actor,
        channel=channel,
        notify=notify,
        message=f"Facture ponctuelle : {label} ({format_euros(amount_cents)})",
    )
