"""Staff page "Présence non réservée" ("gestion/foyers/<id>/factures/presence/"): a child of the
household came to a session without a booking; the agent picks the day, the child and the session of
that day, and the service (billing.billable_items) prices it once and records it for the next invoice.

Needs households.view_household, payments.view_payment and payments.change_payment (Régisseur,
Administrateur), like the one-off invoice. The view parses, calls the service, renders.
"""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from portail.billing.billable_items import cancel_unexpected_presence, pending_presences, record_unexpected_presence
from portail.billing.errors import BillingError
from portail.billing.models import BillableItem
from portail.bookings.selectors import format_day
from portail.catalog.models import PaymentMode, Session
from portail.households import selectors as household_selectors
from portail.payments.staff_forms import DATE_INPUT

from .decorators import staff_required
from .views_billing import CHANGE, HOUSEHOLD, VIEW


class SessionChoice(forms.ModelChoiceField):
    def label_from_instance(self, session):
        return f"{session.unit.activity.name} – {session.unit.name}"


class PresenceForm(forms.Form):
    """The day first (GET reloads the sessions of that day), then the child and the session."""

    jour = forms.DateField(label="Jour", widget=DATE_INPUT, error_messages={"required": "Indiquez le jour."})
    enfant = forms.ModelChoiceField(
        label="Enfant", queryset=None, empty_label="Choisissez…", error_messages={"required": "Choisissez l'enfant."}
    )
    seance = SessionChoice(
        label="Séance",
        queryset=Session.objects.none(),
        empty_label="Choisissez…",
        error_messages={"required": "Choisissez la séance.", "invalid_choice": "Choisissez une séance de ce jour."},
    )

    def __init__(self, data=None, *, household, day, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("jour", day)
        super().__init__(data, **kwargs)
        self.fields["enfant"].queryset = household.children.filter(is_active=True).order_by("birth_date", "first_name")
        # Sessions of the day of the activities invoiced monthly (only those are billed by a run).
        self.fields["seance"].queryset = (
            Session.objects.filter(date=day, is_cancelled=False, unit__activity__payment_mode=PaymentMode.INVOICED)
            .select_related("unit__activity")
            .order_by("unit__activity__name", "unit__position", "pk")
        )


def _day(value):
    try:
        return forms.DateField().clean(value) if value else timezone.localdate()
    except forms.ValidationError:
        return timezone.localdate()


@staff_required(HOUSEHOLD, VIEW, CHANGE)
@never_cache
def presence_new(request, household_id):
    household = household_selectors.staff_household(household_id)
    source = request.POST if request.method == "POST" else request.GET
    day = _day(source.get("jour"))
    form = PresenceForm(request.POST if request.method == "POST" else None, household=household, day=day)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            item = record_unexpected_presence(child=data["enfant"], session=data["seance"], actor=request.user)
        except BillingError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(
                request,
                f"Présence non réservée de {data['enfant'].full_name} enregistrée ({item.label}) : "
                "elle sera facturée avec la prochaine facture du mois.",
            )
            return redirect("backoffice:billing_household_invoices", household.pk)
    return render(
        request,
        "backoffice/billing/presence_form.html",
        {"household": household, "form": form, "day": day, "day_label": format_day(day)},
        status=400 if request.method == "POST" else 200,
    )


@staff_required(HOUSEHOLD, VIEW, CHANGE)
def presence_cancel(request, household_id, item_id):
    """Remove a presence recorded by mistake, before it is invoiced (POST, with a reason)."""
    household = household_selectors.staff_household(household_id)
    item = pending_presences(household).filter(pk=item_id).first()
    if item is None:  # another household's, already invoiced, or gone: 404 before any 405
        raise Http404("Présence introuvable")
    return _cancel(request, household, item)


@require_POST
def _cancel(request, household, item: BillableItem):
    try:
        cancel_unexpected_presence(item=item, actor=request.user, reason=request.POST.get("motif", ""))
    except BillingError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Présence retirée : {item.label}.")
    return redirect("backoffice:billing_household_invoices", household.pk)
