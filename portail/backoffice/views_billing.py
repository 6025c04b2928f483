"""Staff invoicing pages ("gestion/facturation/…", "gestion/factures/…"): the monthly runs (new run
form → preview with its errors → "Émettre les factures" → the run's result), the invoices (filters
régie, month, household) and one invoice (lines, payments, credit notes, "Faire un avoir"), a
household's invoices and its one-off invoice ("Facture ponctuelle").

Reading needs payments.view_payment (Gestionnaire, Régisseur, Administrateur); issuing invoices,
credit notes and one-off invoices needs payments.change_payment (Régisseur, Administrateur).
Views parse, call one service (billing.invoicing / billing.credit_notes), render; the services decide.
staff_required is the outermost decorator so families and anonymous visitors get 403/login first.
"""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portail.billing import credit_notes, invoicing, selectors
from portail.billing.billable_items import pending_presences
from portail.billing.errors import BillingError
from portail.billing.models import Invoice, InvoicingRun, RunStatus
from portail.catalog.models import Activity
from portail.catalog.wording import format_euros
from portail.households import selectors as household_selectors
from portail.payments import offline
from portail.payments.errors import PaymentError
from portail.payments.models import Regie
from portail.payments.selectors import household_account
from portail.payments.staff_forms import DATE_INPUT, AmountField

from .decorators import staff_required

VIEW = "payments.view_payment"
CHANGE = "payments.change_payment"
HOUSEHOLD = "households.view_household"
DEFAULT_DUE_DAYS = 30
PREVIEW_ROWS = 300
RUN_BADGES = {RunStatus.DONE: "accepted", RunStatus.FAILED: "refused", RunStatus.RUNNING: "pending"}


# --- forms -----------------------------------------------------------------------------------------


class MonthField(forms.CharField):
    """A month typed "AAAA-MM" (the browser's month picker sends that), cleaned to its first day."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "AAAA-MM", "pattern": r"\d{4}-\d{2}"})

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return None
        try:
            return invoicing.month_start(value)
        except BillingError as error:
            raise forms.ValidationError(error.message, code=error.code) from error


def _regie_field():
    return forms.ModelChoiceField(
        label="Régie",
        queryset=Regie.objects.none(),
        empty_label="Choisissez…",
        error_messages={"required": "Choisissez la régie."},
    )


def _offer_active_regies(form, *, preselect_single=False) -> None:
    """The active régies in the form's "regie" choice; on a new form, the only one preselected if asked."""
    form.fields["regie"].queryset = Regie.objects.filter(is_active=True).order_by("name")
    if preselect_single and not form.is_bound:
        regies = list(form.fields["regie"].queryset[:2])
        if len(regies) == 1:
            form.initial.setdefault("regie", regies[0].pk)


class RunForm(forms.Form):
    regie = _regie_field()
    mois = MonthField(label="Mois facturé", help_text="AAAA-MM, par exemple 2026-11.")
    emission = forms.DateField(
        label="Date d'émission", widget=DATE_INPUT, error_messages={"required": "Indiquez la date d'émission."}
    )
    echeance = forms.DateField(
        label="À payer avant le", widget=DATE_INPUT, error_messages={"required": "Indiquez la date limite de paiement."}
    )

    def __init__(self, data=None, **kwargs):
        today = timezone.localdate()
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("emission", today)
        kwargs["initial"].setdefault("echeance", today + timedelta(days=DEFAULT_DUE_DAYS))
        kwargs["initial"].setdefault("mois", f"{(today.replace(day=1) - timedelta(days=1)):%Y-%m}")
        super().__init__(data, **kwargs)
        _offer_active_regies(self, preselect_single=True)

    def clean(self):
        data = super().clean()
        regie, issued_on, due_date = data.get("regie"), data.get("emission"), data.get("echeance")
        if regie and issued_on and due_date:
            try:
                invoicing.check_issue_dates(regie, issued_on, due_date)
            except BillingError as error:
                field = "echeance" if error.code == "due_before_issue" else "emission"
                self.add_error(field, error.message)
        return data

    def params(self) -> str:
        data = self.cleaned_data
        return urlencode(
            {
                "regie": data["regie"].pk,
                "mois": f"{data['mois']:%Y-%m}",
                "emission": data["emission"].isoformat(),
                "echeance": data["echeance"].isoformat(),
            }
        )


