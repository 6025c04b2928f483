"""Staff payment forms: the payment list filters (GET), a desk payment, a refund, an incident's
resolution, a régie's settings.

No money rule lives here: the forms parse the input (French amounts included), the services in
offline.py decide and refuse with their own messages.
"""

import re
import uuid

from django import forms
from django.utils import timezone
from django.utils.html import conditional_escape

from portail.catalog.models import Activity, ActivityType
from portail.catalog.wording import format_euros

from .errors import PaymentError
from .models import OFFLINE_MEANS, Backend, Means, PaymentStatus, Regie
from .offline import parse_amount_cents

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def backend_parameters(backend: str) -> list[dict]:
    """The settings an online backend needs: [{"name", "label", "required", "secret"}].

    Read from payments.backends (the eopayment adapter); none when the régie takes no online
    payment or the adapter is not installed."""
    if not backend:
        return []
    try:
        from .backends import backend_parameters as parameters
    except ImportError:
        return []
    return list(parameters(backend))


# --- the payment list -----------------------------------------------------------------------------


class PaymentFilterForm(forms.Form):
    """Filters of the payment list and of its CSV journal (GET: works without JavaScript)."""

    regie = forms.ModelChoiceField(label="Régie", queryset=Regie.objects.none(), required=False, empty_label="Toutes")
    moyen = forms.ChoiceField(label="Moyen de paiement", choices=[("", "Tous")] + list(Means.choices), required=False)
    etat = forms.ChoiceField(label="État", choices=[("", "Tous")] + list(PaymentStatus.choices), required=False)
    du = forms.DateField(label="Du", required=False, widget=DATE_INPUT)
    au = forms.DateField(label="Au (inclus)", required=False, widget=DATE_INPUT)
    foyer = forms.CharField(
        label="Foyer", required=False, max_length=100, help_text="Référence du foyer ou nom d'un responsable."
    )

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["regie"].queryset = Regie.objects.order_by("name")

    def clean(self):
        data = super().clean()
        start, end = data.get("du"), data.get("au")
        if start and end and end < start:
            self.add_error("au", "La date de fin doit être égale ou postérieure à la date de début.")
        return data

    def filters(self) -> dict:
        """The valid filters only: a wrong one is reported by the form and ignored."""
        if self.is_bound:
            self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "regie": data.get("regie"),
            "means": data.get("moyen") or "",
            "status": data.get("etat") or "",
            "start": data.get("du"),
            "end": data.get("au"),
            "household": (data.get("foyer") or "").strip(),
        }


# --- a desk payment -------------------------------------------------------------------------------


