"""Reads for the planning: places taken, the calendar grid of a household, the basket, history.

`household_calendar` builds the whole month (or fortnight, or week) of every child in a fixed
number of queries whatever the number of children, enrolments and bookings.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from portail.catalog.deadlines import WEEKDAY_NAMES, deadline_for, format_hour
from portail.catalog.models import PaymentMode, Session, Unit
from portail.core.models import LogEntry
from portail.enrolments.models import Enrolment, EnrolmentStatus

from .models import (
    HOLDING_STATUSES,
    LIVE_WAITLIST_STATUSES,
    AbsenceStatus,
    BasketLine,
    Booking,
    LineKind,
    SessionWaitlistEntry,
)

MONTH_NAMES = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]


def format_day(day: date) -> str:
    """ "mercredi 9 décembre 2026"."""
    return f"{WEEKDAY_NAMES[day.weekday()]} {day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def format_deadline(moment: datetime) -> str:
    """ "vendredi 4 décembre à 12 h" (Paris time)."""
    local = timezone.localtime(moment)
    return f"{WEEKDAY_NAMES[local.weekday()]} {local.day} {MONTH_NAMES[local.month - 1]} à {format_hour(local.time())}"


# --- Places ------------------------------------------------------------------------------------


def _bookings_holding(session_ref) -> Subquery:
    return Subquery(
        Booking.objects.filter(session=session_ref, status__in=HOLDING_STATUSES)
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )


def _lines_holding(session_ref, now) -> Subquery:
    return Subquery(
        BasketLine.objects.filter(session=session_ref, kind=LineKind.ADD, expires_at__gt=now)
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )


def with_places_taken(queryset, now):
    """Annotate sessions with `taken`: holding bookings + unexpired add lines (one query)."""
    ref = OuterRef("pk")
    return queryset.annotate(
        booked=Coalesce(_bookings_holding(ref), Value(0)),
        held=Coalesce(_lines_holding(ref, now), Value(0)),
    )


def places_taken(session_id: int, now) -> int:
    """The facts, recounted (under the session's row lock when called from a write)."""
    booked = Booking.objects.filter(session_id=session_id, status__in=HOLDING_STATUSES).count()
    held = BasketLine.objects.filter(session_id=session_id, kind=LineKind.ADD, expires_at__gt=now).count()
    return booked + held


# --- Calendar --------------------------------------------------------------------------------

# Cell states, with the legend shown above the calendar (seed 003).
STATE_LABELS = {
    "booked": "Réservée",
    "paid": "Payée et réservée",
    "awaiting_payment": "En cours de paiement",
    "pending_add": "Réservation en cours (à valider)",
    "pending_remove": "Annulation en cours (à valider)",
    "absence_pending": "Demande d'annulation en cours",
    "absence_excused": "Absence excusée",
    "absence_billed": "Absence facturée",
    "free": "Non réservée",
    "full": "Complet",
    "waitlisted": "Sur liste d'attente",
    "closed": "Pas d'accueil",
}


@dataclass
class Cell:
    day: date
    session: Session | None = None
    state: str = "none"  # "none": no session that day for this unit
    booking: Booking | None = None
    line: BasketLine | None = None
    deadline: datetime | None = None
    editable: bool = False
    reason: str = ""  # why the cell is read-only, for families
    # Full, and the family may put the child on the session's waiting list (activity option, deadline).
    waitlist_open: bool = False
    waitlist_size: int | None = None  # live entries of the session (staff planning only)

    @property
    def label(self) -> str:
        return STATE_LABELS.get(self.state, "")

    @property
    def ticked(self) -> bool:
        """Shown as booked once the pending changes are validated."""
        if self.line is not None:
            return self.line.kind == LineKind.ADD
        return self.booking is not None

    @property
    def deadline_text(self) -> str:
        return f"Réservation possible jusqu'au {format_deadline(self.deadline)}" if self.deadline else ""


@dataclass
class Row:
    enrolment: Enrolment
    unit: Unit
    cells: list[Cell]


@dataclass
class ChildPlanning:
    child: object
    symbol: str
    colour: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class Calendar:
    start: date
    end: date
    days: list[date]
    children: list[ChildPlanning]
    # Every active child with its mark, even when `child_id` filters the lines (the child filter).
    everyone: list[ChildPlanning] = field(default_factory=list)


# Distinct symbol and colour per child (seed 001: star, square, triangle…); colours pass AA on white.
CHILD_MARKS = [("★", "#1d4ed8"), ("■", "#b91c1c"), ("▲", "#047857"), ("●", "#7c2d92"), ("◆", "#9a3412")]


def child_mark(index: int) -> tuple[str, str]:
    return CHILD_MARKS[index % len(CHILD_MARKS)]


def _cell_state(cell: Cell, session, booking, line, capacity_left, waitlisted=False) -> str:
    if session.is_cancelled:
        return "closed"
    if line is not None:
        return "pending_add" if line.kind == LineKind.ADD else "pending_remove"
    if booking is not None:
        absence = getattr(booking, "absence", None)
        if absence is not None:
            return {
                AbsenceStatus.PENDING: "absence_pending",
                AbsenceStatus.EXCUSED: "absence_excused",
                AbsenceStatus.BILLED: "absence_billed",
            }[absence.status]
        if booking.status == "awaiting_payment":
            return "awaiting_payment"
        return "paid" if booking.paid_at else "booked"
    if capacity_left is not None and capacity_left <= 0:
        return "waitlisted" if waitlisted else "full"
    return "free"


def editable_reason(*, activity, booking, now, deadline, bypass_deadline) -> str:
    """Why a family cannot change this cell ("" when it can)."""
    if activity.payment_mode == PaymentMode.AT_ENROLMENT:
        return "Séances comprises dans l'inscription"
    if booking is not None and booking.paid_at:
        return "Réservation payée : contactez la Mairie pour l'annuler"
    if booking is not None and booking.status == "awaiting_payment":
        return "Paiement en cours"
    if booking is not None and hasattr(booking, "absence"):
        return "Absence déclarée"
    if not bypass_deadline and now >= deadline:
        return f"Délai dépassé (jusqu'au {format_deadline(deadline)})"
    return ""


def _waitlisted_flag(child_id: int) -> str:
    return f"waitlisted_{child_id}"


def with_waitlists(queryset, child_ids, *, sizes=False):
    """Annotate sessions, in the same query, with whether each child waits on them (one EXISTS per
    child: a household has a handful) and, for staff, the number of live entries."""
    ref = OuterRef("pk")
    live = SessionWaitlistEntry.objects.filter(session=ref, status__in=LIVE_WAITLIST_STATUSES)
    annotations = {_waitlisted_flag(child_id): Exists(live.filter(child_id=child_id)) for child_id in child_ids}
    if sizes:
        annotations["waitlist_size"] = Coalesce(
            Subquery(
                live.order_by().values("session").annotate(n=Count("pk")).values("n"), output_field=IntegerField()
            ),
            Value(0),
        )
    return queryset.annotate(**annotations) if annotations else queryset


def _fill_cell(cell, session, *, unit, activity, town, booking, line, left, waitlisted, now, bypass_deadline):
    """Set a cell's state, deadline and editability. `left`: the places left (None: unlimited);
    it and `waitlisted` only matter for a cell with neither booking nor pending line."""
    cell.session, cell.booking, cell.line = session, booking, line
    cell.deadline = deadline_for(unit.deadline_rule, cell.day, town)
    cell.state = _cell_state(cell, session, booking, line, left, waitlisted)
    cell.waitlist_size = getattr(session, "waitlist_size", None)
    if line is not None:
        cell.reason = ""  # a pending change can always be undone: it only frees what it held
    elif cell.state == "closed":
        cell.reason = "Pas d'accueil ce jour-là"
    elif cell.state == "waitlisted":
        cell.reason = "Complet : vous serez prévenus par e-mail si une place se libère"
    elif cell.state == "full":
        cell.reason = "Complet"
        cell.waitlist_open = (
            activity.session_waiting_list
            and activity.payment_mode != PaymentMode.AT_ENROLMENT
            and not bypass_deadline
            and now < cell.deadline
        )
    else:
        cell.reason = editable_reason(
            activity=activity,
            booking=booking,
            now=now,
            deadline=cell.deadline,
            bypass_deadline=bypass_deadline,
        )
    cell.editable = not cell.reason


def active_children(household) -> list:
    """The household's active children in the calendar's order (which gives their marks)."""
    return list(household.children.filter(is_active=True).order_by("birth_date", "first_name"))


def household_calendar(
    household,
    *,
    start: date,
    end: date,
    child_id=None,
    now=None,
    bypass_deadline=False,
    basket_lines=None,
    waitlist_sizes=False,
):
    """Every child's lines (one per validated enrolment and unit) over [start, end].

    Queries: children, enrolments (with activity, facility, town, period, group), units with
    their deadline rule, sessions with their places taken and waiting lists, bookings with
    absences, basket lines. `basket_lines`: the household's unexpired lines already read
    (basket_summary(...).lines), which spares the last query (the family planning page shows both).
    `waitlist_sizes`: count each session's waiting list too (staff planning).
    """
    now = now or timezone.now()
    all_children = active_children(household)
    marks = {child.pk: child_mark(index) for index, child in enumerate(all_children)}
    children = all_children
    if child_id is not None:
        children = [child for child in children if child.pk == child_id]
    child_ids = [child.pk for child in children]
    enrolments = list(
        Enrolment.objects.filter(
            child_id__in=child_ids,
            status=EnrolmentStatus.VALIDATED,
            period__start_date__lte=end,
            period__end_date__gte=start,
        )
        .select_related("activity__facility__town", "period", "group")
        .prefetch_related(
            Prefetch("activity__units", queryset=Unit.objects.select_related("deadline_rule").order_by("position"))
        )
        .order_by("activity__name", "period__start_date")
    )
    unit_ids = [unit.pk for enrolment in enrolments for unit in enrolment.activity.units.all()]
    sessions = with_waitlists(
        with_places_taken(Session.objects.filter(unit_id__in=unit_ids, date__range=(start, end)), now),
        child_ids,
        sizes=waitlist_sizes,
    ).select_related(None)
    session_at = {(session.unit_id, session.date): session for session in sessions}
    bookings = {
        (booking.child_id, booking.session_id): booking
        for booking in Booking.objects.filter(
            child_id__in=child_ids, session__date__range=(start, end), status__in=HOLDING_STATUSES
        ).select_related("absence")
    }
    if basket_lines is None:
        basket_lines = BasketLine.objects.filter(
            basket__household=household, expires_at__gt=now, session__date__range=(start, end)
        )
    lines = {(line.child_id, line.session_id): line for line in basket_lines}
    days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    by_child = defaultdict(list)
    for enrolment in enrolments:
        activity = enrolment.activity
        town = activity.facility.town
        for unit in activity.units.all():
            cells = []
            for day in days:
                cell = Cell(day=day)
                session = session_at.get((unit.pk, day))
                if session is not None and enrolment.period.start_date <= day <= enrolment.period.end_date:
                    capacity = session.capacity if session.capacity is not None else unit.capacity
                    _fill_cell(
                        cell,
                        session,
                        unit=unit,
                        activity=activity,
                        town=town,
                        booking=bookings.get((enrolment.child_id, session.pk)),
                        line=lines.get((enrolment.child_id, session.pk)),
                        left=None if capacity is None else capacity - session.booked - session.held,
                        waitlisted=getattr(session, _waitlisted_flag(enrolment.child_id), False),
                        now=now,
                        bypass_deadline=bypass_deadline,
                    )
                cells.append(cell)
            by_child[enrolment.child_id].append(Row(enrolment=enrolment, unit=unit, cells=cells))
    plannings = []
    for child in children:
        symbol, colour = marks[child.pk]
        plannings.append(ChildPlanning(child=child, symbol=symbol, colour=colour, rows=by_child.get(child.pk, [])))
    everyone = [
        ChildPlanning(child=child, symbol=marks[child.pk][0], colour=marks[child.pk][1]) for child in all_children
    ]
    return Calendar(start=start, end=end, days=days, children=plannings, everyone=everyone)


UNKNOWN = object()  # household_cell: "not known by the caller, read it"


def household_cell(
    household,
    child,
    session_id,
    *,
    now=None,
    bypass_deadline=False,
    session=None,
    enrolment=UNKNOWN,
    booking=UNKNOWN,
    line=UNKNOWN,
    active_ids=None,
):
    """One cell of `household_calendar`, as (planning, row, cell) for `child` on `session_id`, or
    None when the calendar has no line for it (child inactive, not enrolled that day, no session).

    The htmx answer to a tick (the hot path of an opening rush): the same cell as the calendar
    builds, in 4 small queries (5 when the places must be counted) instead of the household's
    whole day. `child` belongs to `household`. `session`: the row already read with its unit,
    activity, facility, town and deadline rule (the service's locked row), which spares a query;
    likewise `enrolment` (a validated one covering the day: the row shows only its activity),
    `booking` (the holding one, with its absence, or None) and `line` (the unexpired one, or None)
    when the caller has just read or written them under the session's lock; `active_ids`: the
    household's active children's ids in the calendar's order (active_children), for the mark.
    """
    now = now or timezone.now()
    active = active_ids
    if active is None:
        active = [child.pk for child in active_children(household)]
    if child.pk not in active:
        return None
    if session is None:
        session = (
            Session.objects.filter(pk=session_id)
            .select_related("unit__deadline_rule", "unit__activity__facility__town")
            .first()
        )
        if session is None:
            return None
    unit = session.unit
    activity = unit.activity
    if enrolment is UNKNOWN:
        # The calendar's last row for this unit (its enrolments are ordered by period start).
        enrolment = (
            Enrolment.objects.filter(
                child=child,
                activity_id=activity.pk,
                status=EnrolmentStatus.VALIDATED,
                period__start_date__lte=session.date,
                period__end_date__gte=session.date,
            )
            .order_by("-period__start_date", "-pk")
            .first()
        )
    if enrolment is None:
        return None
    enrolment.activity = activity
    # At most one of each (unique constraints): ordered by pk, which spares the models' joins.
    if booking is UNKNOWN:
        booking = (
            Booking.objects.filter(child=child, session=session, status__in=HOLDING_STATUSES)
            .select_related("absence")
            .order_by("pk")
            .first()
        )
    if line is UNKNOWN:
        line = (
            BasketLine.objects.filter(basket__household=household, child=child, session=session, expires_at__gt=now)
            .order_by("pk")
            .first()
        )
    left, waitlisted = None, False
    capacity = session.effective_capacity
    if line is None and booking is None and not session.is_cancelled and capacity is not None:
        flag = _waitlisted_flag(child.pk)
        counts = (
            with_waitlists(with_places_taken(Session.objects.filter(pk=session.pk), now), [child.pk])
            .values("booked", "held", flag)
            .get()
        )
        left, waitlisted = capacity - counts["booked"] - counts["held"], counts[flag]
    cell = Cell(day=session.date)
    _fill_cell(
        cell,
        session,
        unit=unit,
        activity=activity,
        town=activity.facility.town,
        booking=booking,
        line=line,
        left=left,
        waitlisted=waitlisted,
        now=now,
        bypass_deadline=bypass_deadline,
    )
    symbol, colour = child_mark(active.index(child.pk))
    planning = ChildPlanning(child=child, symbol=symbol, colour=colour)
    row = Row(enrolment=enrolment, unit=unit, cells=[cell])
    planning.rows.append(row)
    return planning, row, cell


# --- Basket --------------------------------------------------------------------------------------


@dataclass
class BasketSummary:
    lines: list
    adds: int
    removes: int
    cost_cents: int  # bookings to add minus cancellations (what the period changes by)
    expires_at: datetime | None
    has_prepaid: bool
    has_invoiced: bool


def _summary(rows, *, lines=(), modes=frozenset()) -> BasketSummary:
    """Counts, cost and first expiry from (kind, price_cents, expires_at) rows."""
    adds = sum(1 for kind, _, _ in rows if kind == LineKind.ADD)
    return BasketSummary(
        lines=list(lines),
        adds=adds,
        removes=len(rows) - adds,
        cost_cents=sum(price if kind == LineKind.ADD else -price for kind, price, _ in rows),
        expires_at=min((expires for _, _, expires in rows), default=None),
        has_prepaid=PaymentMode.PREPAID in modes,
        has_invoiced=PaymentMode.INVOICED in modes,
    )


def basket_summary(household, *, now=None, with_lines=True) -> BasketSummary:
    """The banner ("N réservations en attente, N annulations", "Coût de la période") and the recap."""
    if not with_lines:
        return basket_figures(household, now=now)
    now = now or timezone.now()
    lines = list(
        BasketLine.objects.filter(basket__household=household, expires_at__gt=now)
        .select_related("child", "session__unit__activity", "enrolment")
        .order_by("session__date", "session__unit__position", "child__first_name")
    )
    return _summary(
        [(line.kind, line.price_cents, line.expires_at) for line in lines],
        lines=lines,
        modes={line.session.unit.activity.payment_mode for line in lines},
    )


def basket_figures(household, *, now=None) -> BasketSummary:
    """The banner's figures (counts, cost, hold time) for the htmx answer to a tick: the same as
    basket_summary's, in one plain query of three columns (a basket holds a few dozen lines at
    most; cheaper to compile than an aggregate). `lines` is empty and the payment modes unread."""
    now = now or timezone.now()
    rows = list(
        BasketLine.objects.filter(basket__household=household, expires_at__gt=now)
        .order_by()
        .values_list("kind", "price_cents", "expires_at")
    )
    return _summary(rows)


# --- History ---------------------------------------------------------------------------------------

HISTORY_ACTIONS = ("booking.", "absence.")


def household_waitlist(household, *, since: date):
    """ "Mes listes d'attente": the household's entries on sessions from `since`, soonest first,
    each with `rank` (its place among the live entries of the session, by arrival) when live."""
    ahead = (
        SessionWaitlistEntry.objects.filter(
            session=OuterRef("session"), status__in=LIVE_WAITLIST_STATUSES, created_at__lt=OuterRef("created_at")
        )
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        SessionWaitlistEntry.objects.filter(household=household, session__date__gte=since)
        .select_related("child", "session__unit__activity")
        .annotate(ahead=Coalesce(Subquery(ahead, output_field=IntegerField()), Value(0)))
        .order_by("session__date", "session__unit__position", "child__first_name", "-created_at")
    )


def booking_history(household, *, since: date):
    """ "Voir mes dernières modifications": every booking change of the household since `since`,
    newest first, with who and through which channel ("par le web", "par la Mairie")."""
    start = datetime(since.year, since.month, since.day, tzinfo=timezone.get_current_timezone())
    query = Q()
    for prefix in HISTORY_ACTIONS:
        query |= Q(action__startswith=prefix)
    return (
        LogEntry.objects.filter(query, household=household, created_at__gte=start)
        .select_related("actor")
        .order_by("-created_at", "-pk")
    )