class InvoiceFilterForm(forms.Form):
    regie = forms.ModelChoiceField(label="Régie", queryset=Regie.objects.none(), required=False, empty_label="Toutes")
    mois = MonthField(label="Mois facturé", required=False)
    foyer = forms.CharField(
        label="Foyer", required=False, max_length=100, help_text="Référence du foyer, nom du payeur ou n° de facture."
    )

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["regie"].queryset = Regie.objects.order_by("name")

    def filters(self) -> dict:
        if self.is_bound:
            self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {"regie": data.get("regie"), "month": data.get("mois"), "text": (data.get("foyer") or "").strip()}


class CreditNoteForm(forms.Form):
    """Credit an amount, or some lines (one amount field per invoice line, `ligne_<id>`)."""

    motif = forms.CharField(
        label="Motif de l'avoir",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Absence justifiée, erreur de facturation, réservation annulée…",
        error_messages={"required": "Indiquez le motif de l'avoir."},
    )
    montant = AmountField(
        label="Montant de l'avoir (€)",
        required=False,
        help_text="Pour un avoir global. Laissez vide si vous créditez des lignes ci-dessous.",
    )

    def __init__(self, data=None, *, invoice, **kwargs):
        super().__init__(data, **kwargs)
        self.line_fields = []
        for line in invoice.lines.all():
            name = f"ligne_{line.pk}"
            self.fields[name] = AmountField(
                label=f"{line.child_name + ' – ' if line.child_name else ''}{line.label}",
                required=False,
                help_text=f"Montant de la ligne : {format_euros(line.amount_cents)}.",
            )
            self.line_fields.append((line, name))

    def bound_line_fields(self):
        return [self[name] for _line, name in self.line_fields]

    def clean(self):
        data = super().clean()
        lines = [(line, data[name]) for line, name in self.line_fields if data.get(name)]
        if lines and data.get("montant"):
            raise forms.ValidationError("Indiquez soit un montant global, soit des montants par ligne, pas les deux.")
        if not lines and not data.get("montant") and not self.errors:
            raise forms.ValidationError("Indiquez le montant de l'avoir, ou les montants à créditer par ligne.")
        data["lines"] = lines
        return data


class CreditRefundForm(forms.Form):
    """Credit handed back to the family by a mandat (trop-perçu, avoir not to be used)."""

    regie = _regie_field()
    montant = AmountField(label="Montant remboursé (€)", error_messages={"required": "Indiquez le montant."})
    motif = forms.CharField(
        label="Motif et référence du mandat",
        max_length=200,
        help_text="Par exemple : trop-perçu de mars, mandat n° 2026-0412. Le remboursement lui-même passe par un "
        "mandat de l'ordonnateur ; le portail retire la somme du crédit du foyer.",
        error_messages={"required": "Indiquez le motif et la référence du mandat."},
    )

    ERROR_FIELDS = {"bad_amount": "montant", "not_enough_credit": "montant", "reason_required": "motif"}

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        _offer_active_regies(self)


