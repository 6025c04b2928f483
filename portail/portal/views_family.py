"""Family pages of the household record: "Ma famille", "Mes coordonnées", requests and the
"Tableau de bord". Every object comes through the household selectors (another family's id is
a 404); every change goes through portail.households.services."""

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render

from portail.core.audit import Channel
from portail.core.errors import BusinessError
from portail.households import selectors
from portail.households.forms import (
    AuthorizedPersonForm,
    ChildForm,
    CoordinatesForm,
    GuardianForm,
    GuardianIdentityForm,
    HealthRecordForm,
    HouseholdBenefitForm,
    MessageForm,
)
from portail.households.models import HealthRecord, Household, RequestKind, RequestStatus
from portail.households.presentation import request_rows, request_summary, signup_rows
from portail.households.services import cancel_request, form_payload, submit_request, update_coordinates
from portail.organisations.models import School

from .dashboard import dashboard_items
from .decorators import family_required

SENT_MESSAGE = "Votre demande a été transmise à la Mairie. Vous recevrez un e-mail dès qu'elle sera traitée."


@family_required(allow_pending=True)
def family(request):
    record = selectors.family_record(request.household)
    return render(request, "portal/family/record.html", {"record": record, "household": request.household})


@family_required(allow_pending=True)
def child_detail(request, child_id):
    child = selectors.child_with_record(request.household, child_id)
    pending = request.household.change_requests.filter(status=RequestStatus.PENDING, target_id=child.pk).exists()
    return render(request, "portal/family/child_detail.html", {"child": child, "pending": pending})


@family_required(allow_pending=True)
def coordinates(request):
    record = selectors.family_record(request.household)
    return render(request, "portal/family/coordinates.html", {"record": record, "household": request.household})


@family_required
def edit_coordinates(request, guardian_id):
    guardian = selectors.get_guardian(request.household, guardian_id)
    form = CoordinatesForm(request.POST or None, instance=guardian)
    if request.method == "POST" and form.is_valid():
        try:
            update_coordinates(guardian=guardian, data=form_payload(form), actor=request.user, channel=Channel.WEB)
        except BusinessError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Vos coordonnées ont été enregistrées.")
            return redirect("portal:coordinates")
    login_email = guardian.user.email if guardian.user_id else ""
    return render(
        request,
        "portal/family/coordinates_form.html",
        {"form": form, "guardian": guardian, "login_email": login_email or guardian.email},
    )


def _request_page(request, *, kind, forms, title, intro, target=None, back_url):
    """Show the forms of a request and file it (nothing of the record changes until staff accept)."""
    message_form = MessageForm(request.POST or None, prefix="demande")
    if request.method == "POST":
        valid = [form.is_valid() for form in forms] + [message_form.is_valid()]
        if all(valid):
            payload = {}
            for form in forms:
                payload.update(form_payload(form))
            try:
                submit_request(
                    household=request.household,
                    kind=kind,
                    payload=payload,
                    target_id=target.pk if target is not None else None,
                    message=message_form.cleaned_data["message"],
                    actor=request.user,
                    channel=Channel.WEB,
                )
            except BusinessError as error:
                forms[0].add_error(None, error.message)
            else:
                messages.success(request, SENT_MESSAGE)
                return redirect("portal:dashboard")
    return render(
        request,
        "portal/family/request_form.html",
        {"forms": forms, "message_form": message_form, "title": title, "intro": intro, "back_url": back_url},
    )


@family_required
def request_add_child(request):
    data = request.POST or None
    return _request_page(
        request,
        kind=RequestKind.ADD_CHILD,
        forms=[ChildForm(data), HealthRecordForm(data)],
        title="Ajouter un enfant",
        intro="La Mairie vérifiera ces informations avant d'ajouter l'enfant à votre dossier.",
        back_url="portal:family",
    )


