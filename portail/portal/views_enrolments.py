"""Family enrolment pages ("Inscriptions"): my enrolments, the guided request, the detail and its
actions (cancel, answer an offer, duplicate), the attestation PDF, and the cart of enrolments paid
at once ("Inscriptions à payer", seed 000).

Every enrolment comes through get_enrolment_for_household (another family's id is a 404, also
for POST); every rule is the enrolment services' (check_eligibility, request_enrolment…) or, for
activities paid at enrolment, portail.payments.enrolment_payment's (cart, payment).
"""

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_GET, require_POST

from portail.catalog.wording import format_euros
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
from portail.payments import enrolment_payment as paid_at_once
from portail.payments.errors import PaymentError
from portail.payments.models import Allocation, PaymentStatus

from .decorators import family_required
from .views_payments import to_bank

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
    "enrolment.paid": "Inscription payée en ligne et validée",
    "booking.enrolment_sessions": "Séances de la période réservées",
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
    paid: bool = False  # paid online at enrolment: only the service may cancel it (credit, refund)

    @property
    def can_cancel(self) -> bool:
        return self.enrolment.is_live and not self.paid

    @property
    def is_offer(self) -> bool:
        return self.enrolment.status == EnrolmentStatus.OFFERED

    @property
    def has_certificate(self) -> bool:
        return certificate_available(self.enrolment)


def _paid_ids(enrolments) -> set[int]:
    """The enrolments among these that a received payment paid for (one query)."""
    ids = [enrolment.pk for enrolment in enrolments]
    if not ids:
        return set()
    return set(
        Allocation.objects.filter(enrolment_id__in=ids, payment__status=PaymentStatus.PAID).values_list(
            "enrolment_id", flat=True
        )
    )


def _row(enrolment, rank=None, paid=None) -> EnrolmentRow:
    if paid is None:
        paid = enrolment.pk in _paid_ids([enrolment])
    return EnrolmentRow(enrolment, state_text(enrolment, rank), BADGES.get(enrolment.status, "pending"), paid)


@family_required
def enrolments(request):
    household = request.household
    items = list(enrolments_for_household(household))
    ranks = waiting_ranks_at_once(items)
    paid = _paid_ids(items)
    by_child = {}
    for enrolment in items:
        by_child.setdefault(enrolment.child_id, []).append(
            _row(enrolment, ranks.get(enrolment.pk), paid=enrolment.pk in paid)
        )
    children = [
        (child, by_child.get(child.pk, []))
        for child in household.children.order_by("birth_date", "first_name")
        if child.is_active or child.pk in by_child
    ]
    cart = paid_at_once.cart_items(request.session, household)
    return render(
        request,
        "portal/enrolments/list.html",
        {"children": children, "cart": cart, "cart_total": format_euros(paid_at_once.cart_total(cart))},
    )


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


def _add_to_cart(request, choice, form) -> tuple[list, list]:
    """Activities paid at enrolment: each ticked child goes into the enrolment cart (nothing is
    created before the payment). Returns (cart items added, [(child, message)])."""
    added, refused = [], []
    for child in form.cleaned_data["enfants"]:
        try:
            item = paid_at_once.add_to_cart(
                request.session,
                request.household,
                child_id=child.pk,
                period_id=choice.period.pk,
                group_id=choice.group.pk,
            )
        except PaymentError as refusal:
            # Eligibility refusals already name the child, the period and the group.
            message = refusal.message if refusal.code == "ineligible" else f"{child.first_name} : {refusal.message}"
            refused.append((child, message))
        else:
            added.append(item)
    return added, refused


