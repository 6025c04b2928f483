"""Family "Planning" pages: the calendar of every child, ticking cells into the basket of pending
changes (htmx), the recap and its validation, the history, the weekly pattern and the waiting
list of full sessions (absences: views_absences.py).

Views parse, call one bookings service or selector, render. Every id is looked up inside
request.household (another household's id is a 404); every rule lives in portail.bookings.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from portail.bookings import selectors, services
from portail.bookings.errors import BookingError
from portail.bookings.models import LineKind
from portail.catalog.models import PaymentMode, Session
from portail.catalog.wording import format_euros
from portail.core.models import Channel
from portail.enrolments.models import EnrolmentStatus
from portail.enrolments.selectors import get_enrolment_for_household
from portail.organisations.models import SchoolYear

from . import views_payments as payment_views
from .decorators import family_required

# --- The calendar ------------------------------------------------------------------------------

VIEWS = {"mois": "Mois", "quinzaine": "Quinzaine", "semaine": "Semaine"}
STEP_LABELS = {
    "mois": ("Mois précédent", "Mois suivant"),
    "quinzaine": ("Quinzaine précédente", "Quinzaine suivante"),
    "semaine": ("Semaine précédente", "Semaine suivante"),
}
DEFAULT_VIEW = "mois"
# The htmx answer to a refused tick is a 409 whose fragment must still be swapped in.
HTMX_CONFIG = (
    '{"responseHandling": [{"code": "204", "swap": false}, {"code": "[23]..", "swap": true},'
    ' {"code": "409", "swap": true}, {"code": "[45]..", "swap": false, "error": true}]}'
)


def _parse_date(value, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _range_of(view: str, anchor: date) -> tuple[date, date, date, date]:
    """(start, end, previous anchor, next anchor) of the month, fortnight or week shown."""
    if view == "mois":
        start = anchor.replace(day=1)
        return start, _add_months(start, 1) - timedelta(days=1), _add_months(start, -1), _add_months(start, 1)
    span = 14 if view == "quinzaine" else 7
    start = anchor - timedelta(days=anchor.weekday())
    return start, start + timedelta(days=span - 1), start - timedelta(days=span), start + timedelta(days=span)


def _title(view: str, start: date, end: date) -> str:
    if view == "mois":
        return f"{selectors.MONTH_NAMES[start.month - 1].capitalize()} {start.year}"
    first = f"{start.day} {selectors.MONTH_NAMES[start.month - 1]}" + (
        f" {start.year}" if start.year != end.year else ""
    )
    last = f"{end.day} {selectors.MONTH_NAMES[end.month - 1]} {end.year}"
    return f"{'Semaine' if view == 'semaine' else 'Quinzaine'} du {first} au {last}"


@dataclass
class ChildTable:
    """One child's lines, showing only the days that have a session on one of them."""

    planning: object
    days: list
    rows: list  # (row, cells)

    @property
    def groups(self):
        """The lines grouped by enrolment (one heading row per activity): [(enrolment, [(row, cells)])]."""
        groups = []
        for row, cells in self.rows:
            if not groups or groups[-1][0].pk != row.enrolment.pk:
                groups.append((row.enrolment, []))
            groups[-1][1].append((row, cells))
        return groups


# --- A cell's markup -------------------------------------------------------------------------------
# Rendered in Python, once per cell: a month of several children is hundreds of cells, and a
# template include per cell tripled the page's server time (QUALITY P8). The htmx answer to a
# tick renders its cell with the same function, so the page and the fragment never differ.

