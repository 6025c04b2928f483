import re

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.utils import timezone

from portail.households.models import Civility, Sex

from .models import User

PASSWORD_HELP = (
    "Au moins 12 caractères, sans autre contrainte : une phrase facile à retenir convient très bien "
    "(par exemple trois ou quatre mots au hasard). Les mots de passe trop courants sont refusés."
)
_PHONE = re.compile(r"^\+?[0-9 .\-()]{10,20}$")
_POSTCODE = re.compile(r"^\d{5}$")


class EmailLoginForm(forms.Form):
    email = forms.EmailField(label="Adresse e-mail", widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        label="Mot de passe", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class CodeLoginForm(forms.Form):
    _attrs = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false", "class": "code-input"}
    child_code = forms.CharField(
        label="Code enfant", max_length=40, widget=forms.TextInput(attrs=_attrs), help_text="Par exemple : K7QM-3XRD"
    )
    payer_code = forms.CharField(label="Code payeur", max_length=40, widget=forms.TextInput(attrs=_attrs))


class LoginEmailForm(forms.Form):
    """Staff change the address a guardian logs in with."""

    email = forms.EmailField(label="Nouvelle adresse e-mail de connexion")


def _check_phone(value: str) -> str:
    value = value.strip()
    if value and (not _PHONE.match(value) or sum(c.isdigit() for c in value) < 10):
        raise forms.ValidationError("Saisissez un numéro de téléphone à 10 chiffres, par exemple 06 12 34 56 78.")
    return value


class SignupForm(forms.Form):
    """The payer's identity, contact details and password. Children come in ChildFormSet."""

    civility = forms.ChoiceField(label="Civilité", choices=[("", "Choisir…"), *Civility.choices])
    first_name = forms.CharField(
        label="Prénom", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        label="Nom", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    relationship = forms.CharField(
        label="Lien avec les enfants", max_length=40, required=False, help_text="Par exemple : mère, père, tuteur."
    )
    email = forms.EmailField(
        label="Adresse e-mail",
        help_text="Elle vous servira à vous connecter et à recevoir les messages de la Mairie.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    mobile_phone = forms.CharField(
        label="Téléphone portable", max_length=20, widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"})
    )
    address_line1 = forms.CharField(
        label="Adresse", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "address-line1"})
    )
    address_line2 = forms.CharField(
        label="Complément d'adresse",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    postcode = forms.CharField(
        label="Code postal",
        max_length=5,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric"}),
    )
    city = forms.CharField(
        label="Ville", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "address-level2"})
    )
    password1 = forms.CharField(
        label="Mot de passe",
        strip=False,
        help_text=PASSWORD_HELP,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Confirmation du mot de passe",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    PASSWORD_FIELDS = ("password1", "password2")

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "Un compte existe déjà avec cette adresse e-mail. Connectez-vous ou utilisez « Mot de passe oublié ? »."
            )
        return email

    def clean_mobile_phone(self):
        return _check_phone(self.cleaned_data["mobile_phone"])

    def clean_postcode(self):
        value = self.cleaned_data["postcode"].strip()
        if not _POSTCODE.match(value):
            raise forms.ValidationError("Le code postal comporte 5 chiffres.")
        return value

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "Les deux mots de passe ne sont pas identiques.")
        elif password1:
            user = User(
                email=cleaned.get("email"),
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
            try:
                validate_password(password1, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned

    def payer_data(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k not in self.PASSWORD_FIELDS}


class ChildSignupForm(forms.Form):
    first_name = forms.CharField(label="Prénom de l'enfant", max_length=100)
    last_name = forms.CharField(label="Nom de l'enfant", max_length=100)
    birth_date = forms.DateField(
        label="Date de naissance", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    sex = forms.ChoiceField(label="Sexe", choices=[("", "Choisir…"), *Sex.choices])

    def clean_birth_date(self):
        value = self.cleaned_data["birth_date"]
        today = timezone.localdate()
        if value > today:
            raise forms.ValidationError("La date de naissance ne peut pas être dans le futur.")
        age = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
        if age >= 18:
            raise forms.ValidationError("Le portail concerne les enfants de moins de 18 ans.")
        return value


MAX_CHILDREN = 4


class BaseChildFormSet(forms.BaseFormSet):
    def __init__(self, *args, **kwargs):
        # Every row may stay empty (children are optional); a row partly filled is checked.
        kwargs.setdefault("form_kwargs", {})["empty_permitted"] = True
        kwargs.setdefault("prefix", "enfants")
        super().__init__(*args, **kwargs)

    def children(self) -> list[dict]:
        return [form.cleaned_data for form in self.forms if form.has_changed() and form.cleaned_data]


ChildFormSet = forms.formset_factory(
    ChildSignupForm, formset=BaseChildFormSet, extra=1, max_num=MAX_CHILDREN, validate_max=True
)
