"""Forms of the catalog: the public filter, session generation, and staff ModelForms."""

from decimal import Decimal

from django import forms

from portail.households.models import SchoolLevel

from . import selectors
from .deadlines import WEEKDAY_NAMES
from .models import (
    Activity,
    ActivityType,
    BookingDeadlineRule,
    DeadlineKind,
    Facility,
    Group,
    Period,
    Unit,
)

WEEKDAY_CHOICES = [(str(i), name.capitalize()) for i, name in enumerate(WEEKDAY_NAMES)]
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
TIME_INPUT = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class CatalogFilterForm(forms.Form):
    """GET filters of the public catalog (plain links and a submit button: works without JavaScript)."""

    structure = forms.ModelChoiceField(
        label="Structure", queryset=Facility.objects.none(), to_field_name="slug", required=False, empty_label="Toutes"
    )
    type = forms.ModelChoiceField(
        label="Type d'activité",
        queryset=ActivityType.objects.none(),
        to_field_name="slug",
        required=False,
        empty_label="Tous",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["structure"].queryset = selectors.public_facilities()
        self.fields["type"].queryset = selectors.public_activity_types()


class GenerateSessionsForm(forms.Form):
    start = forms.DateField(label="Du", widget=DATE_INPUT)
    end = forms.DateField(label="Au (inclus)", widget=DATE_INPUT)
    weekdays = forms.TypedMultipleChoiceField(
        label="Jours d'ouverture",
        choices=WEEKDAY_CHOICES,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choisissez au moins un jour de la semaine."},
    )
    skip_public_holidays = forms.BooleanField(label="Fermé les jours fériés", required=False, initial=True)
    skip_school_holidays = forms.BooleanField(label="Fermé pendant les vacances scolaires", required=False)
    only_school_holidays = forms.BooleanField(
        label="Ouvert uniquement pendant les vacances scolaires",
        required=False,
        help_text="Pour un accueil de loisirs des vacances.",
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", "La date de fin doit être égale ou postérieure à la date de début.")
        if data.get("skip_school_holidays") and data.get("only_school_holidays"):
            raise forms.ValidationError(
                "Choisissez soit « fermé pendant les vacances scolaires », soit « uniquement pendant les vacances »."
            )
        return data


class SessionActionForm(forms.Form):
    reason = forms.CharField(label="Motif (facultatif)", max_length=200, required=False)


# --- Staff ModelForms ------------------------------------------------------------------------------


class FacilityForm(forms.ModelForm):
    class Meta:
        model = Facility
        fields = ["town", "name", "slug", "description", "address", "phone", "email", "is_active", "position"]
        labels = {"town": "Commune"}


class ActivityTypeForm(forms.ModelForm):
    class Meta:
        model = ActivityType
        fields = ["name", "slug", "position"]


class ActivityForm(forms.ModelForm):
    class Meta:
        model = Activity
        fields = [
            "facility",
            "activity_type",
            "school_year",
            "name",
            "slug",
            "description",
            "payment_mode",
            "price_info",
            "is_published",
            "position",
            "validation_mode",
            "requires_pre_enrolment",
            "capacity",
            "offer_delay_hours",
            "waiting_list_priority",
            "session_waiting_list",
        ]

    def clean_offer_delay_hours(self):
        hours = self.cleaned_data.get("offer_delay_hours")
        if hours is not None and hours < 1:
            raise forms.ValidationError("Laissez au moins une heure aux familles pour répondre.")
        return hours


class PeriodForm(forms.ModelForm):
    class Meta:
        model = Period
        fields = ["activity", "name", "start_date", "end_date", "enrolment_opens_at", "enrolment_closes_at"]
        labels = {"activity": "Activité"}
        widgets = {
            "start_date": DATE_INPUT,
            "end_date": DATE_INPUT,
            "enrolment_opens_at": DATETIME_INPUT,
            "enrolment_closes_at": DATETIME_INPUT,
        }

    def clean(self):
        data = super().clean()
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", "La fin de la période doit être égale ou postérieure à son début.")
        opens, closes = data.get("enrolment_opens_at"), data.get("enrolment_closes_at")
        if opens and closes and closes <= opens:
            self.add_error("enrolment_closes_at", "La clôture des inscriptions doit suivre leur ouverture.")
        return data


class GroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = [
            "activity",
            "name",
            "min_age",
            "max_age",
            "min_school_level",
            "max_school_level",
            "capacity",
            "position",
        ]
        labels = {"activity": "Activité"}

    def clean(self):
        data = super().clean()
        min_age, max_age = data.get("min_age"), data.get("max_age")
        if min_age is not None and max_age is not None and max_age < min_age:
            self.add_error("max_age", "L'âge maximum doit être supérieur ou égal à l'âge minimum.")
        low, high = data.get("min_school_level"), data.get("max_school_level")
        if low and high and SchoolLevel.rank(high) < SchoolLevel.rank(low):
            self.add_error("max_school_level", "La classe maximum doit suivre la classe minimum.")
        return data


class UnitForm(forms.ModelForm):
    # Staff type euros; the model keeps integer cents.
    price = forms.DecimalField(
        label="Prix (€)", min_value=Decimal("0"), max_digits=8, decimal_places=2, localize=True, initial=Decimal("0")
    )

    field_order = ["activity", "name", "kind", "start_time", "end_time", "price", "deadline_rule", "position"]

    class Meta:
        model = Unit
        fields = ["activity", "name", "kind", "start_time", "end_time", "deadline_rule", "position"]
        labels = {"activity": "Activité"}
        widgets = {"start_time": TIME_INPUT, "end_time": TIME_INPUT}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["price"] = Decimal(self.instance.price_cents).scaleb(-2)  # 1000 -> 10.00

    def clean(self):
        data = super().clean()
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and end <= start:
            self.add_error("end_time", "L'heure de fin doit suivre l'heure de début.")
        return data

    def save(self, commit=True):
        self.instance.price_cents = int(self.cleaned_data["price"] * 100)
        return super().save(commit=commit)


class DeadlineRuleForm(forms.ModelForm):
    weekday = forms.TypedChoiceField(
        label="Jour de la semaine",
        choices=[("", "—")] + WEEKDAY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        help_text="Seulement pour « le jour J de la semaine précédente ».",
    )

    class Meta:
        model = BookingDeadlineRule
        fields = ["name", "kind", "days", "at_time", "weekday", "skip_public_holidays", "skip_school_holidays"]
        widgets = {"at_time": TIME_INPUT}

    def clean(self):
        data = super().clean()
        if data.get("kind") == DeadlineKind.PREVIOUS_WEEK_DAY and data.get("weekday") is None:
            self.add_error("weekday", "Choisissez le jour de la semaine de clôture.")
        return data


# Staff forms by URL word: (form class, words for the page title).
CATALOG_FORMS = {
    "structures": (FacilityForm, "une structure"),
    "types": (ActivityTypeForm, "un type d'activité"),
    "activites": (ActivityForm, "une activité"),
    "periodes": (PeriodForm, "une période"),
    "groupes": (GroupForm, "un groupe"),
    "unites": (UnitForm, "une unité"),
    "delais": (DeadlineRuleForm, "un délai de réservation"),
}
