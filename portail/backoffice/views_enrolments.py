"""Staff enrolment pages ("gestion/inscriptions/…"): the queue of pending requests with single
and bulk decisions, an enrolment's page with its journal and actions, the list per activity
with its CSV/XLSX exports, and the waiting list of a group (reorder, raise capacity).

Views parse, call one service, render. staff_required is the outermost decorator so that
families and anonymous visitors get 403/login before any lookup or method check.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from portail.catalog.models import Group
from portail.core.errors import BusinessError
from portail.core.models import Channel, LogEntry
from portail.enrolments import exports, services
from portail.enrolments.models import HOLDING_STATUSES, LIVE_STATUSES, Enrolment, EnrolmentStatus
from portail.enrolments.selectors import (
    enrolments_for_list,
    held_places,
    pending_enrolments,
    remaining_places,
    remaining_places_by_group,
    waiting_list,
    waiting_rank,
)
from portail.enrolments.staff_forms import (
    BulkDecisionForm,
    CancelForm,
    CapacityForm,
    ListFilterForm,
    MoveGroupForm,
    QueueFilterForm,
    RefuseForm,
    ReorderForm,
    WaitingListFilterForm,
)

from .decorators import staff_required

VIEW = "enrolments.view_enrolment"
CHANGE = "enrolments.change_enrolment"

ACTION_LABELS = {
    "enrolment.requested": "Demande d'inscription",
    "enrolment.validated": "Inscription validée",
    "enrolment.refused": "Inscription refusée",
    "enrolment.pre_enrolment_accepted": "Pré-inscription acceptée",
    "enrolment.cancelled": "Inscription annulée",
    "enrolment.group_changed": "Changement de groupe",
    "enrolment.offered": "Place proposée",
    "enrolment.offer_accepted": "Place acceptée par la famille",
    "enrolment.offer_declined": "Place déclinée par la famille",
    "enrolment.offer_expired": "Place proposée expirée",
    "enrolment.waiting_list_reordered": "Liste d'attente réordonnée",
    "group.capacity_changed": "Nombre de places modifié",
}
STATUS_BADGES = {
    EnrolmentStatus.VALIDATED: "accepted",
    EnrolmentStatus.REFUSED: "refused",
    EnrolmentStatus.CANCELLED: "cancelled",
}


# --- helpers -------------------------------------------------------------------------------


def _back(request, default: str) -> str:
    """The page the action came from (`next`), if it is one of ours; otherwise `default`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _who(enrolment) -> str:
    return f"{enrolment.child.full_name} ({enrolment.reference})"


def _places_left(enrolments) -> dict[tuple[int, int], int | None]:
    """{(group id, period id): places left} for the rows shown, in two queries whatever their
    number (same rule as selectors.remaining_places; group and activity are select_related)."""
    enrolments = list(enrolments)
    if not enrolments:
        return {}
    group_ids = {e.group_id for e in enrolments}
    activity_ids = {e.activity_id for e in enrolments}
    period_ids = {e.period_id for e in enrolments}
    holding = Enrolment.objects.filter(period_id__in=period_ids, status__in=HOLDING_STATUSES).order_by()
    by_group = {
        (g, p): n
        for g, p, n in holding.filter(group_id__in=group_ids)
        .values_list("group_id", "period_id")
        .annotate(n=Count("pk"))
    }
    by_activity = {}
    if any(e.activity.capacity is not None for e in enrolments):
        by_activity = {
            (a, p): n
            for a, p, n in holding.filter(activity_id__in=activity_ids)
            .values_list("activity_id", "period_id")
            .annotate(n=Count("pk"))
        }
    result = {}
    for e in enrolments:
        key = (e.group_id, e.period_id)
        left = None if e.group.capacity is None else max(e.group.capacity - by_group.get(key, 0), 0)
        if e.activity.capacity is not None:
            activity_left = max(e.activity.capacity - by_activity.get((e.activity_id, e.period_id), 0), 0)
            left = activity_left if left is None else min(left, activity_left)
        result[key] = left
    return result


def _decorate(enrolments) -> list:
    """Age at the start of the period (what the group bands use), badge and places left."""
    enrolments = list(enrolments)
    places = _places_left(enrolments)
    for e in enrolments:
        e.age = e.child.age_on(e.period.start_date)
        e.badge = STATUS_BADGES.get(e.status, "pending")
        e.places_left = places.get((e.group_id, e.period_id))
    return enrolments


