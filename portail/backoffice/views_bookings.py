"""Staff planning pages: a household's planning where agents book and cancel for the family at
once (no basket, deadlines bypassed, capacity kept, every action audited "par la Mairie" and
"hors délai" when late), declare an absence for the family, and the queue of absences to decide
("demandes d'annulation") with the medical certificates.

Views parse, call one service, render. staff_required is the outermost decorator so that
families and anonymous visitors get 403/login before any lookup or method check.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import PurePath
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from portail.bookings import selectors, services
from portail.bookings.errors import BookingError
from portail.bookings.models import HOLDING_STATUSES, Absence, AbsenceReason, AbsenceStatus, Booking, BookingStatus
from portail.catalog.deadlines import deadline_for_session
from portail.catalog.models import PaymentMode
from portail.core.audit import log_action
from portail.core.models import Channel
from portail.households import selectors as household_selectors

from .decorators import staff_required

HOUSEHOLD = "households.view_household"
VIEW = "bookings.view_booking"
CHANGE = "bookings.change_booking"
DECLARE = "bookings.add_absence"
VIEW_ABSENCES = "bookings.view_absence"
DECIDE = "bookings.change_absence"


# --- forms ---------------------------------------------------------------------------------------


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Motif de l'annulation",
        max_length=300,
        error_messages={"required": "Indiquez le motif de l'annulation : il est inscrit au journal."},
    )


class StaffAbsenceForm(forms.Form):
    motif = forms.ChoiceField(label="Motif de l'absence", choices=AbsenceReason.choices)
    precisions = forms.CharField(label="Précisions", required=False, max_length=1000, widget=forms.Textarea)
    justificatif = forms.FileField(label="Justificatif (facultatif)", required=False)


class DecisionForm(forms.Form):
    EXCUSE, BILL = "excuser", "facturer"
    decision = forms.ChoiceField(choices=[(EXCUSE, "Excuser"), (BILL, "Facturer")])
    note = forms.CharField(required=False, max_length=1000)


# --- the household planning ----------------------------------------------------------------------


@dataclass
class DayRow:
    day: date
    label: str
    cells: list  # one per unit of the block, in the units' order


@dataclass
class Block:
    """One enrolment of a child over the month: its units as columns, its session days as rows."""

    enrolment: object
    units: list
    days: list[DayRow]


@dataclass
class StaffActions:
    book: bool = False
    cancel: bool = False
    absence: bool = False


def _month(value: str) -> date:
    """ "2026-12" → 1 December 2026; anything else → the current month."""
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        return timezone.localdate().replace(day=1)


def _month_end(start: date) -> date:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _month_label(start: date) -> str:
    return f"{selectors.MONTH_NAMES[start.month - 1].capitalize()} {start.year}"


def _actions(cell, activity) -> StaffActions:
    """Which buttons to offer; the services still decide (and refuse with the reason)."""
    if cell.session is None or cell.session.is_cancelled or activity.payment_mode == PaymentMode.AT_ENROLMENT:
        return StaffActions()
    booking = cell.booking
    if booking is None:
        return StaffActions(book=cell.state not in ("full", "waitlisted"))
    free_of_absence = not hasattr(booking, "absence")
    confirmed = booking.status == BookingStatus.CONFIRMED
    return StaffActions(cancel=confirmed and free_of_absence, absence=confirmed and free_of_absence)


def _blocks(planning, days, now) -> list[Block]:
    grouped: dict[int, tuple] = {}
    for row in planning.rows:
        grouped.setdefault(row.enrolment.pk, (row.enrolment, []))[1].append(row)
    blocks = []
    for enrolment, rows in grouped.values():
        day_rows = []
        for index, day in enumerate(days):
            cells = [row.cells[index] for row in rows]
            if not any(cell.session is not None for cell in cells):
                continue
            for row, cell in zip(rows, cells, strict=True):
                cell.unit = row.unit
                cell.staff = _actions(cell, enrolment.activity)
                cell.late = cell.deadline is not None and now >= cell.deadline
                cell.deadline_label = selectors.format_deadline(cell.deadline) if cell.deadline else ""
            day_rows.append(DayRow(day=day, label=selectors.format_day(day), cells=cells))
        blocks.append(Block(enrolment=enrolment, units=[row.unit for row in rows], days=day_rows))
    return blocks


def _child_filter(household, value):
    if not str(value).isdigit():
        return None
    return household.children.filter(pk=int(value)).values_list("pk", flat=True).first()


@staff_required(HOUSEHOLD, VIEW)
@require_GET
def household_planning(request, household_id):
    household = household_selectors.staff_household(household_id)
    start = _month(request.GET.get("mois", ""))
    end = _month_end(start)
    child_id = _child_filter(household, request.GET.get("enfant", ""))
    now = timezone.now()
    calendar = selectors.household_calendar(
        household, start=start, end=end, child_id=child_id, now=now, bypass_deadline=True, waitlist_sizes=True
    )
    plannings = [(planning, _blocks(planning, calendar.days, now)) for planning in calendar.children]
    previous_month = (start - timedelta(days=1)).replace(day=1)
    next_month = end + timedelta(days=1)
    context = {
        "household": household,
        "month": f"{start:%Y-%m}",
        "month_label": _month_label(start),
        "previous": (f"{previous_month:%Y-%m}", _month_label(previous_month)),
        "next": (f"{next_month:%Y-%m}", _month_label(next_month)),
        "children": list(household.children.filter(is_active=True).order_by("birth_date", "first_name")),
        "child_id": child_id,
        "plannings": plannings,
        "reasons": AbsenceReason.choices,
        "can_change": request.user.has_perm(CHANGE),
        "can_declare": request.user.has_perm(DECLARE),
        "can_see_absences": request.user.has_perm(VIEW_ABSENCES),
    }
    return render(request, "backoffice/bookings/planning.html", context)


def _back_to_planning(request, household, day=None, anchor=""):
    params = {"mois": f"{day:%Y-%m}" if day else request.POST.get("mois", "")}
    child = request.POST.get("enfant", "")
    if child.isdigit():
        params["enfant"] = child
    url = reverse("backoffice:household_planning", args=[household.pk])
    query = urlencode({k: v for k, v in params.items() if v})
    return redirect(f"{url}{'?' + query if query else ''}{'#' + anchor if anchor else ''}")


def _what(child, session) -> str:
    return (
        f"{child.first_name}, {selectors.format_day(session.date)} ({session.unit.activity.name} – {session.unit.name})"
    )


def _late(session, moment) -> str:
    """The words the success message adds when the Mairie acted past the family's deadline."""
    return " – hors délai, par la Mairie." if moment >= deadline_for_session(session) else "."