@family_required
def request_update_child(request, child_id):
    child = selectors.get_child(request.household, child_id)
    return _request_page(
        request,
        kind=RequestKind.UPDATE_CHILD,
        forms=[ChildForm(request.POST or None, instance=child)],
        title=f"Modifier les informations de {child.first_name}",
        intro="Ces informations sont vérifiées par la Mairie : elles seront modifiées dès qu'elle aura accepté.",
        target=child,
        back_url="portal:family",
    )


@family_required
def request_update_health(request, child_id):
    child = selectors.get_child(request.household, child_id)
    record = HealthRecord.objects.filter(child=child).first() or HealthRecord(child=child)
    return _request_page(
        request,
        kind=RequestKind.UPDATE_HEALTH,
        forms=[HealthRecordForm(request.POST or None, instance=record)],
        title=f"Fiche sanitaire de {child.first_name}",
        intro="Pour un PAI, pensez à transmettre le document signé au service.",
        target=child,
        back_url="portal:family",
    )


@family_required
def request_add_person(request, child_id):
    child = selectors.get_child(request.household, child_id)
    return _request_page(
        request,
        kind=RequestKind.ADD_AUTHORIZED_PERSON,
        forms=[AuthorizedPersonForm(request.POST or None)],
        title=f"Ajouter une personne autorisée à récupérer {child.first_name}",
        intro="Cette personne devra présenter une pièce d'identité.",
        target=child,
        back_url="portal:family",
    )


@family_required
def request_update_household(request):
    household = Household.objects.get(pk=request.household.pk)  # a copy: validation writes onto it
    return _request_page(
        request,
        kind=RequestKind.UPDATE_HOUSEHOLD,
        forms=[HouseholdBenefitForm(request.POST or None, instance=household)],
        title="Modifier mon régime d'allocations",
        intro="Votre numéro d'allocataire CAF ou MSA sert au calcul de votre quotient familial.",
        back_url="portal:family",
    )


@family_required
def request_add_guardian(request):
    return _request_page(
        request,
        kind=RequestKind.ADD_GUARDIAN,
        forms=[GuardianForm(request.POST or None)],
        title="Ajouter un responsable légal",
        intro="La Mairie ajoutera ce responsable à votre dossier après vérification.",
        back_url="portal:family",
    )


@family_required
def request_update_guardian(request, guardian_id):
    guardian = selectors.get_guardian(request.household, guardian_id)
    return _request_page(
        request,
        kind=RequestKind.UPDATE_GUARDIAN,
        forms=[GuardianIdentityForm(request.POST or None, instance=guardian)],
        title=f"Modifier l'identité de {guardian.full_name}",
        intro="Pour les téléphones et l'adresse, utilisez plutôt « Mes coordonnées » : c'est immédiat.",
        target=guardian,
        back_url="portal:family",
    )


@family_required(allow_pending=True)
def dashboard(request):
    return render(request, "portal/family/dashboard.html", {"items": dashboard_items(request.household)})


@family_required(allow_pending=True)
def request_detail(request, request_id):
    change_request = selectors.get_change_request(request.household, request_id)
    children, guardians = selectors.request_targets(request.household)
    if change_request.kind == RequestKind.SIGNUP:
        rows = signup_rows(change_request)
    else:
        current = selectors.request_current_objects(change_request)
        schools = dict(School.objects.values_list("pk", "name"))
        rows = request_rows(change_request, current=current, schools=schools)
    context = {
        "change_request": change_request,
        "rows": rows,
        "summary": request_summary(change_request, children=children, guardians=guardians),
        "can_cancel": change_request.status == RequestStatus.PENDING
        and change_request.kind != RequestKind.SIGNUP
        and request.household.is_active,
    }
    return render(request, "portal/family/request_detail.html", context)


@family_required
def request_cancel(request, request_id):
    # Scope first: another household's id is a 404 whatever the method.
    change_request = selectors.get_change_request(request.household, request_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        cancel_request(change_request=change_request, actor=request.user, channel=Channel.WEB)
    except BusinessError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Votre demande a été annulée.")
    return redirect("portal:dashboard")