def _report(request, result, done_word: str) -> None:
    """One success message listing what was done, one error message per failure."""
    if result.done:
        names = ", ".join(_who(e) for e in result.done)
        count = len(result.done)
        messages.success(request, f"{count} demande{'s' if count > 1 else ''} {done_word} : {names}.")
    for enrolment, message in result.failed:
        messages.error(request, f"{_who(enrolment)} : {message}")


# --- the queue -----------------------------------------------------------------------------


@staff_required(VIEW)
def queue(request):
    form = QueueFilterForm(request.GET or None)
    filters = form.filters()
    page = Paginator(pending_enrolments(**filters), 50).get_page(request.GET.get("page"))
    rows = _decorate(page.object_list)
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "backoffice/enrolments/queue.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "params": params.urlencode(),
            "here": request.get_full_path(),
            "can_change": request.user.has_perm(CHANGE),
        },
    )


@staff_required(CHANGE)
@require_POST
def bulk(request):
    back = _back(request, reverse("backoffice:enrolments"))
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    ids = form.cleaned_data["enrolments"]
    enrolments = list(Enrolment.objects.filter(pk__in=ids).select_related("child").order_by("created_at", "pk"))
    missing = len(set(ids)) - len(enrolments)
    if form.cleaned_data["action"] == BulkDecisionForm.VALIDATE:
        result = services.bulk_validate(enrolments=enrolments, actor=request.user)
        _report(request, result, "validée" + ("s" if len(result.done) > 1 else ""))
    else:
        result = services.bulk_refuse(enrolments=enrolments, actor=request.user, reason=form.cleaned_data["reason"])
        _report(request, result, "refusée" + ("s" if len(result.done) > 1 else ""))
    if missing:
        messages.error(
            request, f"{missing} demande{'s' if missing > 1 else ''} introuvable{'s' if missing > 1 else ''}."
        )
    return redirect(back)


# --- one enrolment -------------------------------------------------------------------------


def _staff_enrolment(enrolment_id) -> Enrolment:
    return get_object_or_404(
        Enrolment.objects.select_related(
            "child__household", "child__school", "activity__facility", "period", "group", "created_by", "decided_by"
        ).prefetch_related("weekly_pattern__unit", "child__household__guardians"),
        pk=enrolment_id,
    )


def _journal(enrolment) -> list:
    entries = list(
        LogEntry.objects.filter(object_type=Enrolment._meta.label, object_id=str(enrolment.pk))
        .select_related("actor")
        .order_by("created_at", "id")
    )
    statuses = dict(EnrolmentStatus.choices)
    group_ids = set()
    for entry in entries:
        for side in (entry.before or {}, entry.after or {}):
            if isinstance(side.get("group"), int):
                group_ids.add(side["group"])
    groups = dict(Group.objects.filter(pk__in=group_ids).values_list("pk", "name"))
    for entry in entries:
        entry.label = ACTION_LABELS.get(entry.action, entry.action)
        before, after = entry.before or {}, entry.after or {}
        entry.changes = []
        if before.get("status") != after.get("status") and after.get("status"):
            entry.changes.append(("État", statuses.get(before.get("status"), "—"), statuses.get(after["status"])))
        if before and before.get("group") != after.get("group"):
            entry.changes.append(("Groupe", groups.get(before.get("group"), "—"), groups.get(after.get("group"), "—")))
    return entries


@staff_required(VIEW)
def detail(request, enrolment_id):
    enrolment = _staff_enrolment(enrolment_id)
    enrolment.badge = STATUS_BADGES.get(enrolment.status, "pending")
    enrolment.age = enrolment.child.age_on(enrolment.period.start_date)
    guardians = list(enrolment.child.household.guardians.all())
    places = remaining_places_by_group(enrolment.period)
    status = enrolment.status
    can_change = request.user.has_perm(CHANGE)
    context = {
        "enrolment": enrolment,
        "guardians": guardians,
        "places_left": places.get(enrolment.group_id),
        "rank": waiting_rank(enrolment),
        "journal": _journal(enrolment),
        "can_change": can_change,
        "can_validate": can_change and status == EnrolmentStatus.REQUESTED,
        "can_accept_pre": can_change and status == EnrolmentStatus.PRE_ENROLMENT,
        "can_refuse": can_change
        and status
        in (
            EnrolmentStatus.REQUESTED,
            EnrolmentStatus.PRE_ENROLMENT,
            EnrolmentStatus.WAITING,
            EnrolmentStatus.OFFERED,
        ),
        "can_cancel": can_change and status in LIVE_STATUSES,
        "refuse_form": RefuseForm(auto_id="refus_%s"),
        "cancel_form": CancelForm(auto_id="annulation_%s"),
        "move_form": MoveGroupForm(enrolment=enrolment, places=places, auto_id="groupe_%s")
        if can_change and status in LIVE_STATUSES
        else None,
    }
    return render(request, "backoffice/enrolments/detail.html", context)


