"""Staff pages of the household record: search, the household page with its edit forms and
journal, and the queue of requests to decide ("Demandes à traiter")."""

from django.apps import apps
from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from portail.core.audit import Channel
from portail.core.errors import BusinessError
from portail.households import selectors, services
from portail.households.forms import (
    AuthorizedPersonForm,
    FamilyQuotientForm,
    GuardianForm,
    HealthRecordForm,
    HouseholdSearchForm,
    RefusalForm,
    StaffChildForm,
    StaffHouseholdForm,
)
from portail.households.models import AuthorizedPerson, HealthRecord, Household, RequestKind, RequestStatus
from portail.households.presentation import (
    ACTION_LABELS,
    carries_health_data,
    display_value,
    request_rows,
    request_summary,
    signup_rows,
)
from portail.organisations.models import School

from .decorators import staff_required

VIEW_HEALTH = "households.view_healthrecord"
CHANGE_HEALTH = "households.change_healthrecord"
VIEW_LOG = "core.view_logentry"


def _optional_url(name: str, *args) -> str:
    """Links to pages other areas may not have shipped yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _summaries(change_requests) -> list:
    """Attach `.summary` to requests whose household children/guardians were prefetched."""
    for change_request in change_requests:
        household = change_request.household
        change_request.summary = request_summary(
            change_request,
            children={c.pk: c for c in household.children.all()},
            guardians={g.pk: g for g in household.guardians.all()},
        )
    return change_requests


# --- search and household page --------------------------------------------------------------


@staff_required("households.view_household")
def households(request):
    form = HouseholdSearchForm(request.GET or None)
    query = status = ""
    if form.is_valid():
        query, status = form.cleaned_data["q"], form.cleaned_data["status"]
    page = Paginator(selectors.search_households(query, status), 25).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "backoffice/households/search.html",
        {"form": form, "page": page, "query": query, "params": params.urlencode()},
    )


def _model(object_type: str):
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


def _field(model, name: str):
    try:
        return model._meta.get_field(name) if model is not None else None
    except FieldDoesNotExist:
        return None


def _shown(model, name: str, value):
    """A journal value in French when the field says how (choices, yes/no, dates)."""
    field = _field(model, name)
    if value is None or field is None:
        return value
    if field.choices or isinstance(field, (models.BooleanField, models.DateField)):
        return display_value(model, name, value)
    return value


def _with_changes(entries, *, can_see_health: bool) -> list:
    """Before/after pairs for the journal; health values only for agents allowed to see them."""
    for entry in entries:
        entry.label = ACTION_LABELS.get(entry.action, entry.action)
        entry.health_hidden = not can_see_health and (
            entry.object_type == HealthRecord._meta.label or entry.action.startswith("health_record.")
        )
        model = _model(entry.object_type)
        before, after = entry.before or {}, entry.after or {}
        entry.changes = []
        for key in dict.fromkeys([*before, *after]):
            field = _field(model, key)
            label = str(field.verbose_name) if field is not None else key
            entry.changes.append((label, _shown(model, key, before.get(key)), _shown(model, key, after.get(key))))
    return entries


@staff_required("households.view_household")
def household_detail(request, household_id):
    household = selectors.staff_household(household_id)
    record = selectors.staff_household_record(household)
    can_see_health = request.user.has_perm(VIEW_HEALTH)
    if can_see_health and record["children"]:
        services.record_health_accesses(children=record["children"], actor=request.user)
    children_by_id = {c.pk: c for c in record["children"]}
    guardians_by_id = {g.pk: g for g in record["guardians"]}
    for change_request in record["pending_requests"]:
        change_request.summary = request_summary(change_request, children=children_by_id, guardians=guardians_by_id)
    log_entries = []
    if request.user.has_perm(VIEW_LOG):
        log_entries = _with_changes(list(selectors.household_log(household)[:10]), can_see_health=can_see_health)
    context = {
        "household": household,
        **record,
        "can_see_health": can_see_health,
        "log_entries": log_entries,
        "access_url": _optional_url("backoffice:household_access", household.pk),
    }
    return render(request, "backoffice/households/detail.html", context)


@staff_required("households.view_household", VIEW_LOG)
def household_log(request, household_id):
    household = selectors.staff_household(household_id)
    page = Paginator(selectors.household_log(household), 50).get_page(request.GET.get("page"))
    _with_changes(page.object_list, can_see_health=request.user.has_perm(VIEW_HEALTH))
    return render(request, "backoffice/households/log.html", {"household": household, "page": page})


# --- edit forms ---------------------------------------------------------------------------


def _edit_page(request, *, household, forms, save, title, success, intro=""):
    """Validate the forms, call one service, go back to the household page."""
    if request.method == "POST" and all([form.is_valid() for form in forms]):
        data = {}
        for form in forms:
            data.update(services.form_payload(form))
        try:
            save(data)
        except BusinessError as error:
            forms[0].add_error(None, error.message)
        else:
            messages.success(request, success)
            return redirect("backoffice:household_detail", household.pk)
    return render(
        request,
        "backoffice/households/form.html",
        {"household": household, "forms": forms, "title": title, "intro": intro},
    )


@staff_required("households.change_household")
def household_edit(request, household_id):
    household = selectors.staff_household(household_id)
    return _edit_page(
        request,
        household=household,
        forms=[StaffHouseholdForm(request.POST or None, instance=Household.objects.get(pk=household.pk))],
        save=lambda data: services.staff_update_household(obj=household, data=data, actor=request.user),
        title=f"Modifier le foyer {household.reference}",
        success="Le foyer a été mis à jour.",
    )


@staff_required("households.change_guardian")
def guardian_edit(request, household_id, guardian_id):
    household = selectors.staff_household(household_id)
    guardian = selectors.staff_guardian(household, guardian_id)
    return _edit_page(
        request,
        household=household,
        forms=[GuardianForm(request.POST or None, instance=selectors.staff_guardian(household, guardian_id))],
        save=lambda data: services.staff_update_guardian(obj=guardian, data=data, actor=request.user),
        title=f"Modifier {guardian.full_name}",
        intro="L'e-mail de contact ne change pas l'identifiant de connexion (voir « Accès au portail »).",
        success="Le responsable a été mis à jour.",
    )


@staff_required("households.change_guardian")
@require_POST
def guardian_set_payer(request, household_id, guardian_id):
    household = selectors.staff_household(household_id)
    guardian = selectors.staff_guardian(household, guardian_id)
    services.set_payer(guardian=guardian, actor=request.user)
    messages.success(request, f"{guardian.full_name} est désormais le payeur du foyer.")
    return redirect("backoffice:household_detail", household.pk)


@staff_required("households.add_child")
def child_add(request, household_id):
    household = selectors.staff_household(household_id)
    data = request.POST or None
    forms = [StaffChildForm(data)]
    if request.user.has_perm(CHANGE_HEALTH):
        forms.append(HealthRecordForm(data))
    return _edit_page(
        request,
        household=household,
        forms=forms,
        save=lambda data: services.staff_add_child(household=household, data=data, actor=request.user),
        title=f"Ajouter un enfant au foyer {household.reference}",
        success="L'enfant a été ajouté.",
    )


@staff_required("households.change_child")
def child_edit(request, household_id, child_id):
    household = selectors.staff_household(household_id)
    child = selectors.staff_child(household, child_id)
    return _edit_page(
        request,
        household=household,
        forms=[StaffChildForm(request.POST or None, instance=selectors.staff_child(household, child_id))],
        save=lambda data: services.staff_update_child(obj=child, data=data, actor=request.user),
        title=f"Modifier {child.full_name}",
        success="L'enfant a été mis à jour.",
    )


@staff_required("households.view_household", VIEW_HEALTH, CHANGE_HEALTH)
def health_edit(request, household_id, child_id):
    household = selectors.staff_household(household_id)
    child = selectors.staff_child(household, child_id)
    record = HealthRecord.objects.filter(child=child).first() or HealthRecord(child=child)
    if request.method == "GET":
        services.record_health_access(child=child, actor=request.user)
    return _edit_page(
        request,
        household=household,
        forms=[HealthRecordForm(request.POST or None, instance=record)],
        save=lambda data: services.staff_update_health_record(
            obj=HealthRecord.objects.filter(child=child).first() or HealthRecord(child=child),
            data=data,
            actor=request.user,
        ),
        title=f"Fiche sanitaire de {child.full_name}",
        success="La fiche sanitaire a été mise à jour.",
    )


@staff_required("households.add_authorizedperson")
def person_add(request, household_id, child_id):
    household = selectors.staff_household(household_id)
    child = selectors.staff_child(household, child_id)
    return _edit_page(
        request,
        household=household,
        forms=[AuthorizedPersonForm(request.POST or None)],
        save=lambda data: services.staff_add_authorized_person(child=child, data=data, actor=request.user),
        title=f"Personne autorisée à récupérer {child.full_name}",
        success="La personne autorisée a été ajoutée.",
    )


@staff_required("households.delete_authorizedperson")
@require_POST
def person_delete(request, household_id, child_id, person_id):
    household = selectors.staff_household(household_id)
    child = selectors.staff_child(household, child_id)
    person = AuthorizedPerson.objects.filter(child=child, pk=person_id).select_related("child__household").first()
    if person is None:
        raise Http404("Personne introuvable")
    services.staff_remove_authorized_person(person=person, actor=request.user)
    messages.success(request, "La personne autorisée a été retirée.")
    return redirect("backoffice:household_detail", household.pk)


@staff_required("households.add_familyquotient")
def quotient_add(request, household_id):
    household = selectors.staff_household(household_id)
    return _edit_page(
        request,
        household=household,
        forms=[FamilyQuotientForm(request.POST or None)],
        save=lambda data: services.staff_add_quotient(household=household, data=data, actor=request.user),
        title=f"Nouveau quotient familial pour le foyer {household.reference}",
        success="Le quotient familial a été enregistré.",
    )


# --- requests queue -------------------------------------------------------------------------


@staff_required("households.view_changerequest")
def requests_queue(request):
    kind = request.GET.get("kind", "")
    if kind not in RequestKind.values:
        kind = ""
    page = Paginator(selectors.pending_requests(kind), 25).get_page(request.GET.get("page"))
    _summaries(page.object_list)
    return render(
        request,
        "backoffice/households/requests.html",
        {"page": page, "kind": kind, "kinds": RequestKind.choices, "params": f"kind={kind}" if kind else ""},
    )


@staff_required("households.view_changerequest")
def request_decide(request, request_id):
    change_request = selectors.staff_change_request(request_id)
    can_see_health = request.user.has_perm(VIEW_HEALTH)
    health_hidden = carries_health_data(change_request) and not can_see_health
    refusal_form = RefusalForm(request.POST if request.POST.get("decision") == "refuse" else None)
    if request.method == "POST":
        if not request.user.has_perm("households.change_changerequest"):
            raise PermissionDenied
        accept = request.POST.get("decision") == "accept"
        if accept or refusal_form.is_valid():
            try:
                services.decide_request(
                    change_request=change_request,
                    actor=request.user,
                    accept=accept,
                    reason="" if accept else refusal_form.cleaned_data["reason"],
                    channel=Channel.STAFF,
                )
            except BusinessError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, "La demande a été acceptée." if accept else "La demande a été refusée.")
                return redirect("backoffice:requests")
    children, guardians = selectors.request_targets(change_request.household)
    if change_request.kind == RequestKind.SIGNUP:
        rows = signup_rows(change_request)
    elif health_hidden:
        rows = []
    else:
        current = selectors.request_current_objects(change_request)
        rows = request_rows(change_request, current=current, schools=dict(School.objects.values_list("pk", "name")))
        child = children.get(change_request.target_id)
        if change_request.kind == RequestKind.UPDATE_HEALTH and child is not None:
            services.record_health_access(child=child, actor=request.user)
    can_decide = (
        change_request.status == RequestStatus.PENDING
        and request.user.has_perm("households.change_changerequest")
        and (not carries_health_data(change_request) or request.user.has_perm(CHANGE_HEALTH))
    )
    context = {
        "change_request": change_request,
        "summary": request_summary(change_request, children=children, guardians=guardians),
        "rows": rows,
        "health_hidden": health_hidden,
        "refusal_form": refusal_form,
        "can_decide": can_decide,
    }
    return render(request, "backoffice/households/request_decide.html", context)