class OneOffForm(forms.Form):
    regie = _regie_field()
    libelle = forms.CharField(
        label="Libellé de la ligne", max_length=250, error_messages={"required": "Indiquez le libellé de la ligne."}
    )
    montant = AmountField(label="Montant (€)", error_messages={"required": "Indiquez le montant."})
    enfant = forms.ModelChoiceField(label="Enfant concerné", queryset=None, required=False, empty_label="Aucun")
    activite = forms.ModelChoiceField(
        label="Activité concernée",
        queryset=Activity.objects.none(),
        required=False,
        empty_label="Aucune",
        help_text="L'attestation fiscale indique la nature de la garde d'après l'activité.",
    )
    garde = forms.BooleanField(
        label="Frais de garde (compte dans l'attestation fiscale)",
        required=False,
        help_text=(
            "À cocher pour la garde de l'enfant concerné (accueil périscolaire, accueil de loisirs, crèche), "
            "par exemple une régularisation : la ligne compte alors dans l'attestation fiscale des enfants de "
            "moins de 6 ans. Pas pour un repas, une pénalité ou une sortie. Choisissez l'enfant."
        ),
    )
    date = forms.DateField(label="Date de la prestation", widget=DATE_INPUT, required=False)
    echeance = forms.DateField(
        label="À payer avant le", widget=DATE_INPUT, error_messages={"required": "Indiquez la date limite de paiement."}
    )

    def __init__(self, data=None, *, household, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("echeance", timezone.localdate() + timedelta(days=DEFAULT_DUE_DAYS))
        super().__init__(data, **kwargs)
        _offer_active_regies(self, preselect_single=True)
        self.fields["enfant"].queryset = household.children.order_by("birth_date", "first_name")
        self.fields["activite"].queryset = Activity.objects.order_by("name")

    ERROR_FIELDS = {
        "bad_amount": "montant",
        "label_missing": "libelle",
        "label_too_long": "libelle",
        "due_before_issue": "echeance",
        "child_elsewhere": "enfant",
        "childcare_without_child": "enfant",
    }

    def add_refusal(self, error: BillingError) -> None:
        self.add_error(self.ERROR_FIELDS.get(error.code), error.message)


# --- runs --------------------------------------------------------------------------------------------


def _badge(run) -> str:
    return RUN_BADGES.get(run.status, "pending")


@staff_required(VIEW)
@require_GET
def run_list(request):
    runs = InvoicingRun.objects.select_related("regie", "created_by").order_by("-created_at", "-pk")
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    for run in page.object_list:
        run.badge = _badge(run)
    return render(
        request,
        "backoffice/billing/runs.html",
        {"page": page, "params": "", "can_issue": request.user.has_perm(CHANGE)},
    )


@staff_required(VIEW, CHANGE)
@require_GET
def run_new(request):
    return render(request, "backoffice/billing/run_form.html", {"form": RunForm()})


@staff_required(VIEW, CHANGE)
@require_GET
@never_cache
def run_preview(request):
    form = RunForm(request.GET)
    if not form.is_valid():
        return render(request, "backoffice/billing/run_form.html", {"form": form})
    data = form.cleaned_data
    preview = invoicing.preview_month(data["regie"], data["mois"])
    return render(
        request,
        "backoffice/billing/preview.html",
        {
            "form": form,
            "data": data,
            "preview": preview,
            "month_label": invoicing.month_label(data["mois"]),
            "shown": preview.households[:PREVIEW_ROWS],
            "hidden_count": max(0, len(preview.households) - PREVIEW_ROWS),
            "params": form.params(),
        },
    )


@staff_required(VIEW, CHANGE)
@require_POST
def run_issue(request):
    form = RunForm(request.POST)
    if not form.is_valid():
        return render(request, "backoffice/billing/run_form.html", {"form": form})
    data = form.cleaned_data
    try:
        run = invoicing.run_month(
            data["regie"], data["mois"], issued_on=data["emission"], due_date=data["echeance"], actor=request.user
        )
    except BillingError as refusal:
        messages.error(request, refusal.message)
        return redirect(f"{reverse('backoffice:billing_run_preview')}?{form.params()}")
    if run.created:
        messages.success(
            request,
            f"{run.created} facture{'s' if run.created > 1 else ''} émise{'s' if run.created > 1 else ''} "
            f"pour {format_euros(run.created_total_cents)}.",
        )
    else:
        messages.info(request, "Aucune nouvelle facture : tous les foyers de ce mois sont déjà facturés.")
    if run.errors:
        messages.warning(request, f"{len(run.errors)} erreur(s) : les foyers concernés n'ont pas été facturés.")
    return redirect("backoffice:billing_run_detail", run.pk)


@staff_required(VIEW)
@require_GET
def run_detail(request, run_id):
    run = get_object_or_404(InvoicingRun.objects.select_related("regie", "created_by"), pk=run_id)
    run.badge = _badge(run)
    invoices = selectors.with_amounts(run.invoices.select_related("household")).order_by("number")
    page = Paginator(invoices, 50).get_page(request.GET.get("page"))
    today = timezone.localdate()
    rerun = request.user.has_perm(CHANGE) and bool(run.errors or run.status != RunStatus.DONE)
    return render(
        request,
        "backoffice/billing/run_detail.html",
        {
            "run": run,
            "page": page,
            "params": "",
            "month_label": invoicing.month_label(run.month),
            "rerun_params": urlencode(
                {
                    "regie": run.regie_id,
                    "mois": f"{run.month:%Y-%m}",
                    "emission": today.isoformat(),
                    "echeance": (today + timedelta(days=DEFAULT_DUE_DAYS)).isoformat(),
                }
            )
            if rerun
            else "",
        },
    )


# --- invoices ----------------------------------------------------------------------------------------


def _invoices(regie=None, month=None, text=""):
    invoices = Invoice.objects.select_related("regie", "household")
    if regie is not None:
        invoices = invoices.filter(regie=regie)
    if month is not None:
        invoices = invoices.filter(month=month)
    if text:
        invoices = invoices.filter(
            Q(household__reference__iexact=text)
            | Q(number__iexact=text)
            | Q(household__guardians__last_name__icontains=text)
        ).distinct()
    return selectors.with_amounts(invoices).order_by("-issued_at", "-number")


@staff_required(VIEW)
@require_GET
def invoice_list(request):
    form = InvoiceFilterForm(request.GET or None)
    page = Paginator(_invoices(**form.filters()), 50).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "backoffice/billing/invoices.html",
        {"form": form, "page": page, "params": params.urlencode(), "can_issue": request.user.has_perm(CHANGE)},
    )


