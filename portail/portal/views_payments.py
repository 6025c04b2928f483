"""Family "Paiements": paying the basket's prepaid reservations, the return from the bank, the account
and its receipts. Every id is looked up among the family's own payments (another one's gives 404)."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from portail.catalog.wording import format_euros
from portail.core.errors import BusinessError
from portail.payments import selectors, services
from portail.payments.models import PaymentAttempt, PaymentStatus

from .decorators import family_required


def basket_payment_context(household, activity_id) -> dict:
    """What the recap says next to "Payer": the hold time, or why paying must wait."""
    regie = services.regie_for_activity(activity_id)
    context = {
        "hold_minutes": regie.hold_minutes if regie else 15,
        "payment_blocked": "",
        "credit_cents": services.credit_for(household, regie) if regie else 0,
    }
    if regie is None or not regie.accepts_online:
        context["payment_blocked"] = "Le paiement en ligne n'est pas ouvert pour ces activités : contactez le service."
        return context
    blocking = services.open_basket_attempt(household)
    if blocking is not None:
        context["payment_blocked"] = services._wait_message(blocking, timezone.now())
    return context


@require_POST
@family_required
def payment_basket_with_credit(request):
    try:
        paid = services.pay_basket_with_credit(household=request.household, actor=request.user)
    except BusinessError as refusal:
        messages.error(request, refusal.message)
        return redirect("portal:planning_recap")
    messages.success(
        request,
        f"{len(paid)} réservation{'s' if len(paid) > 1 else ''} payée{'s' if len(paid) > 1 else ''} avec votre crédit.",
    )
    return redirect("portal:payments")


@require_POST
@family_required
def payment_basket(request):
    try:
        started = services.start_basket_payment(
            household=request.household, actor=request.user, absolute_url=request.build_absolute_uri
        )
    except BusinessError as refusal:
        messages.error(request, refusal.message)
        return redirect("portal:planning_recap")
    return to_bank(request, started)


def to_bank(request, started):
    """Send the family to the bank: a redirect, or a full-page POST form (Systempay); never a card field here."""
    checkout = started.checkout
    if checkout.method == "GET":
        return redirect(checkout.url)
    return render(
        request,
        "portal/payments/to_bank.html",
        {"checkout": checkout, "attempt": started.attempt, "amount": format_euros(started.attempt.amount_cents)},
    )


def _attempt_or_404(household, uid):
    try:
        return selectors.household_attempt(household, uid)
    except PaymentAttempt.DoesNotExist as missing:
        raise Http404("Paiement introuvable") from missing


@family_required
def payment_return(request, uid):
    """Where the bank sends the family back. It only shows the state: the notification decides it."""
    attempt = _attempt_or_404(request.household, uid)
    context = {"attempt": attempt, "payment": attempt.payment, "amount": format_euros(attempt.amount_cents)}
    if request.headers.get("HX-Request") == "true":
        response = render(request, "portal/payments/_attempt_state.html", context)
        if attempt.is_open:
            return response
        # Settled: reload the whole page once (links to the receipt and the planning appear).
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "portal/payments/return.html", context)


@require_GET
@family_required
def payment_return_by_reference(request):
    """PayFiP's ticket page links back with our reference (its classic protocol has no return URL)."""
    reference = request.GET.get("ref", "")[:30]
    try:
        attempt = selectors.household_attempt_by_reference(request.household, reference)
    except PaymentAttempt.DoesNotExist:
        messages.info(request, "Retrouvez l'état de vos paiements ci-dessous.")
        return redirect("portal:payments")
    return redirect("portal:payment_return", uid=attempt.uid)


@require_GET
@family_required
def payments(request):
    account = selectors.household_account(request.household)
    return render(
        request,
        "portal/payments/account.html",
        {"account": account, "credit": format_euros(account.credit_cents), "paid_status": PaymentStatus.PAID},
    )


@family_required
def payment_receipt(request, payment_id):
    from portail.payments.receipt_pdf import render_receipt_pdf

    try:
        payment = selectors.household_payment(request.household, payment_id)
    except selectors.Payment.DoesNotExist as missing:
        raise Http404("Paiement introuvable") from missing
    if not payment.receipt_number:
        raise Http404("Pas de reçu pour ce paiement")
    response = HttpResponse(render_receipt_pdf(payment), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="recu-{payment.receipt_number}.pdf"'
    return response