EDITABLE_CELL = (
    '<div class="{classes}" id="cell-{key}">'
    '<form method="post" action="{url}" hx-post="{url}" hx-trigger="change" hx-target="#cell-{key}"'
    ' hx-swap="outerHTML" hx-sync="this:drop">'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
    '<input type="hidden" name="child" value="{child_id}"><input type="hidden" name="session" value="{session_id}">'
    '<input type="hidden" name="next" value="{next_url}">'
    '<input type="checkbox" id="tick-{key}" autocomplete="off"{checked} aria-describedby="tip-{key}">'
    '<label for="tick-{key}"><span class="visually-hidden">{name}, {day}, {activity}, {unit}</span></label>'
    '<span class="cell-tip" id="tip-{key}">{tip}</span>'
    '<noscript><button type="submit" class="cell-submit">{action}'
    '<span class="visually-hidden"> : {name}, {day}, {unit}</span></button></noscript>'
    "</form></div>"
)
READ_ONLY_CELL = (
    '<div class="{classes}" id="cell-{key}"><span class="cell-mark" aria-hidden="true">{mark}</span>'
    '<span class="visually-hidden">{name}, {day}, {activity}, {unit} : {label}. {reason}</span>'
    '<span class="cell-tip" aria-hidden="true">{label}. {reason}</span>{extra}</div>'
)
# A full session of an activity with a waiting list: the family can join it from the cell.
WAITLIST_FORM = (
    '<form method="post" action="{url}" hx-post="{url}" hx-target="#cell-{key}" hx-swap="outerHTML"'
    ' hx-sync="this:drop" class="cell-waitlist">'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
    '<input type="hidden" name="child" value="{child_id}"><input type="hidden" name="session" value="{session_id}">'
    '<input type="hidden" name="next" value="{next_url}">'
    '<button type="submit" class="cell-submit">Attente<span class="visually-hidden"> : m\'inscrire sur la liste'
    " d'attente, {name}, {day}, {unit}</span></button></form>"
)
ABSENCE_LINK = (
    '<a class="cell-absence" href="{url}">Absence<span class="visually-hidden"> : déclarer une absence de'
    " {name}, {day}, {unit}</span></a>"
)
READ_ONLY_MARKS = {"full": "C", "waitlisted": "LA", "closed": "–"}
# Booked (or paid) and past its deadline: an absence can be declared instead of unticking.
ABSENCE_STATES = {"booked", "paid"}


def render_cell(planning, row, cell, *, now, next_url: str, csrf_token: str, toggle_url: str = "") -> str:
    session = cell.session
    if session is None:
        return mark_safe('<div class="cell state-none"></div>')
    child = planning.child
    common = {
        "classes": f"cell state-{cell.state}"
        + (" is-ticked" if cell.ticked else "")
        + ("" if cell.editable else " is-locked"),
        "key": f"{child.pk}-{session.pk}",
        "name": child.first_name,
        "day": selectors.format_day(cell.day),
        "unit": row.unit.name,
        "activity": row.enrolment.activity.name,
    }
    if cell.editable:
        return format_html(
            EDITABLE_CELL,
            url=toggle_url or reverse("portal:planning_toggle"),
            csrf=csrf_token,
            child_id=child.pk,
            session_id=session.pk,
            next_url=next_url,
            checked=mark_safe(" checked") if cell.ticked else "",
            tip=(f"{cell.label}. " if cell.state != "free" else "") + cell.deadline_text,
            action="Décocher" if cell.ticked else "Cocher",
            **common,
        )
    extra = ""  # the absence link, or the waiting-list button
    if cell.booking is not None and cell.state in ABSENCE_STATES and cell.deadline and cell.deadline <= now:
        url = reverse("portal:absence_new", kwargs={"booking_id": cell.booking.pk})
        extra = format_html(ABSENCE_LINK, url=url, **common)
    elif cell.waitlist_open:
        extra = format_html(
            WAITLIST_FORM,
            url=reverse("portal:planning_waitlist_join"),
            csrf=csrf_token,
            child_id=child.pk,
            session_id=session.pk,
            next_url=next_url,
            **common,
        )
    mark = planning.symbol if cell.booking is not None else READ_ONLY_MARKS.get(cell.state, "")
    return format_html(READ_ONLY_CELL, mark=mark, label=cell.label, reason=cell.reason, extra=extra, **common)


def _table(planning, **render) -> ChildTable:
    rows = planning.rows
    columns = [i for i in range(len(rows[0].cells)) if any(row.cells[i].session for row in rows)] if rows else []
    return ChildTable(
        planning=planning,
        days=[rows[0].cells[i].day for i in columns],
        rows=[(row, [render_cell(planning, row, row.cells[i], **render) for i in columns]) for row in rows],
    )


def _selected_child(request, household_children) -> int | None:
    value = request.GET.get("enfant", "")
    if not value:
        return None
    if not value.isdigit() or int(value) not in {p.child.pk for p in household_children}:
        raise Http404("Enfant introuvable")
    return int(value)


def _banner_context(household) -> dict:
    summary = selectors.basket_summary(household)
    return {"summary": summary, "cost": format_euros(summary.cost_cents)}


