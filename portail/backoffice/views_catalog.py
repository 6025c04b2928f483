"""Staff catalog pages: overview, simple create/edit forms, sessions of a unit (generate, cancel, reopen).

staff_required wraps require_POST so strangers get 403/login before learning which methods exist.
"""

from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from portail.catalog import selectors
from portail.catalog.calendar import cancel_session, generate_sessions, reopen_session
from portail.catalog.forms import CATALOG_FORMS, GenerateSessionsForm, SessionActionForm
from portail.catalog.models import Activity, Group, Session, Unit
from portail.catalog.services import save_catalog_instance, save_catalog_object
from portail.core.errors import BusinessError
from portail.enrolments import locking
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.enrolments.services import raise_capacity
from portail.enrolments.waiting_list import offer_freed_places

from .decorators import staff_required

# Which query parameter pre-fills which field when adding a child object from the overview.
_PREFILL = {"activite": "activity", "structure": "facility"}


@staff_required("catalog.view_activity")
def overview(request):
    return render(
        request,
        "backoffice/catalog/overview.html",
        {"sections": selectors.staff_catalog(), "rules": selectors.deadline_rules()},
    )


def _form_class(kind: str):
    if kind not in CATALOG_FORMS:
        raise Http404
    return CATALOG_FORMS[kind]


def _require(request, action: str, form_class) -> None:
    if not request.user.has_perm(f"catalog.{action}_{form_class._meta.model._meta.model_name}"):
        raise PermissionDenied