@staff_required(HOUSEHOLD, CHANGE)
@require_POST
def planning_book(request, household_id):
    household = household_selectors.staff_household(household_id)
    child_value, session_value = request.POST.get("child", ""), request.POST.get("session", "")
    if not child_value.isdigit() or not session_value.isdigit():
        raise Http404("Séance introuvable")
    child = household_selectors.staff_child(household, int(child_value))
    try:
        booking = services.staff_book(
            child=child,
            session_id=int(session_value),
            actor=request.user,
            waive_surcharge=request.POST.get("sans_majoration") == "1",
        )
    except BookingError as refusal:
        messages.error(request, refusal.message)
        return _back_to_planning(request, household, anchor=f"case-{child.pk}-{session_value}")
    messages.success(
        request,
        f"Réservation enregistrée : {_what(child, booking.session)}{_late(booking.session, booking.created_at)}"
        + (" Sans majoration hors délai." if booking.late and not booking.surcharge_cents else ""),
    )
    return _back_to_planning(request, household, booking.session.date, f"case-{child.pk}-{booking.session_id}")


def _household_booking(household, booking_id) -> Booking:
    booking = (
        Booking.objects.filter(pk=booking_id, child__household=household, status__in=HOLDING_STATUSES)
        .select_related("child", "session__unit__activity")
        .first()
    )
    if booking is None:
        raise Http404("Réservation introuvable")
    return booking