@require_GET
@family_required
def planning(request):
    household = request.household
    today = timezone.localdate()
    view = request.GET.get("vue") if request.GET.get("vue") in VIEWS else DEFAULT_VIEW
    anchor = _parse_date(request.GET.get("date"), today)
    start, end, previous, following = _range_of(view, anchor)
    now = timezone.now()
    child_id = request.GET.get("enfant", "")
    banner = _banner_context(household)
    calendar = selectors.household_calendar(
        household,
        start=start,
        end=end,
        now=now,
        child_id=int(child_id) if child_id.isdigit() else None,
        basket_lines=banner["summary"].lines,  # one query for the banner and the cells
    )
    selected = _selected_child(request, calendar.everyone)
    context = {
        "calendar": calendar,
        "tables": [
            _table(
                planning,
                now=now,
                next_url=request.get_full_path(),
                csrf_token=get_token(request),
                toggle_url=reverse("portal:planning_toggle"),
            )
            for planning in calendar.children
        ],
        "view": view,
        "views": VIEWS,
        "step_labels": STEP_LABELS[view],
        "anchor": anchor,
        "previous": previous.isoformat(),
        "following": following.isoformat(),
        "today": today.isoformat(),
        "title": _title(view, start, end),
        "selected_child": selected,
        "legend": [(state, label) for state, label in selectors.STATE_LABELS.items()],
        "htmx_config": HTMX_CONFIG,
        **banner,
    }
    return render(request, "portal/planning/planning.html", context)


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _back_to_planning(request, day: date | None = None):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    url = reverse("portal:planning")
    return redirect(f"{url}?date={day.isoformat()}" if day else url)


def _household_child(household, value, active_children=None):
    """The household's active child `value` (404 otherwise), among `active_children` when read."""
    if not str(value).isdigit():
        child = None
    elif active_children is not None:
        child = next((each for each in active_children if each.pk == int(value)), None)
    else:
        child = household.children.filter(pk=value, is_active=True).first()
    if child is None:
        raise Http404("Enfant introuvable")
    return child


def _cell_fragment(
    request,
    household,
    child,
    session,
    *,
    error="",
    notice="",
    offer_waitlist=False,
    status=200,
    change=None,
    active_ids=None,
):
    """The cell as the calendar shows it now, with the banner (and the message) swapped out of band.

    Rendered without the context processors (the fragment needs neither the town nor the user):
    this answer is the hot path of an opening rush. `offer_waitlist`: the refusal was "Complet";
    the message offers the waiting list when the cell (as it is now) allows joining it.
    `change`: what the service just did to the cell (its locked session, the line it wrote or
    removed), which spares reading them again; `active_ids`: the household's active children's ids
    in the calendar's order, when already read.
    """
    now = timezone.now()
    summary = selectors.basket_figures(household, now=now)
    banner = {"summary": summary, "cost": format_euros(summary.cost_cents)}
    found = None
    if session is not None:
        found = selectors.household_cell(
            household, child, session.pk, now=now, active_ids=active_ids, **_known_cell(change)
        )
    planning, row, cell = found or (None, None, None)  # a session the child has no line for: only the message
    next_url = request.POST.get("next", "")
    csrf_token = get_token(request)
    waitlist = None
    if offer_waitlist and cell is not None and cell.waitlist_open:
        waitlist = {
            "url": reverse("portal:planning_waitlist_join"),
            "key": f"{child.pk}-{session.pk}",
            "child": child,
            "session_id": session.pk,
            "day": selectors.format_day(session.date),
            "next": next_url,
            "csrf_token": csrf_token,
        }
    context = {
        "cell_html": render_cell(planning, row, cell, now=now, next_url=next_url, csrf_token=csrf_token)
        if cell
        else "",
        "error": error,
        "notice": notice,
        "waitlist": waitlist,
        **banner,
    }
    return HttpResponse(render_to_string("portal/planning/_toggle_response.html", context), status=status)


def _known_cell(change) -> dict:
    """What a tick's CellChange tells household_cell about the cell, as its keyword arguments."""
    if change is None:
        return {}
    known = {"session": change.session, "line": change.line}  # None: the tick undid the line
    if change.line is not None and change.line.kind == LineKind.ADD:
        # The service found no holding booking and read a validated enrolment covering the day.
        known.update(enrolment=change.line.enrolment, booking=None)
    elif change.line is not None:
        known["booking"] = change.line.booking  # the holding booking, with its absence
    return known