class AmountField(forms.CharField):
    """Euros typed the French way ("27,40"), cleaned to integer cents (Decimal, never float)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs.update({"inputmode": "decimal", "autocomplete": "off", "pattern": r"[0-9 ]+([,.][0-9]{1,2})?"})
        return attrs

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return None
        try:
            return parse_amount_cents(value)
        except PaymentError as error:
            raise forms.ValidationError(error.message, code=error.code) from error


class RegieChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        means = ", ".join(Means(m).label.lower() for m in obj.accepted_means if m in OFFLINE_MEANS)
        return f"{obj.name} ({means or 'aucun moyen au guichet'})"


class DeskPaymentForm(forms.Form):
    regie = RegieChoiceField(
        label="Régie",
        queryset=Regie.objects.none(),
        empty_label="Choisissez…",
        error_messages={"required": "Choisissez la régie qui encaisse."},
    )
    moyen = forms.ChoiceField(
        label="Moyen de paiement",
        choices=[("", "Choisissez…")] + [(m.value, m.label) for m in OFFLINE_MEANS],
        error_messages={"required": "Choisissez le moyen de paiement."},
    )
    montant = AmountField(
        label="Montant (€)",
        help_text="Par exemple 27,40. En espèces : moins de 300 €.",
        error_messages={"required": "Indiquez le montant reçu."},
    )
    date = forms.DateField(
        label="Date du paiement", widget=DATE_INPUT, error_messages={"required": "Indiquez la date du paiement."}
    )
    banque = forms.CharField(label="Banque du chèque", required=False, max_length=100)
    numero = forms.CharField(
        label="N° du chèque ou référence",
        required=False,
        max_length=100,
        help_text="Numéro du chèque, référence du virement ou du ticket de carte bancaire.",
    )
    tireur = forms.CharField(
        label="Tireur / payeur", required=False, max_length=150, help_text="Si ce n'est pas un responsable du foyer."
    )
    cesu = forms.CharField(
        label="Titres CESU",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Numéros, émetteur, millésime et valeur des titres.",
    )
    note = forms.CharField(label="Remarque", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    factures = forms.TypedMultipleChoiceField(
        label="Factures réglées par ce paiement",
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="Le paiement règle les factures cochées, de la plus ancienne à la plus récente ; "
        "ce qui dépasse reste un crédit du foyer.",
        error_messages={"invalid_choice": "Cette facture n'est plus à payer : rechargez la page."},
    )
    jeton = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    # Which field shows each refusal of the service.
    ERROR_FIELDS = {
        "bad_amount": "montant",
        "cash_ceiling": "montant",
        "means_refused": "moyen",
        "means_online": "moyen",
        "means_unknown": "moyen",
        "regie_inactive": "regie",
        "cheque_incomplete": "numero",
        "cesu_details": "cesu",
        "future_date": "date",
        "other_regie": "factures",
        "already_paid": "factures",
        "transferred": "factures",
        "direct_debit": "factures",
        "locked": "factures",
        "several_regies": "factures",
        "not_yours": "factures",
    }

    def __init__(self, data=None, *, household=None, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("date", timezone.localdate())
        kwargs["initial"].setdefault("jeton", uuid.uuid4().hex)
        super().__init__(data, **kwargs)
        regies = Regie.objects.filter(is_active=True).order_by("name")
        self.fields["regie"].queryset = regies
        self.fields["factures"].choices = _open_invoice_choices(household)
        if not self.fields["factures"].choices:
            del self.fields["factures"]
        if not self.is_bound:
            only = list(regies[:2])
            if len(only) == 1:
                self.initial.setdefault("regie", only[0].pk)

    def add_refusal(self, error: PaymentError) -> None:
        self.add_error(self.ERROR_FIELDS.get(error.code), error.message)

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "regie": data["regie"],
            "means": data["moyen"],
            "amount_cents": data["montant"],
            "reference": data["numero"],
            "cheque_bank": data["banque"],
            "drawer": data["tireur"],
            "cesu_details": data["cesu"],
            "note": data["note"],
            "paid_on": data["date"],
            "idempotency_key": data.get("jeton") or "",
            "invoice_ids": data.get("factures") or (),
        }


def _open_invoice_choices(household) -> list[tuple[int, str]]:
    """The household's invoices still to pay at the desk (not transferred to the Trésor), oldest first."""
    if household is None:
        return []
    from portail.billing.selectors import household_invoices

    invoices = household_invoices(household).filter(transferred_at__isnull=True).order_by("issued_at", "number")
    return [
        (
            invoice.pk,
            f"n° {invoice.number} du {timezone.localtime(invoice.issued_at):%d/%m/%Y} – reste {format_euros(invoice.due_cents)}"
            f" sur {format_euros(invoice.total_cents)} ({invoice.regie.name})",
        )
        for invoice in invoices
        if invoice.due_cents > 0
    ]


class RefundForm(forms.Form):
    reason = forms.CharField(
        label="Motif du remboursement ou de l'annulation",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Indiquez le motif du remboursement ou de l'annulation."},
    )


class ResolveIncidentForm(forms.Form):
    resolution = forms.CharField(
        label="Suite donnée",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Indiquez la suite donnée à l'incident."},
    )


# --- a régie's settings ---------------------------------------------------------------------------


class ActivityChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.facility.name} – {obj.name}"