def _act(request, enrolment_id, action, success):
    """Run `action(enrolment)`; show its French message on a BusinessError; go back."""
    enrolment = get_object_or_404(Enrolment.objects.select_related("child"), pk=enrolment_id)
    back = _back(request, reverse("backoffice:enrolment_detail", args=[enrolment.pk]))
    try:
        done = action(enrolment)
    except BusinessError as error:
        messages.error(request, f"{_who(enrolment)} : {error.message}")
    else:
        messages.success(request, success(done))
    return redirect(back)


def _form_error(request, enrolment_id, form):
    enrolment = get_object_or_404(Enrolment.objects.select_related("child"), pk=enrolment_id)
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, f"{_who(enrolment)} : {error}")
    return redirect(_back(request, reverse("backoffice:enrolment_detail", args=[enrolment.pk])))


@staff_required(CHANGE)
@require_POST
def validate(request, enrolment_id):
    return _act(
        request,
        enrolment_id,
        lambda e: services.validate_enrolment(enrolment=e, actor=request.user),
        lambda e: f"L'inscription de {_who(e)} est validée ; la famille est prévenue par e-mail.",
    )


@staff_required(CHANGE)
@require_POST
def refuse(request, enrolment_id):
    form = RefuseForm(request.POST)
    if not form.is_valid():
        return _form_error(request, enrolment_id, form)
    return _act(
        request,
        enrolment_id,
        lambda e: services.refuse_enrolment(enrolment=e, actor=request.user, reason=form.cleaned_data["reason"]),
        lambda e: f"La demande de {_who(e)} est refusée ; le motif est envoyé à la famille.",
    )


@staff_required(CHANGE)
@require_POST
def accept_pre_enrolment(request, enrolment_id):
    def success(e):
        if e.status == EnrolmentStatus.WAITING:
            return f"Pré-inscription de {_who(e)} acceptée : le groupe est complet, elle passe en liste d'attente."
        return f"Pré-inscription de {_who(e)} acceptée : l'inscription est validée."

    return _act(
        request,
        enrolment_id,
        lambda e: services.accept_pre_enrolment(enrolment=e, actor=request.user),
        success,
    )


@staff_required(CHANGE)
@require_POST
def cancel(request, enrolment_id):
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _form_error(request, enrolment_id, form)
    return _act(
        request,
        enrolment_id,
        lambda e: services.cancel_enrolment(
            enrolment=e, actor=request.user, channel=Channel.STAFF, reason=form.cleaned_data["reason"]
        ),
        lambda e: f"L'inscription de {_who(e)} est annulée ; la famille est prévenue par e-mail.",
    )


@staff_required(CHANGE)
@require_POST
def move(request, enrolment_id):
    enrolment = get_object_or_404(Enrolment.objects.select_related("child"), pk=enrolment_id)
    form = MoveGroupForm(request.POST, enrolment=enrolment)
    if not form.is_valid():
        return _form_error(request, enrolment_id, form)
    group = form.cleaned_data["groupe"]
    return _act(
        request,
        enrolment_id,
        lambda e: services.move_to_group(enrolment=e, group=group, actor=request.user),
        lambda e: f"{e.child.full_name} est maintenant dans le groupe « {e.group.name} ».",
    )


# --- list and exports ----------------------------------------------------------------------


def _list_queryset(form):
    data = form.cleaned_data
    return exports.with_payers(
        enrolments_for_list(
            activity=data["activite"], period=data.get("periode"), group=data.get("groupe"), statuses=form.statuses()
        )
    )


@staff_required(VIEW)
def enrolment_list(request):
    form = ListFilterForm(request.GET or None)
    page = rows = None
    query = ""
    if form.is_valid():
        page = Paginator(_list_queryset(form), 100).get_page(request.GET.get("page"))
        rows = _decorate(page.object_list)
        params = request.GET.copy()
        params.pop("page", None)
        query = params.urlencode()
    return render(
        request,
        "backoffice/enrolments/list.html",
        {"form": form, "page": page, "rows": rows, "params": query},
    )