def _can_credit(user, invoice) -> bool:
    return user.has_perm(CHANGE) and invoice.transferred_at is None and invoice.credited_cents < invoice.total_cents


def _invoice_page(request, invoice, credit_form=None, status=200):
    can_credit = _can_credit(request.user, invoice)
    if can_credit and credit_form is None:
        credit_form = CreditNoteForm(invoice=invoice, auto_id="avoir_%s")
    return render(
        request,
        "backoffice/billing/invoice_detail.html",
        {
            "invoice": invoice,
            "household": invoice.household,
            "lines": list(invoice.lines.all()),
            "allocations": invoice.paid_allocations,
            "credit_notes": list(invoice.credit_notes.all()),
            "due": selectors.invoice_due_cents(invoice),
            "creditable": max(0, invoice.total_cents - invoice.credited_cents),
            "can_credit": can_credit,
            "credit_form": credit_form if can_credit else None,
        },
        status=status,
    )


@staff_required(VIEW)
@require_GET
def invoice_detail(request, invoice_id):
    return _invoice_page(request, selectors.staff_invoice(invoice_id))


@staff_required(VIEW, CHANGE)
@require_POST
def credit_note_new(request, invoice_id):
    invoice = selectors.staff_invoice(invoice_id)
    form = CreditNoteForm(request.POST, invoice=invoice, auto_id="avoir_%s")
    if form.is_valid():
        data = form.cleaned_data
        try:
            note = credit_notes.issue_credit_note(
                invoice=invoice,
                reason=data["motif"],
                actor=request.user,
                lines=data["lines"] or None,
                amount_cents=None if data["lines"] else data["montant"],
            )
        except BillingError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(
                request,
                f"Avoir n° {note.number} émis ({format_euros(note.total_cents)})"
                + (f", dont {format_euros(note.applied_cents)} déduits de la facture" if note.applied_cents else "")
                + ". Le reste éventuel est un crédit du foyer, déduit de sa prochaine facture.",
            )
            return redirect("backoffice:billing_invoice_detail", invoice.pk)
    return _invoice_page(request, invoice, credit_form=form, status=400)


# --- a household's invoices and its one-off invoice -------------------------------------------------


@staff_required(HOUSEHOLD, VIEW)
@require_GET
def household_invoices(request, household_id):
    household = household_selectors.staff_household(household_id)
    invoices = list(selectors.household_invoices(household))
    account = household_account(household, with_payments=False)
    return render(
        request,
        "backoffice/billing/household_invoices.html",
        {
            "household": household,
            "invoices": invoices,
            "due": account.due_cents,
            "credit": account.credit_cents,
            "can_issue": request.user.has_perm(CHANGE),
            "presences": list(pending_presences(household)),
            "refund_form": CreditRefundForm() if account.credit_cents > 0 else None,
        },
    )


@staff_required(HOUSEHOLD, VIEW, CHANGE)
@require_POST
def credit_refund(request, household_id):
    household = household_selectors.staff_household(household_id)
    form = CreditRefundForm(request.POST)
    back = redirect("backoffice:billing_household_invoices", household.pk)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return back
    data = form.cleaned_data
    try:
        offline.refund_credit(
            household=household,
            regie=data["regie"],
            amount_cents=data["montant"],
            actor=request.user,
            reason=data["motif"],
        )
    except PaymentError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Crédit remboursé : {format_euros(data['montant'])} ({data['regie'].name}).")
    return back


@staff_required(HOUSEHOLD, VIEW, CHANGE)
@never_cache
def one_off_invoice(request, household_id):
    household = household_selectors.staff_household(household_id)
    form = OneOffForm(request.POST if request.method == "POST" else None, household=household)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invoice = invoicing.issue_one_off_invoice(
                regie=data["regie"],
                household=household,
                label=data["libelle"],
                amount_cents=data["montant"],
                actor=request.user,
                due_date=data["echeance"],
                child=data["enfant"],
                service_date=data["date"],
                childcare=data["garde"],
                activity=data.get("activite"),
            )
        except BillingError as refusal:
            form.add_refusal(refusal)
        else:
            messages.success(request, f"Facture ponctuelle n° {invoice.number} émise.")
            return redirect("backoffice:billing_invoice_detail", invoice.pk)
    return render(
        request,
        "backoffice/billing/one_off.html",
        {"household": household, "form": form, "guardians": list(household.guardians.order_by("-is_payer", "pk"))},
    )