def _edit(request, *, kind: str, instance=None):
    form_class, words = _form_class(kind)
    _require(request, "change" if instance else "add", form_class)
    initial = {}
    if instance is None:
        for param, field in _PREFILL.items():
            if request.GET.get(param, "").isdigit() and field in form_class.base_fields:
                initial[field] = int(request.GET[param])
    form = form_class(request.POST or None, instance=instance, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            obj, offers = _save(form, actor=request.user)
        except BusinessError as error:
            form.add_error("capacity" if "capacity" in form.fields else None, error.message)
        else:
            messages.success(request, f"« {obj} » a été enregistré.")
            if offers:
                count = len(offers)
                messages.info(
                    request,
                    f"{count} place{'s' if count > 1 else ''} proposée{'s' if count > 1 else ''} "
                    "aux premiers de la liste d'attente (prévenus par e-mail).",
                )
            return redirect(reverse("backoffice:catalog"))
    title = f"Modifier « {instance} »" if instance else f"Ajouter {words}"
    return render(request, "backoffice/catalog/form.html", {"form": form, "title": title, "object": instance})


def _waiting_pairs(**filters):
    return list(
        Enrolment.objects.filter(status=EnrolmentStatus.WAITING, **filters)
        .values_list("group_id", "period_id")
        .distinct()
        .order_by("group_id", "period_id")
    )


def _save(form, *, actor) -> tuple:
    """Save a catalog form. A capacity change of a group or an activity goes through the
    enrolment services, under the places locks, so the waiting lists move (offers, e-mails).
    Returns (object, offers made)."""
    instance = form.instance
    capacity_changed = instance.pk and "capacity" in form.changed_data
    if not (capacity_changed and isinstance(instance, (Group, Activity))):
        return save_catalog_object(form=form, actor=actor), []
    offers = []
    if isinstance(instance, Group):
        stored = Group.objects.get(pk=instance.pk)
        activity_id, group_ids, pairs = stored.activity_id, [stored.pk], _waiting_pairs(group_id=stored.pk)
    else:
        activity_id, group_ids, pairs = instance.pk, [], _waiting_pairs(activity_id=instance.pk)
    new_capacity = form.cleaned_data["capacity"]

    def save():
        if isinstance(instance, Group) and new_capacity is not None:
            # Checks the places already held, writes its own audit entry and makes the offers.
            offers.extend(raise_capacity(group=stored, new_capacity=new_capacity, actor=actor))
        form.save()
        if not isinstance(instance, Group) or new_capacity is None:
            for group_id, period_id in pairs:
                group = Group.objects.get(pk=group_id)
                period = group.activity.periods.get(pk=period_id)
                offers.extend(offer_freed_places(group=group, period=period))

    with locking.capacity_transaction():
        # The services' lock order (activity, then groups) before the catalog save locks the row.
        locking.lock_places(activity_id, *group_ids)
        obj = save_catalog_instance(instance=instance, actor=actor, save=save)
    return obj, offers


@staff_required()
def add_object(request, kind):
    return _edit(request, kind=kind)


@staff_required()
def edit_object(request, kind, pk):
    form_class, _ = _form_class(kind)
    _require(request, "change", form_class)
    instance = get_object_or_404(form_class._meta.model, pk=pk)
    return _edit(request, kind=kind, instance=instance)


def _month_from(value: str) -> date:
    """?mois=2026-10 → 1 Oct 2026; anything else → the current month."""
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except (ValueError, TypeError):
        return timezone.localdate().replace(day=1)


def _shift_month(month: date, delta: int) -> date:
    index = month.year * 12 + month.month - 1 + delta
    return date(index // 12, index % 12 + 1, 1)


def _unit_page(request, unit, *, form=None, status=200):
    month = _month_from(request.GET.get("mois", ""))
    next_month = _shift_month(month, 1)
    sessions = selectors.unit_sessions(unit=unit, start=month, end=next_month - timedelta(days=1))
    return render(
        request,
        "backoffice/catalog/unit_sessions.html",
        {
            "unit": unit,
            "month": month,
            "previous_month": _shift_month(month, -1),
            "next_month": next_month,
            "sessions": sessions,
            "counts": selectors.unit_session_counts(unit),
            "form": form or GenerateSessionsForm(),
            "action_form": SessionActionForm(),
        },
        status=status,
    )


def _unit(pk) -> Unit:
    return get_object_or_404(Unit.objects.select_related("activity__facility__town", "deadline_rule"), pk=pk)


@staff_required("catalog.view_session")
def unit_sessions(request, pk):
    return _unit_page(request, _unit(pk))


@staff_required("catalog.add_session")
@require_POST
def generate(request, pk):
    unit = _unit(pk)
    form = GenerateSessionsForm(request.POST)
    if not form.is_valid():
        return _unit_page(request, unit, form=form, status=400)
    data = form.cleaned_data
    try:
        created = generate_sessions(
            unit=unit,
            start=data["start"],
            end=data["end"],
            weekdays=set(data["weekdays"]),
            town=unit.activity.facility.town,
            skip_public_holidays=data["skip_public_holidays"],
            skip_school_holidays=data["skip_school_holidays"],
            only_school_holidays=data["only_school_holidays"],
            actor=request.user,
        )
    except BusinessError as error:
        form.add_error(None, error.message)
        return _unit_page(request, unit, form=form, status=400)
    if created:
        messages.success(request, f"{created} séance{'s' if created > 1 else ''} créée{'s' if created > 1 else ''}.")
    else:
        messages.info(request, "Aucune nouvelle séance : ces dates existent déjà ou sont fermées.")
    url = reverse("backoffice:catalog_unit_sessions", args=[unit.pk])
    return redirect(f"{url}?mois={data['start']:%Y-%m}")


def _session_action(request, pk, service, done: str):
    session = get_object_or_404(Session.objects.select_related("unit"), pk=pk)
    form = SessionActionForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        service(session=session, actor=request.user, reason=reason)
    except BusinessError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"La séance du {session.date:%d/%m/%Y} a été {done}.")
    url = reverse("backoffice:catalog_unit_sessions", args=[session.unit_id])
    return redirect(f"{url}?mois={session.date:%Y-%m}")


@staff_required("catalog.change_session")
@require_POST
def cancel(request, pk):
    return _session_action(request, pk, cancel_session, "annulée")


@staff_required("catalog.change_session")
@require_POST
def reopen(request, pk):
    return _session_action(request, pk, reopen_session, "rouverte")
