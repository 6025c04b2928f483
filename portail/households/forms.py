"""Forms of the household record. The same classes validate what a family types, what staff
type and the payload of a request when it is filed and when it is applied: one rule, one place."""

from django import forms
from django.core.exceptions import ValidationError

from portail.organisations.models import School

from .models import (
    AuthorizedPerson,
    BenefitScheme,
    Child,
    FamilyQuotient,
    Guardian,
    HealthRecord,
    Household,
    HouseholdStatus,
)
from .validators import normalize_phone, normalize_postcode, validate_not_future

CHILD_FIELDS = [
    "first_name",
    "last_name",
    "birth_date",
    "sex",
    "school",
    "school_level",
    "diet",
    "photo_allowed",
    "may_leave_alone",
]
HEALTH_FIELDS = [
    "allergies",
    "has_care_plan",
    "care_plan_details",
    "treatment",
    "doctor_name",
    "doctor_phone",
    "notes",
]
# What a family may change itself, saved at once ("Mes coordonnées").
COORDINATE_FIELDS = [
    "mobile_phone",
    "home_phone",
    "employer_name",
    "work_phone",
    "address_line1",
    "address_line2",
    "postcode",
    "city",
]
GUARDIAN_IDENTITY_FIELDS = ["civility", "first_name", "last_name", "relationship"]
GUARDIAN_FIELDS = GUARDIAN_IDENTITY_FIELDS + ["email"] + COORDINATE_FIELDS
BENEFIT_FIELDS = ["benefit_scheme", "benefit_number"]
PERSON_FIELDS = ["first_name", "last_name", "phone", "relationship"]
QUOTIENT_FIELDS = ["value", "valid_from", "valid_until", "source"]

PHONE_FIELDS = {"mobile_phone", "home_phone", "work_phone", "doctor_phone", "phone"}
NO_CHANGE_MESSAGE = "Vous n'avez modifié aucune information."


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class RecordForm(forms.ModelForm):
    """Normalises French phones and postcodes, and sets mobile-friendly input types."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name in PHONE_FIELDS:
                field.widget.input_type = "tel"
                field.widget.attrs.update({"autocomplete": "tel", "inputmode": "tel"})
            elif name == "postcode":
                field.widget.attrs.update({"inputmode": "numeric", "autocomplete": "postal-code"})
            elif name == "email":
                field.widget.attrs.update({"autocomplete": "email"})

    def clean(self):
        cleaned = super().clean()
        for name in self.fields:
            if name in self.errors or name not in cleaned:
                continue
            try:
                if name in PHONE_FIELDS:
                    cleaned[name] = normalize_phone(cleaned[name])
                elif name == "postcode":
                    cleaned[name] = normalize_postcode(cleaned[name])
            except ValidationError as error:
                self.add_error(name, error)
        return cleaned


class CoordinatesForm(RecordForm):
    class Meta:
        model = Guardian
        fields = COORDINATE_FIELDS
        widgets = {"address_line1": forms.TextInput(attrs={"autocomplete": "address-line1"})}


class GuardianIdentityForm(RecordForm):
    class Meta:
        model = Guardian
        fields = GUARDIAN_IDENTITY_FIELDS


class GuardianForm(RecordForm):
    """A whole guardian: a family's request to add one, or a staff edit."""

    class Meta:
        model = Guardian
        fields = GUARDIAN_FIELDS


class ChildForm(RecordForm):
    class Meta:
        model = Child
        fields = CHILD_FIELDS
        widgets = {"birth_date": DateInput()}
        help_texts = {
            "photo_allowed": "J'autorise la prise et la diffusion de photos de mon enfant par la commune.",
            "may_leave_alone": "Mon enfant peut quitter seul l'accueil à la fin de l'activité.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["school"].queryset = School.objects.order_by("name")
        self.fields["school"].empty_label = "Non scolarisé ou école hors commune"

    def clean_birth_date(self):
        value = self.cleaned_data["birth_date"]
        validate_not_future(value)
        return value


class StaffChildForm(ChildForm):
    class Meta(ChildForm.Meta):
        fields = CHILD_FIELDS + ["is_active"]


class HealthRecordForm(RecordForm):
    class Meta:
        model = HealthRecord
        fields = HEALTH_FIELDS
        widgets = {
            "allergies": forms.Textarea(attrs={"rows": 2}),
            "care_plan_details": forms.Textarea(attrs={"rows": 3}),
            "treatment": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {"allergies": "Alimentaires, médicamenteuses… Laissez vide s'il n'y en a pas."}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("care_plan_details") and not cleaned.get("has_care_plan"):
            self.add_error("has_care_plan", "Cochez cette case si vous décrivez un PAI.")
        return cleaned


class AuthorizedPersonForm(RecordForm):
    class Meta:
        model = AuthorizedPerson
        fields = PERSON_FIELDS
        help_texts = {"relationship": "Par exemple : grand-mère, voisin, nourrice."}


class HouseholdBenefitForm(RecordForm):
    class Meta:
        model = Household
        fields = BENEFIT_FIELDS

    def clean(self):
        cleaned = super().clean()
        scheme = cleaned.get("benefit_scheme")
        number = (cleaned.get("benefit_number") or "").replace(" ", "").upper()
        if scheme == BenefitScheme.NONE:
            number = ""
        elif scheme and not number:
            self.add_error("benefit_number", "Indiquez votre numéro d'allocataire.")
        elif number and not number.isalnum():
            self.add_error("benefit_number", "Le numéro d'allocataire ne contient que des chiffres et des lettres.")
        cleaned["benefit_number"] = number
        return cleaned


class StaffHouseholdForm(HouseholdBenefitForm):
    class Meta(HouseholdBenefitForm.Meta):
        fields = BENEFIT_FIELDS + ["staff_notes"]


class FamilyQuotientForm(RecordForm):
    class Meta:
        model = FamilyQuotient
        fields = QUOTIENT_FIELDS
        widgets = {"valid_from": DateInput(), "valid_until": DateInput()}

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("valid_from"), cleaned.get("valid_until")
        if start and end and end < start:
            self.add_error("valid_until", "La fin de validité doit suivre le début.")
        return cleaned

    def _post_clean(self):
        # The database check constraint would repeat our clearer message above.
        if "valid_until" in self.errors:
            return
        super()._post_clean()


class MessageForm(forms.Form):
    """An optional note a family adds to a request."""

    message = forms.CharField(
        label="Message pour la Mairie (facultatif)",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RefusalForm(forms.Form):
    reason = forms.CharField(
        label="Motif du refus (envoyé à la famille)", max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )


class HouseholdSearchForm(forms.Form):
    q = forms.CharField(
        label="Rechercher un foyer",
        required=False,
        max_length=100,
        help_text="Référence, nom d'un responsable ou d'un enfant, e-mail ou téléphone.",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    status = forms.ChoiceField(label="État", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Tous")] + list(HouseholdStatus.choices)