@staff_required(HOUSEHOLD, CHANGE)
@require_POST
def planning_cancel(request, household_id, booking_id):
    household = household_selectors.staff_household(household_id)
    booking = _household_booking(household, booking_id)
    anchor = f"case-{booking.child_id}-{booking.session_id}"
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["reason"][0])
        return _back_to_planning(request, household, booking.session.date, anchor)
    try:
        cancelled = services.staff_cancel(booking=booking, actor=request.user, reason=form.cleaned_data["reason"])
    except BookingError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(
            request,
            f"Réservation annulée : {_what(booking.child, booking.session)}"
            f"{_late(cancelled.session, cancelled.cancelled_at)}",
        )
    return _back_to_planning(request, household, booking.session.date, anchor)


@staff_required(HOUSEHOLD, DECLARE)
@require_POST
def planning_absence(request, household_id, booking_id):
    household = household_selectors.staff_household(household_id)
    booking = _household_booking(household, booking_id)
    anchor = f"case-{booking.child_id}-{booking.session_id}"
    form = StaffAbsenceForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choisissez le motif de l'absence dans la liste.")
        return _back_to_planning(request, household, booking.session.date, anchor)
    try:
        absence = services.declare_absence(
            household=household,
            booking=booking,
            reason=form.cleaned_data["motif"],
            comment=form.cleaned_data["precisions"],
            certificate=form.cleaned_data["justificatif"],
            actor=request.user,
            channel=Channel.STAFF,
        )
    except BookingError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(
            request,
            f"Absence enregistrée : {_what(booking.child, booking.session)} – {absence.get_status_display().lower()}.",
        )
    return _back_to_planning(request, household, booking.session.date, anchor)


# --- the absence queue ---------------------------------------------------------------------------


def _pending_absences():
    return (
        Absence.objects.filter(status=AbsenceStatus.PENDING)
        .select_related("booking__child__household", "booking__session__unit__activity", "declared_by")
        .order_by("declared_at", "pk")
    )


@staff_required(VIEW_ABSENCES)
@require_GET
def absence_queue(request):
    page = Paginator(_pending_absences(), 50).get_page(request.GET.get("page"))
    for absence in page.object_list:
        absence.day = selectors.format_day(absence.booking.session.date)
    return render(
        request,
        "backoffice/bookings/absences.html",
        {"page": page, "can_decide": request.user.has_perm(DECIDE), "here": request.get_full_path()},
    )


def _staff_absence(absence_id) -> Absence:
    absence = (
        Absence.objects.filter(pk=absence_id)
        .select_related("booking__child__household", "booking__session__unit__activity", "household")
        .first()
    )
    if absence is None:
        raise Http404("Absence introuvable")
    return absence


@staff_required(VIEW_ABSENCES, DECIDE)
@require_POST
def absence_decide(request, absence_id):
    absence = _staff_absence(absence_id)
    form = DecisionForm(request.POST)
    back = request.POST.get("next", "")
    if not back.startswith(reverse("backoffice:absences")):
        back = reverse("backoffice:absences")
    if not form.is_valid():
        messages.error(request, "Choisissez « Excuser » ou « Facturer ».")
        return redirect(back)
    excused = form.cleaned_data["decision"] == DecisionForm.EXCUSE
    who = _what(absence.booking.child, absence.booking.session)
    try:
        decided = services.decide_absence(
            absence=absence, excused=excused, note=form.cleaned_data["note"], actor=request.user
        )
    except BookingError as refusal:
        messages.error(request, f"{who} : {refusal.message}")
    else:
        messages.success(
            request, f"{who} : {decided.get_status_display().lower()}. La famille est prévenue par e-mail."
        )
    return redirect(back)


@staff_required(VIEW_ABSENCES)
@require_GET
def absence_certificate(request, absence_id):
    """The certificate as an attachment (never a public media URL); each opening is logged."""
    absence = _staff_absence(absence_id)
    if not absence.certificate:
        raise Http404("Aucun justificatif")
    try:
        handle = absence.certificate.open("rb")
    except FileNotFoundError as missing:
        raise Http404("Justificatif introuvable") from missing
    log_action(
        actor=request.user,
        channel=Channel.STAFF,
        action="absence_certificate.viewed",
        obj=absence,
        household=absence.household,
        message=f"Justificatif d'absence consulté : {_what(absence.booking.child, absence.booking.session)}",
    )
    suffix = PurePath(absence.certificate.name).suffix.lower()
    return FileResponse(handle, as_attachment=True, filename=f"justificatif-absence-{absence.pk}{suffix}")
