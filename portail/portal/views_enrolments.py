"""Family enrolment pages ("Inscriptions"): my enrolments, the guided request, the detail and its
actions (cancel, answer an offer, duplicate) and the attestation PDF.

Every enrolment comes through get_enrolment_for_household (another family's id is a 404, also
for POST); every rule is the enrolment services' (check_eligibility, request_enrolment…).
"""

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format

from portail.core.errors import BusinessError
from portail.core.models import Channel
from portail.enrolments.certificate import certificate_available, certificate_filename, certificate_pdf
from portail.enrolments.eligibility import check_eligibility
from portail.enrolments.forms import CancelForm, DuplicateForm, EnrolmentRequestForm, GuidedChoiceForm
from portail.enrolments.models import EnrolmentStatus
from portail.enrolments.selectors import (
    enrolment_history,
    enrolments_for_household,
    get_enrolment_for_household,
    waiting_rank,
    waiting_ranks_at_once,
)
from portail.enrolments.services import cancel_enrolment, duplicate_enrolment, request_enrolment
from portail.enrolments.waiting_list import accept_offer, decline_offer

from .decorators import family_required

FAMILY_CANCEL_REASON = "annulée par la famille"

# What the family reads for each step of the audit trail (who decided is not shown).
HISTORY_LABELS = {
    "enrolment.requested": "Demande envoyée",
    "enrolment.validated": "Inscription validée par le service",
    "enrolment.refused": "Demande refusée",
    "enrolment.pre_enrolment_accepted": "Pré-inscription acceptée par le service",
    "enrolment.cancelled": "Inscription annulée",
    "enrolment.group_changed": "Changement de groupe",
    "enrolment.offered": "Une place vous a été proposée",
    "enrolment.offer_accepted": "Place acceptée",
    "enrolment.offer_declined": "Place refusée",
    "enrolment.offer_expired": "Proposition expirée",
}

BADGES = {
    EnrolmentStatus.VALIDATED: "accepted",
    EnrolmentStatus.REFUSED: "refused",
    EnrolmentStatus.CANCELLED: "cancelled",
}


def ordinal(rank: int) -> str:
    return "1re" if rank == 1 else f"{rank}e"


def _moment(value) -> str:
    local = timezone.localtime(value)
    return f"{date_format(local, 'd/m/Y')} à {local:%H:%M}"


def state_text(enrolment, rank=None) -> str:
    """The state as a family reads it, with the rank or the offer deadline."""
    status = enrolment.status
    if status == EnrolmentStatus.WAITING:
        return f"{ordinal(rank)} sur la liste d'attente" if rank else "Liste d'attente"
    if status == EnrolmentStatus.OFFERED:
        return f"Une place vous est proposée jusqu'au {_moment(enrolment.offer_expires_at)}"
    if status == EnrolmentStatus.REQUESTED:
        return "En attente de validation par le service"
    return enrolment.get_status_display()


def outcome_message(enrolment, rank=None) -> str:
    """What happened to one child's request, in one sentence."""
    name = enrolment.child.first_name
    status = enrolment.status
    if status == EnrolmentStatus.VALIDATED:
        return f"{name} : inscription validée."
    if status == EnrolmentStatus.REQUESTED:
        return f"{name} : demande enregistrée, en attente de validation par le service."
    if status == EnrolmentStatus.PRE_ENROLMENT:
        return f"{name} : pré-inscription enregistrée, le service vous indiquera comment la compléter."
    if status == EnrolmentStatus.WAITING:
        where = f" : {ordinal(rank)} sur la liste d'attente" if rank else ""
        return f"{name} : le groupe est complet, demande inscrite sur la liste d'attente{where}."
    return f"{name} : {state_text(enrolment, rank).lower()}."


@dataclass
class EnrolmentRow:
    enrolment: object
    state: str
    badge: str

    @property
    def can_cancel(self) -> bool:
        return self.enrolment.is_live

    @property
    def is_offer(self) -> bool:
        return self.enrolment.status == EnrolmentStatus.OFFERED

    @property
    def has_certificate(self) -> bool:
        return certificate_available(self.enrolment)


def _row(enrolment, rank=None) -> EnrolmentRow:
    return EnrolmentRow(enrolment, state_text(enrolment, rank), BADGES.get(enrolment.status, "pending"))


@family_required
def enrolments(request):
    household = request.household
    items = list(enrolments_for_household(household))
    ranks = waiting_ranks_at_once(items)
    by_child = {}
    for enrolment in items:
        by_child.setdefault(enrolment.child_id, []).append(_row(enrolment, ranks.get(enrolment.pk)))
    children = [
        (child, by_child.get(child.pk, []))
        for child in household.children.order_by("birth_date", "first_name")
        if child.is_active or child.pk in by_child
    ]
    return render(request, "portal/enrolments/list.html", {"children": children})


def _submit_requests(request, choice, form) -> tuple[list, list]:
    """One request per ticked child, each in its own transaction: a refusal saves nothing for
    that child and does not undo the others. Returns (created, [(child, message)])."""
    created, refused = [], []
    for child in form.cleaned_data["enfants"]:
        child.household = request.household
        try:
            enrolment = request_enrolment(
                child=child,
                period=choice.period,
                group=choice.group,
                actor=request.user,
                channel=Channel.WEB,
                memo=form.cleaned_data["memo"],
                weekly_pattern=form.cleaned_data["semaine"],
            )
        except BusinessError as error:
            refused.append((child, error.message))
        else:
            created.append(enrolment)
    return created, refused