class RegieForm(forms.ModelForm):
    """A régie's settings. The online backend's options are fields `option_<name>`, built from
    backend_parameters() for the backend chosen; a secret option is never shown back (an empty
    field keeps the stored value). When the backend changes, the new options are shown first and
    the form asks to complete them before saving."""

    accepted_means = forms.MultipleChoiceField(
        label="Moyens de paiement acceptés",
        choices=[(m.value, m.label) for m in Means if m != Means.CREDIT_NOTE],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Uniquement ceux que l'acte constitutif de la régie autorise.",
    )
    activities = ActivityChoices(
        label="Activités encaissées",
        queryset=Activity.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Une activité n'est encaissée que par une seule régie.",
    )
    cesu_accepted_for = forms.ModelMultipleChoiceField(
        label="Types d'activité payables en CESU",
        queryset=ActivityType.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Garde périscolaire, accueil de loisirs des moins de 6 ans… selon la délibération.",
    )
    options_backend = forms.CharField(widget=forms.HiddenInput, required=False)
    # Typed with spaces as printed on a RIB: longer than the stored (compact) value.
    sepa_ics = forms.CharField(
        label="Identifiant créancier SEPA (ICS)",
        max_length=50,
        required=False,
        help_text="Attribué par la Banque de France, ex. FR72ZZZ123456.",
    )
    sepa_iban = forms.CharField(
        label="IBAN du compte de la régie (DFT)",
        max_length=50,
        required=False,
        help_text="Ex. FR76 3000 1007 9412 3456 7890 185 : la clé RIB est vérifiée.",
    )
    sepa_bic = forms.CharField(
        label="BIC du compte de la régie", max_length=20, required=False, help_text="8 ou 11 caractères."
    )

    MENTION_FIELDS = ("issuer_name", "issuer_quality")
    SEPA_FIELDS = ("sepa_creditor_name", "sepa_ics", "sepa_iban", "sepa_bic")

    class Meta:
        model = Regie
        fields = [
            "name",
            "code",
            "is_active",
            "contact",
            "activities",
            "accepted_means",
            "cesu_accepted_for",
            "receipt_prefix",
            "backend",
            "test_mode",
            "lock_minutes",
            "hold_minutes",
            "issuer_name",
            "issuer_quality",
            "sepa_creditor_name",
            "sepa_ics",
            "sepa_iban",
            "sepa_bic",
        ]

    def __init__(self, data=None, *, instance, **kwargs):
        posted = ""
        if data is not None:
            data = data.copy()
            posted = data.get("options_backend", "")
        choice = (data.get("backend", "") if data is not None else instance.backend) or ""
        if choice not in Backend.values:
            choice = ""
        if data is not None:
            # The hidden field now names the backend whose options this page shows.
            data["options_backend"] = choice
        super().__init__(data, instance=instance, **kwargs)
        self.fields["activities"].queryset = Activity.objects.select_related("facility").order_by(
            "facility__name", "name"
        )
        self.fields["cesu_accepted_for"].queryset = ActivityType.objects.order_by("position", "name")
        self.initial["options_backend"] = choice
        self.backend_choice = choice
        self.backend_switched = data is not None and posted != choice
        self.stored_options = dict(instance.backend_options or {}) if instance.backend == choice else {}
        self.parameters = backend_parameters(choice)
        self.secret_names = {p["name"] for p in self.parameters if p.get("secret")}
        self.secret_names |= {p["name"] for p in backend_parameters(instance.backend) if p.get("secret")}
        self.option_names = []
        for parameter in self.parameters:
            self._add_option_field(parameter)

    def _add_option_field(self, parameter: dict) -> None:
        name = parameter["name"]
        stored = self.stored_options.get(name)
        has_value = stored not in (None, "")
        required = bool(parameter.get("required")) and not self.backend_switched
        label = parameter.get("label") or name
        # help_text is shown unescaped by includes/field.html: escape what the adapter gives.
        help_text = conditional_escape(parameter.get("help_text") or "")
        if parameter.get("secret"):
            if has_value:
                help_text = f"{help_text} Une valeur est enregistrée : laissez vide pour la conserver.".strip()
            field = forms.CharField(
                label=label,
                required=required and not has_value,
                max_length=500,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text=help_text,
            )
        elif parameter.get("choices"):
            choices = [(str(value), text) for value, text in parameter["choices"]]
            field = forms.ChoiceField(
                label=label,
                required=required,
                choices=choices if required else [("", "— Valeur par défaut —"), *choices],
                initial="" if stored is None else str(stored),
                help_text=help_text,
            )
        else:
            field = forms.CharField(
                label=label,
                required=required,
                max_length=500,
                initial="" if stored is None else str(stored),
                help_text=help_text,
            )
        field.error_messages["required"] = "Ce paramètre est obligatoire pour ce mode de paiement en ligne."
        field.pattern = parameter.get("pattern") or ""
        field.hint = parameter.get("help_text") or ""
        self.fields[f"option_{name}"] = field
        self.option_names.append(name)

    def _check_options(self, data) -> None:
        """Each typed option matches its expected format; a production key exists before a
        régie leaves test mode (when the backend has one)."""
        for name in self.option_names:
            key = f"option_{name}"
            value = (data.get(key) or "").strip()
            pattern = self.fields[key].pattern
            if value and pattern and not re.fullmatch(pattern, value):
                self.add_error(key, f"Valeur au mauvais format. {self.fields[key].hint}".strip())
        if "secret_production" in self.option_names and not data.get("test_mode") and not self.backend_switched:
            typed = (data.get("option_secret_production") or "").strip()
            if not typed and self.stored_options.get("secret_production") in (None, ""):
                self.add_error(
                    "option_secret_production", "Indiquez la clé de production pour sortir la régie du mode test."
                )

    @property
    def backend_label(self) -> str:
        return dict(Backend.choices).get(self.backend_choice, "")

    @property
    def option_fields(self):
        return [self[f"option_{name}"] for name in self.option_names]

    @property
    def main_fields(self):
        grouped = {*self.MENTION_FIELDS, *self.SEPA_FIELDS}
        return [
            field
            for field in self.visible_fields()
            if not field.name.startswith("option_") and field.name not in grouped
        ]

    @property
    def mention_fields(self):
        return [self[name] for name in self.MENTION_FIELDS]

    @property
    def sepa_fields(self):
        return [self[name] for name in self.SEPA_FIELDS]

    # Stored compact and upper-case; the model's validators (billing.sepa checks) then judge them.
    def _compact(self, name) -> str:
        return re.sub(r"[\s-]+", "", self.cleaned_data.get(name) or "").upper()

    def clean_sepa_ics(self):
        return self._compact("sepa_ics")

    def clean_sepa_iban(self):
        return self._compact("sepa_iban")

    def clean_sepa_bic(self):
        return self._compact("sepa_bic")

    def clean(self):
        data = super().clean()
        means = data.get("accepted_means") or []
        backend = data.get("backend") or ""
        if Means.ONLINE in means and not backend:
            self.add_error(
                "accepted_means",
                "Pour accepter la carte bancaire en ligne, choisissez le mode de paiement en ligne de la régie.",
            )
        if backend == Backend.DUMMY and not data.get("test_mode"):
            self.add_error("test_mode", "La banque fictive ne sert qu'aux essais : laissez la régie en mode test.")
        self._check_options(data)
        if self.backend_switched and self.parameters:
            self.add_error(
                "backend",
                "Les paramètres de ce mode de paiement en ligne sont affichés plus bas : complétez-les, "
                "puis enregistrez de nouveau.",
            )
        activities = data.get("activities")
        if activities:
            taken = (
                Regie.activities.through.objects.filter(activity__in=activities)
                .exclude(regie_id=self.instance.pk)
                .values_list("activity__name", "regie__name")
                .order_by("activity__name")
            )
            for activity, regie in taken:
                self.add_error("activities", f"« {activity} » est déjà encaissée par la régie « {regie} ».")
        return data

    def new_options(self) -> dict:
        """The options to store: the chosen backend's only; an empty secret keeps the stored one;
        unknown stored keys of the same backend (set in the admin) are kept."""
        options = dict(self.stored_options)
        for name in self.option_names:
            value = (self.cleaned_data.get(f"option_{name}") or "").strip()
            stored = self.stored_options.get(name)
            if name in self.secret_names and not value and stored not in (None, ""):
                continue
            if not value:
                options.pop(name, None)
            elif stored is not None and str(stored) == value:
                options[name] = stored  # keep its type (a number or a boolean set in the admin)
            else:
                options[name] = value
        return options

    def save(self, commit=True):
        self.instance.accepted_means = [m for m in Means.values if m in (self.cleaned_data.get("accepted_means") or [])]
        self.instance.backend_options = self.new_options()
        return super().save(commit=commit)