@require_POST
@family_required
def planning_toggle(request):
    """Tick or untick one cell: 200 with the cell (and the banner), 409 with the reason."""
    household = request.household
    children = selectors.active_children(household)  # one query: the child and the marks' order
    child = _household_child(household, request.POST.get("child", ""), children)
    active_ids = [each.pk for each in children]
    session_id = request.POST.get("session", "")
    if not session_id.isdigit():
        raise Http404("Séance introuvable")
    try:
        change = services.toggle_cell(
            household=household, child=child, session_id=int(session_id), actor=request.user, channel=Channel.WEB
        )
    except BookingError as refusal:
        if _is_htmx(request):
            session = Session.objects.filter(pk=session_id).only("date").first()
            return _cell_fragment(
                request,
                household,
                child,
                session,
                error=refusal.message,
                offer_waitlist=refusal.code == "full",
                status=409,
                active_ids=active_ids,
            )
        messages.error(request, refusal.message)
        return _back_to_planning(request)
    if _is_htmx(request):
        return _cell_fragment(request, household, child, change.session, change=change, active_ids=active_ids)
    messages.success(request, _change_message(change))
    return _back_to_planning(request, change.session.date)


def _change_message(change) -> str:
    what = f"{change.child.first_name}, {selectors.format_day(change.session.date)}"
    if change.undone:
        return f"Modification retirée : {what}."
    if change.line.kind == LineKind.ADD:
        return f"Réservation en attente de validation : {what}."
    return f"Annulation en attente de validation : {what}."


# --- The recap, its validation and "Tout supprimer" ---------------------------------------------


@dataclass
class RecapLine:
    line: object

    @property
    def is_add(self) -> bool:
        return self.line.kind == LineKind.ADD

    @property
    def cost(self) -> str:
        return format_euros(self.line.price_cents if self.is_add else -self.line.price_cents)


def _recap_context(household) -> dict:
    summary = selectors.basket_summary(household)
    to_validate, to_pay = [], []
    for line in summary.lines:
        prepaid_add = line.kind == LineKind.ADD and line.session.unit.activity.payment_mode == PaymentMode.PREPAID
        (to_pay if prepaid_add else to_validate).append(RecapLine(line))

    def total(lines):
        return format_euros(sum(item.line.price_cents if item.is_add else -item.line.price_cents for item in lines))

    context = {
        "summary": summary,
        "cost": format_euros(summary.cost_cents),
        "to_validate": to_validate,
        "to_pay": to_pay,
        "to_validate_total": total(to_validate),
        "to_pay_total": total(to_pay),
        "to_pay_cents": sum(item.line.price_cents for item in to_pay),
    }
    if to_pay:
        context.update(payment_views.basket_payment_context(household, to_pay[0].line.session.unit.activity_id))
    return context


@require_GET
@family_required
def planning_recap(request):
    return render(request, "portal/planning/recap.html", _recap_context(request.household))


@require_POST
@family_required
def planning_clear(request):
    deleted = services.clear_basket(household=request.household, actor=request.user, channel=Channel.WEB)
    if deleted:
        messages.success(
            request, "Vos modifications en cours sont supprimées : le planning est revenu à son état validé."
        )
    else:
        messages.info(request, "Aucune modification en cours.")
    return redirect("portal:planning")


@require_POST
@family_required
def planning_confirm(request):
    try:
        result = services.confirm_basket(household=request.household, actor=request.user, channel=Channel.WEB)
    except BookingError as refusal:
        messages.error(request, refusal.message)
        return redirect("portal:planning_recap")
    return render(
        request,
        "portal/planning/confirmed.html",
        {"result": result, "to_pay_total": format_euros(sum(line.price_cents for line in result.left_for_payment))},
    )


# --- History ---------------------------------------------------------------------------------------

HISTORY_VERBS = {
    "booking.created": "Réservation",
    "booking.cancelled": "Annulation",
    "booking.waitlist_joined": "Inscription sur liste d'attente",
    "booking.waitlist_left": "Retrait de la liste d'attente",
    "booking.waitlist_notified": "Place libérée",
    "absence.declared": "Absence déclarée",
    "absence.certificate": "Justificatif déposé",
    "absence.decided": "Absence traitée par la Mairie",
}
HISTORY_PAGE_SIZE = 25


