"""Staff money pages ("gestion/paiements/…", "gestion/regies/…"): the payment list and its CSV
journal, a payment's page (allocations, bank attempts and their raw notifications, incidents,
receipt, refund), a desk payment for a household ("Encaisser un paiement"), the payment
incidents, and the régies' settings.

Views parse, call one service, render. staff_required is the outermost decorator so that
families and anonymous visitors get 403/login before any lookup or method check.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import F, Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portail.core.models import LogEntry
from portail.households import selectors as household_selectors
from portail.payments import journal, offline
from portail.payments.errors import PaymentError
from portail.payments.models import (
    Allocation,
    BankNotification,
    Means,
    Payment,
    PaymentAttempt,
    PaymentIncident,
    PaymentStatus,
    Regie,
)
from portail.payments.receipt_pdf import receipt_available, receipt_filename, render_receipt_pdf
from portail.payments.staff_forms import (
    DeskPaymentForm,
    PaymentFilterForm,
    RefundForm,
    RegieForm,
    ResolveIncidentForm,
)

from .decorators import staff_required

HOUSEHOLD = "households.view_household"
VIEW = "payments.view_payment"
ADD = "payments.add_payment"
CHANGE = "payments.change_payment"
VIEW_ATTEMPTS = "payments.view_paymentattempt"
VIEW_NOTIFICATIONS = "payments.view_banknotification"
VIEW_INCIDENTS = "payments.view_paymentincident"
CHANGE_INCIDENTS = "payments.change_paymentincident"
VIEW_REGIES = "payments.view_regie"
CHANGE_REGIES = "payments.change_regie"
ADD_REGIES = "payments.add_regie"

ACTION_LABELS = {
    "payment.started": "Paiement en ligne envoyé à la banque",
    "payment.paid": "Paiement en ligne reçu",
    "payment.failed": "Paiement en ligne non abouti",
    "payment.recorded": "Paiement enregistré au guichet",
    "payment.refunded": "Paiement remboursé ou annulé",
}
STATUS_BADGES = {
    PaymentStatus.PAID: "accepted",
    PaymentStatus.REFUNDED: "cancelled",
    PaymentStatus.DENIED: "refused",
    PaymentStatus.CANCELLED: "cancelled",
    PaymentStatus.EXPIRED: "cancelled",
    PaymentStatus.ERROR: "refused",
}


def _back(request, default: str) -> str:
    """The page the action came from (`next`), if it is one of ours; otherwise `default`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _badge(payment) -> str:
    return STATUS_BADGES.get(payment.status, "pending")


# --- the payment list and the journal ----------------------------------------------------------


@staff_required(VIEW)
@require_GET
def payment_list(request):
    form = PaymentFilterForm(request.GET or None)
    payments = journal.staff_payments(**form.filters())
    page = Paginator(payments, 50).get_page(request.GET.get("page"))
    for payment in page.object_list:
        payment.badge = _badge(payment)
        payment.payer = journal.payer_name(payment)
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "backoffice/payments/list.html",
        {
            "form": form,
            "page": page,
            "params": params.urlencode(),
            "received": journal.received_total(payments),
            "can_see_incidents": request.user.has_perm(VIEW_INCIDENTS),
        },
    )