@family_required
def enrolment_new(request):
    choice = GuidedChoiceForm(request.GET, today=timezone.localdate())
    form, eligibility = None, []
    pays_now = choice.complete and paid_at_once.pays_at_enrolment(choice.activity, choice.period)
    cart = paid_at_once.cart_items(request.session, request.household)
    if choice.complete:
        initial = {"enfants": request.GET.getlist("enfant")}
        data = request.POST if request.method == "POST" else None
        form = EnrolmentRequestForm(
            data, household=request.household, activity=choice.activity, period=choice.period, initial=initial
        )
        if form.is_bound and form.is_valid() and pays_now:
            added, refused = _add_to_cart(request, choice, form)
            if added:
                for item in added:
                    messages.success(request, f"{item.label} : ajoutée au panier d'inscriptions ({item.price}).")
                for _child, message in refused:
                    messages.error(request, f"Non ajoutée au panier. {message}")
                return redirect("portal:enrolment_cart")
            for _child, message in refused:
                form.add_error(None, message)
        elif form.is_bound and form.is_valid():
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
            "pays_now": pays_now,
            "price": format_euros(choice.period.enrolment_price_cents) if pays_now else "",
            "in_cart": {item.child.pk for item in cart if pays_now and item.period.pk == choice.period.pk},
            "cart": cart,
            "cart_total": format_euros(paid_at_once.cart_total(cart)),
        },
    )


# --- Enrolments paid at once: the cart and its payment ---------------------------------------------


@require_GET
@family_required
def enrolment_cart(request):
    """ "Inscriptions à payer": the cart, its total, what would refuse a line now, and "Payer"."""
    household = request.household
    items = paid_at_once.cart_items(request.session, household)
    now = timezone.now()
    problems = paid_at_once.item_problems(items, now)
    rows = [(item, problems.get(item.key, "")) for item in items]
    total = paid_at_once.cart_total(items)
    more_url = reverse("portal:enrolment_new")
    if items:
        more_url += f"?activite={items[-1].activity.slug}"
    return render(
        request,
        "portal/enrolments/cart.html",
        {
            "rows": rows,
            "total_cents": total,
            "total": format_euros(total),
            "payment_blocked": paid_at_once.payment_blocked(household, items, now) if items else "",
            "has_problems": bool(problems),
            "more_url": more_url,
        },
    )


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@require_POST
@family_required
def enrolment_cart_remove(request):
    child_id, period_id = _int(request.POST.get("enfant")), _int(request.POST.get("periode"))
    items = {item.key: item for item in paid_at_once.cart_items(request.session, request.household)}
    item = items.get((child_id, period_id))
    if item is not None and paid_at_once.remove_from_cart(
        request.session, request.household, child_id=child_id, period_id=period_id
    ):
        messages.success(request, f"{item.label} : retirée du panier d'inscriptions.")
    else:
        messages.info(request, "Cette inscription n'est plus dans le panier.")
    return redirect("portal:enrolment_cart")


@require_POST
@family_required
def enrolment_cart_pay(request):
    """ "Payer": one payment for the whole cart, then the bank (like payment_basket)."""
    household = request.household
    items = paid_at_once.cart_items(request.session, household)
    if _int(request.POST.get("total")) != paid_at_once.cart_total(items):
        messages.error(request, "Votre panier d'inscriptions a changé entre-temps : vérifiez le montant puis payez.")
        return redirect("portal:enrolment_cart")
    try:
        started = paid_at_once.start_enrolment_payment(
            household=household, items=items, actor=request.user, absolute_url=request.build_absolute_uri
        )
    except PaymentError as refusal:
        messages.error(request, refusal.message)
        return redirect("portal:enrolment_cart")
    return to_bank(request, started)


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
    if _paid_ids([enrolment]):
        messages.error(request, "Cette inscription est payée : pour l'annuler, contactez le service.")
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
    if (
        request.method == "POST"
        and form.is_valid()
        and paid_at_once.pays_at_enrolment(enrolment.activity, form.cleaned_data["periode"])
    ):
        # Paid at enrolment: the copy goes into the cart and is created once paid.
        try:
            item = paid_at_once.add_to_cart(
                request.session,
                request.household,
                child_id=form.cleaned_data["enfant"].pk,
                period_id=form.cleaned_data["periode"].pk,
                group_id=form.cleaned_data["groupe"].pk,
            )
        except PaymentError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, f"{item.label} : ajoutée au panier d'inscriptions ({item.price}).")
            return redirect("portal:enrolment_cart")
    elif request.method == "POST" and form.is_valid():
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
