"""Staff page "Présence non réservée" ("gestion/foyers/<id>/factures/presence/"): a child of the
household came to a session without a booking; the agent picks the day, the child and the session of
that day, and the service (billing.billable_items) prices it once and records it for the next invoice.

Needs households.view_household, payments.view_payment and payments.change_payment (Régisseur,
Administrateur), like the one-off invoice. The view parses, calls the service, renders.
"""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from portail.billing.billable_items import record_unexpected_presence
from portail.billing.errors import BillingError
from portail.bookings.selectors import format_day
from portail.catalog.models import PaymentMode, Session
from portail.households import selectors as household_selectors

from .decorators import staff_required
from .views_billing import CHANGE, DATE_INPUT, HOUSEHOLD, VIEW


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