@staff_required(VIEW)
@require_GET
def payment_export(request):
    form = PaymentFilterForm(request.GET or None)
    filters = form.filters()
    payments = journal.staff_payments(**filters, journal=True)
    response = HttpResponse(journal.to_csv(payments), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{journal.filename(regie=filters["regie"])}"'
    return response


# --- one payment ---------------------------------------------------------------------------------


def _staff_payment(payment_id) -> Payment:
    return get_object_or_404(
        Payment.objects.select_related("regie", "household", "created_by", "refunded_by"), pk=payment_id
    )


def _journal(payment) -> list:
    entries = list(
        LogEntry.objects.filter(object_type=Payment._meta.label, object_id=str(payment.pk))
        .select_related("actor")
        .order_by("created_at", "id")
    )
    for entry in entries:
        entry.label = ACTION_LABELS.get(entry.action, entry.action)
    return entries


@staff_required(VIEW)
@require_GET
def payment_detail(request, payment_id):
    payment = _staff_payment(payment_id)
    payment.badge = _badge(payment)
    allocations = list(
        Allocation.objects.filter(payment=payment).select_related("booking__child", "enrolment__child").order_by("pk")
    )
    allocated = sum(a.amount_cents for a in allocations)
    can_see_attempts = request.user.has_perm(VIEW_ATTEMPTS)
    can_see_notifications = can_see_attempts and request.user.has_perm(VIEW_NOTIFICATIONS)
    attempts = []
    if can_see_attempts:
        attempts = PaymentAttempt.objects.filter(payment=payment).select_related("created_by").order_by("created_at")
        if can_see_notifications:
            attempts = attempts.prefetch_related(
                Prefetch("notifications", queryset=BankNotification.objects.order_by("received_at", "pk"))
            )
        attempts = list(attempts)
    can_see_incidents = request.user.has_perm(VIEW_INCIDENTS)
    incidents = (
        list(PaymentIncident.objects.filter(payment=payment).select_related("resolved_by").order_by("created_at"))
        if can_see_incidents
        else []
    )
    can_refund = request.user.has_perm(CHANGE) and payment.status == PaymentStatus.PAID
    context = {
        "payment": payment,
        "household": payment.household,
        "guardians": list(payment.household.guardians.order_by("-is_payer", "last_name", "first_name")),
        "allocations": allocations,
        "credit": payment.amount_cents - allocated,
        "attempts": attempts,
        "can_see_attempts": can_see_attempts,
        "can_see_notifications": can_see_notifications,
        "incidents": incidents,
        "can_see_incidents": can_see_incidents,
        "can_resolve": request.user.has_perm(CHANGE_INCIDENTS),
        "has_receipt": receipt_available(payment),
        "can_refund": can_refund,
        "refund_form": RefundForm(auto_id="remboursement_%s") if can_refund else None,
        "journal": _journal(payment),
        "here": request.get_full_path(),
    }
    return render(request, "backoffice/payments/detail.html", context)


@staff_required(VIEW)
@require_GET
def payment_receipt(request, payment_id):
    payment = _staff_payment(payment_id)
    if not receipt_available(payment):
        raise Http404("Ce paiement n'a pas de reçu")
    response = HttpResponse(render_receipt_pdf(payment), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{receipt_filename(payment)}"'
    return response


@staff_required(VIEW, CHANGE)
@require_POST
def payment_refund(request, payment_id):
    payment = _staff_payment(payment_id)
    back = reverse("backoffice:payment_detail", args=[payment.pk])
    form = RefundForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["reason"][0])
        return redirect(back)
    try:
        refunded = offline.refund_payment(payment=payment, actor=request.user, reason=form.cleaned_data["reason"])
    except PaymentError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(
            request,
            f"Paiement du reçu n° {refunded.receipt_number or '—'} enregistré comme remboursé ou annulé. "
            "Le remboursement lui-même passe par un mandat de l'ordonnateur.",
        )
    return redirect(back)


# --- a desk payment ------------------------------------------------------------------------------


@staff_required(HOUSEHOLD, VIEW, ADD)
@never_cache  # "back" then "send" again must not post a stale one-time token for a new payment
def payment_record(request, household_id):
    household = household_selectors.staff_household(household_id)
    form = DeskPaymentForm(request.POST if request.method == "POST" else None, household=household)
    if request.method == "POST" and form.is_valid():
        try:
            payment = offline.record_offline_payment(household=household, actor=request.user, **form.service_kwargs())
        except PaymentError as refusal:
            form.add_refusal(refusal)
        else:
            if getattr(payment, "already_recorded", False):
                messages.info(
                    request,
                    f"Ce paiement était déjà enregistré (formulaire envoyé deux fois), reçu n° {payment.receipt_number}.",
                )
            else:
                messages.success(request, f"Paiement enregistré, reçu n° {payment.receipt_number}.")
            return redirect("backoffice:payment_detail", payment.pk)
    recent = list(
        Payment.objects.filter(household=household).select_related("regie").order_by("-created_at", "-pk")[:5]
    )
    for payment in recent:
        payment.badge = _badge(payment)
    context = {
        "household": household,
        "guardians": list(household.guardians.order_by("-is_payer", "last_name", "first_name")),
        "form": form,
        "recent": recent,
        "cash": Means.CASH,
    }
    return render(request, "backoffice/payments/record.html", context)


# --- incidents -----------------------------------------------------------------------------------


@staff_required(VIEW_INCIDENTS)
@require_GET
def incident_list(request):
    incidents = PaymentIncident.objects.select_related(
        "regie", "household", "payment", "attempt", "resolved_by"
    ).order_by(F("resolved_at").desc(nulls_first=True), "-created_at", "-pk")
    page = Paginator(incidents, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "backoffice/payments/incidents.html",
        {
            "page": page,
            "open_count": PaymentIncident.objects.filter(resolved_at__isnull=True).count(),
            "can_resolve": request.user.has_perm(CHANGE_INCIDENTS),
            "here": request.get_full_path(),
            "params": "",
        },
    )


@staff_required(VIEW_INCIDENTS, CHANGE_INCIDENTS)
@require_POST
def incident_resolve(request, incident_id):
    incident = get_object_or_404(PaymentIncident.objects.select_related("household"), pk=incident_id)
    back = _back(request, reverse("backoffice:payment_incidents"))
    form = ResolveIncidentForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["resolution"][0])
        return redirect(back)
    try:
        offline.resolve_incident(incident=incident, actor=request.user, resolution=form.cleaned_data["resolution"])
    except PaymentError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Incident du foyer {incident.household.reference} traité.")
    return redirect(back)