def current_school_year_start(today: date) -> date:
    """The first day of the school year in progress (or of the last one begun); a year back without any."""
    year = SchoolYear.objects.filter(start_date__lte=today).order_by("-start_date").first()
    return year.start_date if year else today - timedelta(days=365)


@require_GET
@family_required
def planning_history(request):
    since = current_school_year_start(timezone.localdate())
    entries = selectors.booking_history(request.household, since=since)
    page = Paginator(entries, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(entry, HISTORY_VERBS.get(entry.action, "Modification")) for entry in page.object_list]
    return render(request, "portal/planning/history.html", {"page": page, "rows": rows, "since": since})


# --- Semaine type ------------------------------------------------------------------------------------


class PatternForm(forms.Form):
    debut = forms.DateField(label="Du", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    fin = forms.DateField(label="Au", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))


@family_required
def planning_pattern(request, enrolment_id):
    enrolment = get_enrolment_for_household(request.household, enrolment_id)
    period = enrolment.period
    today = timezone.localdate()
    initial = {"debut": max(period.start_date, today), "fin": period.end_date}
    form = PatternForm(request.POST if request.method == "POST" else None, initial=initial)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            result = services.apply_weekly_pattern(
                household=request.household,
                enrolment=enrolment,
                start=form.cleaned_data["debut"],
                end=form.cleaned_data["fin"],
                actor=request.user,
                channel=Channel.WEB,
            )
        except BookingError as refusal:
            form.add_error(None, refusal.message)
    context = {
        "enrolment": enrolment,
        "pattern": list(enrolment.weekly_pattern.all()),
        "is_validated": enrolment.status == EnrolmentStatus.VALIDATED,
        "form": form,
        "result": result,
        "refused": [(selectors.format_day(session.date), session, reason) for session, reason in result.refused]
        if result
        else [],
        "added": [(selectors.format_day(session.date), session) for session in result.added] if result else [],
    }
    if result is not None:
        context.update(_banner_context(request.household))
    return render(request, "portal/planning/pattern.html", context)


# --- Liste d'attente des séances complètes -------------------------------------------------------------


@require_POST
@family_required
def planning_waitlist_join(request):
    """ "M'inscrire sur la liste d'attente" of a full session: htmx answers with the cell (now "Sur
    liste d'attente") and the confirmation in the alert region; 409 with the reason when refused."""
    household = request.household
    child = _household_child(household, request.POST.get("child", ""))
    session_id = request.POST.get("session", "")
    if not session_id.isdigit():
        raise Http404("Séance introuvable")
    session = Session.objects.filter(pk=session_id).select_related("unit").only("date", "unit__name").first()
    if session is None:
        raise Http404("Séance introuvable")
    try:
        services.join_session_waitlist(
            household=household, child=child, session_id=session.pk, actor=request.user, channel=Channel.WEB
        )
    except BookingError as refusal:
        if _is_htmx(request):
            return _cell_fragment(request, household, child, session, error=refusal.message, status=409)
        messages.error(request, refusal.message)
        return _back_to_planning(request, session.date)
    notice = (
        f"{child.first_name} est sur la liste d'attente du {selectors.format_day(session.date)} ({session.unit.name}). "
        "Vous serez prévenus par e-mail si une place se libère avant le délai ; elle ne sera pas gardée : "
        "la première famille qui la réserve l'obtient."
    )
    if _is_htmx(request):
        return _cell_fragment(request, household, child, session, notice=notice)
    messages.success(request, notice)
    return _back_to_planning(request, session.date)


@require_GET
@family_required
def planning_waitlist(request):
    """ "Mes listes d'attente": the household's entries on sessions from today, with "Retirer"."""
    today = timezone.localdate()
    entries = list(selectors.household_waitlist(request.household, since=today))
    items = [(entry, selectors.format_day(entry.session.date)) for entry in entries]
    return render(request, "portal/planning/waitlist.html", {"items": items})


@family_required
def planning_waitlist_leave(request, entry_id):
    # Scoped first: another household's entry is a 404 whatever the method.
    if not request.household.session_waitlist_entries.filter(pk=entry_id).exists():
        raise Http404("Inscription introuvable")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        entry = services.leave_session_waitlist(
            household=request.household, entry_id=entry_id, actor=request.user, channel=Channel.WEB
        )
    except BookingError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(
            request,
            f"{entry.child.first_name} n'est plus sur la liste d'attente du {selectors.format_day(entry.session.date)}.",
        )
    return redirect("portal:planning_waitlist")