@family_required
def enrolment_new(request):
    choice = GuidedChoiceForm(request.GET, today=timezone.localdate())
    form, eligibility = None, []
    if choice.complete:
        initial = {"enfants": request.GET.getlist("enfant")}
        data = request.POST if request.method == "POST" else None
        form = EnrolmentRequestForm(
            data, household=request.household, activity=choice.activity, period=choice.period, initial=initial
        )
        if form.is_bound and form.is_valid():
            created, refused = _submit_requests(request, choice, form)
            if created:
                for enrolment in created:
                    rank = waiting_rank(enrolment) if enrolment.status == EnrolmentStatus.WAITING else None
                    messages.success(request, outcome_message(enrolment, rank))
                for child, message in refused:
                    messages.error(request, f"{child.first_name} : demande refusée. {message}")
                return redirect("portal:enrolments")
            for child, message in refused:
                form.add_error(None, f"{child.first_name} : {message}")
        # The same rule as the services, shown before the family submits.
        now = timezone.now()
        for child in form.children:
            child.household = request.household
            refusals = check_eligibility(child=child, period=choice.period, group=choice.group, now=now)
            eligibility.append((child, [refusal.message for refusal in refusals]))
    elif request.method == "POST":
        messages.error(request, "Choisissez d'abord l'activité, la période et le groupe.")
    return render(
        request,
        "portal/enrolments/new.html",
        {
            "choice": choice,
            "form": form,
            "eligibility": eligibility,
            "wanted_children": request.GET.getlist("enfant"),
            "selected": form.selected("enfants") if form else set(),
            "selected_pattern": form.selected("semaine") if form else set(),
        },
    )


@family_required
def enrolment_detail(request, enrolment_id):
    enrolment = get_enrolment_for_household(request.household, enrolment_id)
    history = [
        (entry, HISTORY_LABELS.get(entry.action, "Mise à jour"))
        for entry in enrolment_history(enrolment)
        if entry.action in HISTORY_LABELS
    ]
    return render(
        request,
        "portal/enrolments/detail.html",
        {"row": _row(enrolment, waiting_rank(enrolment)), "enrolment": enrolment, "history": history},
    )


def _detail(enrolment):
    return redirect("portal:enrolment_detail", enrolment_id=enrolment.pk)


@family_required
def enrolment_cancel(request, enrolment_id):
    enrolment = get_enrolment_for_household(request.household, enrolment_id)
    if not enrolment.is_live:
        messages.error(request, "Cette inscription ne peut plus être annulée.")
        return _detail(enrolment)
    form = CancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            cancel_enrolment(
                enrolment=enrolment,
                actor=request.user,
                channel=Channel.WEB,
                reason=form.cleaned_data["motif"] or FAMILY_CANCEL_REASON,
            )
        except BusinessError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"L'inscription de {enrolment.child.first_name} est annulée.")
            return redirect("portal:enrolments")
    return render(request, "portal/enrolments/cancel.html", {"enrolment": enrolment, "form": form})


def _answer_offer(request, enrolment_id, *, accept: bool):
    enrolment = get_enrolment_for_household(request.household, enrolment_id)
    if enrolment.status != EnrolmentStatus.OFFERED:
        messages.error(request, "Aucune place n'est proposée pour cette inscription.")
        return _detail(enrolment)
    if request.method != "POST":
        return render(request, "portal/enrolments/offer.html", {"enrolment": enrolment, "row": _row(enrolment)})
    service = accept_offer if accept else decline_offer
    try:
        enrolment = service(enrolment=enrolment, actor=request.user, channel=Channel.WEB)
    except BusinessError as error:
        messages.error(request, error.message)
        return _detail(enrolment)
    if accept:
        messages.success(request, outcome_message(enrolment))
    else:
        messages.success(request, "Vous avez refusé la place proposée : elle est proposée à la famille suivante.")
    return redirect("portal:enrolments")


@family_required
def enrolment_offer_accept(request, enrolment_id):
    return _answer_offer(request, enrolment_id, accept=True)


@family_required
def enrolment_offer_decline(request, enrolment_id):
    return _answer_offer(request, enrolment_id, accept=False)


@family_required
def enrolment_duplicate(request, enrolment_id):
    enrolment = get_enrolment_for_household(request.household, enrolment_id)
    data = request.POST if request.method == "POST" else None
    form = DuplicateForm(data, enrolment=enrolment, household=request.household)
    if request.method == "POST" and form.is_valid():
        child = form.cleaned_data["enfant"]
        child.household = request.household
        try:
            copy = duplicate_enrolment(
                enrolment=enrolment,
                actor=request.user,
                channel=Channel.WEB,
                child=child,
                period=form.cleaned_data["periode"],
                group=form.cleaned_data["groupe"],
            )
        except BusinessError as error:
            form.add_error(None, error.message)
        else:
            rank = waiting_rank(copy) if copy.status == EnrolmentStatus.WAITING else None
            messages.success(request, outcome_message(copy, rank))
            return redirect("portal:enrolment_detail", enrolment_id=copy.pk)
    return render(request, "portal/enrolments/duplicate.html", {"enrolment": enrolment, "form": form})


@family_required
def enrolment_certificate(request, enrolment_id):
    enrolment = get_enrolment_for_household(request.household, enrolment_id)
    if not certificate_available(enrolment):
        raise Http404("Attestation disponible pour les inscriptions validées uniquement")
    response = HttpResponse(certificate_pdf(enrolment), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{certificate_filename(enrolment)}"'
    return response