# --- régies --------------------------------------------------------------------------------------


@staff_required(VIEW_REGIES)
@require_GET
def regie_list(request):
    regies = list(Regie.objects.prefetch_related("activities", "cesu_accepted_for").order_by("-is_active", "name"))
    for regie in regies:
        regie.means_labels = [Means(m).label for m in regie.accepted_means if m in Means.values]
    return render(
        request,
        "backoffice/payments/regies.html",
        {
            "regies": regies,
            "can_change": request.user.has_perm(CHANGE_REGIES),
            "can_add": request.user.has_perm(ADD_REGIES),
        },
    )


@staff_required(VIEW_REGIES, CHANGE_REGIES)
def regie_edit(request, regie_id):
    regie = get_object_or_404(Regie, pk=regie_id)
    title = f"Régie « {regie.name} »"  # before the form puts the typed values on the instance
    form = RegieForm(request.POST if request.method == "POST" else None, instance=regie)
    if request.method == "POST" and form.is_valid():
        saved = offline.save_regie(form=form, actor=request.user, secret_names=form.secret_names)
        messages.success(request, f"La régie « {saved.name} » est enregistrée.")
        return redirect("backoffice:regies")
    return render(request, "backoffice/payments/regie_form.html", {"form": form, "regie": regie, "title": title})


@staff_required(VIEW_REGIES, ADD_REGIES)
def regie_new(request):
    """A new régie (an administrator's act: the régie exists by the town's acte constitutif)."""
    from portail.organisations.models import Town

    regie = Regie(town=Town.current())
    form = RegieForm(request.POST if request.method == "POST" else None, instance=regie)
    if request.method == "POST" and form.is_valid():
        saved = offline.save_regie(form=form, actor=request.user, secret_names=form.secret_names)
        messages.success(request, f"La régie « {saved.name} » est créée.")
        return redirect("backoffice:regies")
    return render(
        request, "backoffice/payments/regie_form.html", {"form": form, "regie": regie, "title": "Nouvelle régie"}
    )