def _export(request, extension, content_type, build):
    form = ListFilterForm(request.GET or None)
    if not form.is_valid():
        messages.error(request, "Choisissez une activité avant d'exporter la liste.")
        return redirect(f"{reverse('backoffice:enrolment_list')}?{request.GET.urlencode()}")
    activity = form.cleaned_data["activite"]
    response = HttpResponse(build(_list_queryset(form), activity), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{exports.filename(activity, extension)}"'
    return response


@staff_required(VIEW)
def export_csv(request):
    return _export(request, "csv", "text/csv; charset=utf-8", lambda qs, _activity: exports.to_csv(qs))


@staff_required(VIEW)
def export_xlsx(request):
    return _export(
        request,
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        lambda qs, activity: exports.to_xlsx(qs),
    )


# --- waiting list --------------------------------------------------------------------------


def _waiting_url(group, period) -> str:
    return f"{reverse('backoffice:waiting_list')}?{urlencode({'groupe': group.pk, 'periode': period.pk})}"


@staff_required(VIEW)
def waiting_list_page(request):
    form = WaitingListFilterForm(request.GET or None)
    context = {"form": form, "selected": False, "lists": []}
    if not form.is_bound:
        # Every non-empty waiting list, to pick one from.
        context["lists"] = list(
            Enrolment.objects.filter(status=EnrolmentStatus.WAITING)
            .values("group_id", "period_id", "activity__name", "group__name", "period__name")
            .annotate(n=Count("pk"))
            .order_by("activity__name", "group__name", "period__name")
        )
    elif form.is_valid():
        group, period = form.cleaned_data["groupe"], form.cleaned_data["periode"]
        entries = list(waiting_list(group=group, period=period))
        for rank, entry in enumerate(entries, start=1):
            entry.rank = rank
        offers = (
            Enrolment.objects.filter(group=group, period=period, status=EnrolmentStatus.OFFERED)
            .select_related("child__household")
            .order_by("offer_expires_at", "pk")
        )
        journal = list(
            LogEntry.objects.filter(
                object_type=Group._meta.label,
                object_id=str(group.pk),
                action__in=["enrolment.waiting_list_reordered", "group.capacity_changed"],
            )
            .select_related("actor")
            .order_by("-created_at", "-id")[:10]
        )
        for entry in journal:
            entry.label = ACTION_LABELS.get(entry.action, entry.action)
        context.update(
            selected=True,
            group=group,
            period=period,
            entries=entries,
            order=",".join(str(e.pk) for e in entries),
            offers=list(offers),
            held=held_places(group=group, period=period),
            places_left=remaining_places(group=group, period=period),
            journal=journal,
            capacity_form=CapacityForm(initial={"capacity": group.capacity}),
            can_change=request.user.has_perm(CHANGE),
            can_raise=request.user.has_perms([CHANGE, "catalog.change_group"]),
        )
    return render(request, "backoffice/enrolments/waiting_list.html", context)


def _waiting_target(request):
    """The group and period posted with a waiting-list action, or None (with a message)."""
    form = WaitingListFilterForm(request.POST)
    if form.is_valid():
        return form.cleaned_data["groupe"], form.cleaned_data["periode"]
    messages.error(request, "Choisissez un groupe et une période.")
    return None


@staff_required(CHANGE)
@require_POST
def waiting_list_reorder(request):
    target = _waiting_target(request)
    if target is None:
        return redirect("backoffice:waiting_list")
    group, period = target
    form = ReorderForm(request.POST)
    if not form.is_valid():
        for error in form.non_field_errors() or ["Action inconnue : rechargez la page puis recommencez."]:
            messages.error(request, error)
        return redirect(_waiting_url(group, period))
    try:
        services.reorder_waiting_list(
            period=period, group=group, ordered_ids=form.cleaned_data["new_order"], actor=request.user
        )
    except BusinessError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "La liste d'attente a été réordonnée.")
    return redirect(_waiting_url(group, period))


@staff_required(CHANGE, "catalog.change_group")
@require_POST
def waiting_list_capacity(request):
    target = _waiting_target(request)
    if target is None:
        return redirect("backoffice:waiting_list")
    group, period = target
    form = CapacityForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("capacity", []):
            messages.error(request, error)
        return redirect(_waiting_url(group, period))
    try:
        offers = services.raise_capacity(group=group, new_capacity=form.cleaned_data["capacity"], actor=request.user)
    except BusinessError as error:
        messages.error(request, error.message)
    else:
        count = len(offers)
        text = f"Le groupe « {group.name} » compte maintenant {group.capacity} places. "
        if count:
            names = ", ".join(_who(e) for e in offers)
            text += f"{count} place{'s' if count > 1 else ''} proposée{'s' if count > 1 else ''} : {names}."
        else:
            text += "Aucune place proposée : personne n'attend ou le groupe reste complet."
        messages.success(request, text)
    return redirect(_waiting_url(group, period))
