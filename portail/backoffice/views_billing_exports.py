"""Staff billing exports ("gestion/facturation/…") and SEPA mandates ("gestion/foyers/<id>/mandats/").

- Journals for the finance software: a régie's invoices and payments of a month, as CSV or XLSX
  (portail.billing.exports). Permission payments.view_payment.
- Direct debit: a régie, a collection date → preview of the invoices that can be debited (and why
  the others cannot) → the pain.008 file, generated once (portail.billing.sepa.generate_collection
  records it as a DirectDebitBatch). The files made: list, detail, download again (SHA-256
  checked), "encaissé" (one payment per debit) and "rejeté" per debit
  (portail.payments.direct_debits). Permissions payments.view_payment + change_payment.
- A household's mandates: list, create, revoke. Permission payments.change_payment.

Views parse, call one service, render; staff_required is the outermost decorator.
"""

import hashlib
import logging

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from portail.billing import exports, sepa
from portail.billing.models import Invoice, SepaMandate
from portail.core.models import Channel
from portail.households import selectors as household_selectors
from portail.payments import direct_debits
from portail.payments.errors import PaymentError
from portail.payments.models import DebitStatus, DirectDebit, DirectDebitBatch, Regie
from portail.payments.staff_forms import DATE_INPUT

from .decorators import staff_required

security_log = logging.getLogger("portail.security")

VIEW = "payments.view_payment"
CHANGE = "payments.change_payment"
FORMATS = ("csv", "xlsx")


def _regies():
    return Regie.objects.order_by("-is_active", "name")


class JournalForm(forms.Form):
    regie = forms.ModelChoiceField(label="Régie", queryset=Regie.objects.none(), empty_label=None)
    mois = forms.DateField(
        label="Mois",
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        help_text="Les factures émises et les paiements reçus ce mois-là (heure de Paris).",
        error_messages={"invalid": "Indiquez un mois (aaaa-mm)."},
    )

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["regie"].queryset = _regies()


class CollectionForm(forms.Form):
    regie = forms.ModelChoiceField(label="Régie", queryset=Regie.objects.none(), empty_label=None)
    date_prelevement = forms.DateField(
        label="Date de prélèvement",
        widget=DATE_INPUT,
        help_text=f"Au moins {sepa.PRE_NOTIFICATION_DAYS} jours après l'émission des factures (pré-notification).",
    )

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["regie"].queryset = _regies()


class MandateForm(forms.Form):
    regie = forms.ModelChoiceField(label="Régie (créancier)", queryset=Regie.objects.none(), empty_label=None)
    debtor_name = forms.CharField(label="Titulaire du compte", max_length=140)
    iban = forms.CharField(label="IBAN", max_length=50, help_text="Par exemple FR76 3000 1007 9412 3456 7890 185.")
    bic = forms.CharField(label="BIC", max_length=11, required=False, help_text="Facultatif.")
    rum = forms.CharField(
        label="RUM (référence unique du mandat)",
        max_length=35,
        required=False,
        help_text="Laissez vide pour qu'elle soit attribuée automatiquement.",
    )
    signed_on = forms.DateField(label="Date de signature", widget=DATE_INPUT)

    FIELD_OF_CODE = {"iban": "iban", "bic": "bic", "rum": "rum", "signed": "signed_on", "debtor": "debtor_name"}

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["regie"].queryset = Regie.objects.filter(is_active=True).order_by("name")

    def add_refusal(self, refusal) -> None:
        field = next((f for prefix, f in self.FIELD_OF_CODE.items() if refusal.code.startswith(prefix)), None)
        self.add_error(field, refusal.message)


# --- journals ------------------------------------------------------------------------------------


@staff_required(VIEW)
@require_GET
def billing_exports(request):
    form = JournalForm(request.GET or None, initial={"mois": timezone.localdate().replace(day=1)})
    summary = None
    if form.is_bound and form.is_valid():
        regie, month = form.cleaned_data["regie"], form.cleaned_data["mois"]
        invoices = exports.invoices_journal(regie, month)
        payments = exports.payments_journal(regie, month)
        summary = {
            "regie": regie,
            "month": month,
            "invoices": len(invoices),
            "invoiced_cents": sum(row[6] for row in invoices),
            "payments": len(payments),
            "received_cents": sum(row[5] for row in payments),
            "params": request.GET.urlencode(),
        }
    return render(request, "backoffice/billing_exports/journals.html", {"form": form, "summary": summary})


@staff_required(VIEW)
@require_GET
def billing_export_download(request, kind, fmt):
    if kind not in exports.JOURNALS or fmt not in FORMATS:
        raise Http404("Export inconnu")
    form = JournalForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Choisissez une régie et un mois pour exporter les journaux.")
        return redirect("backoffice:billing_exports")
    return exports.journal_response(kind, form.cleaned_data["regie"], form.cleaned_data["mois"], fmt)


# --- direct debit --------------------------------------------------------------------------------


@staff_required(VIEW, CHANGE)
def sepa_collection(request):
    data = request.POST if request.method == "POST" else (request.GET or None)
    form = CollectionForm(data)
    context = {"form": form, "preview": False, "pre_notification_days": sepa.PRE_NOTIFICATION_DAYS}
    if not (form.is_bound and form.is_valid()):
        return render(request, "backoffice/billing_exports/sepa.html", context)
    regie, collection_date = form.cleaned_data["regie"], form.cleaned_data["date_prelevement"]
    try:
        creditor = sepa.creditor_for(regie)
    except sepa.SepaError as refusal:
        creditor, context["creditor_error"] = None, refusal.message
    if request.method == "POST" and creditor is not None:
        chosen = {int(pk) for pk in request.POST.getlist("factures") if pk.isdigit()}
        invoices = Invoice.objects.filter(regie=regie, pk__in=chosen).select_related("household").order_by("number")
        try:
            batch = sepa.generate_collection(
                regie=regie, invoices=invoices, collection_date=collection_date, creditor=creditor, actor=request.user
            )
        except sepa.SepaError as refusal:
            context["problems"] = refusal.problems
        else:
            # The file is downloaded at once; it stays on the batch's page ("Fichiers de prélèvement").
            return _xml_response(batch.content, batch)
    ready, refused = sepa.collectable_invoices(regie, collection_date)
    context.update(
        {
            "preview": True,
            "regie": regie,
            "collection_date": collection_date,
            "creditor": creditor,
            "ready": ready,
            "refused": refused,
            "total_cents": sum(debit.amount_cents for debit in ready),
            "date_too_early": collection_date <= timezone.localdate(),
        }
    )
    return render(request, "backoffice/billing_exports/sepa.html", context)


# --- a household's mandates ----------------------------------------------------------------------


@staff_required(VIEW, CHANGE)
def household_mandates(request, household_id):
    household = household_selectors.staff_household(household_id)
    guardians = list(household.guardians.order_by("-is_payer", "last_name", "first_name"))
    payer = guardians[0] if guardians else None
    form = MandateForm(
        request.POST if request.method == "POST" else None,
        initial={"debtor_name": payer.full_name if payer else "", "signed_on": timezone.localdate()},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            mandate = sepa.create_mandate(
                regie=data["regie"],
                household=household,
                debtor_name=data["debtor_name"],
                iban=data["iban"],
                bic=data["bic"],
                rum=data["rum"],
                signed_on=data["signed_on"],
                actor=request.user,
                channel=Channel.STAFF,
            )
        except sepa.SepaError as refusal:
            form.add_refusal(refusal)
        else:
            messages.success(request, f"Mandat {mandate.rum} enregistré.")
            return redirect("backoffice:household_mandates", household.pk)
    today = timezone.localdate()
    mandates = list(SepaMandate.objects.filter(household=household).select_related("regie").order_by("-signed_on"))
    for mandate in mandates:
        mandate.state = sepa.mandate_state(mandate, today)
        mandate.lapses_on = sepa.mandate_lapses_on(mandate)
        mandate.masked_iban = f"{mandate.iban[:4]} •••• {mandate.iban[-4:]}"
    return render(
        request,
        "backoffice/billing_exports/mandates.html",
        {"household": household, "guardians": guardians, "mandates": mandates, "form": form},
    )


@staff_required(VIEW, CHANGE)
@require_POST
def mandate_revoke(request, household_id, mandate_id):
    household = household_selectors.staff_household(household_id)
    mandate = get_object_or_404(SepaMandate, household=household, pk=mandate_id)
    try:
        sepa.revoke_mandate(mandate=mandate, actor=request.user, channel=Channel.STAFF)
    except sepa.SepaError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Mandat {mandate.rum} révoqué : il ne sera plus utilisé pour prélever.")
    return redirect(reverse("backoffice:household_mandates", args=[household.pk]))


# --- the files made: collected, rejected ---------------------------------------------------------


def _xml_response(content: bytes, batch) -> HttpResponse:
    response = HttpResponse(content, content_type="application/xml")
    name = f"prelevement-{batch.regie.code}-{batch.collection_date:%Y-%m-%d}.xml"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"  # debtors' IBANs
    return response


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Motif du rejet",
        max_length=200,
        help_text="Le code et le libellé donnés par la banque, ex. AM04 provision insuffisante.",
        error_messages={"required": "Indiquez le motif du rejet (code et libellé donnés par la banque)."},
    )


@staff_required(VIEW, CHANGE)
@require_GET
def debit_batches(request):
    batches = DirectDebitBatch.objects.select_related("regie", "created_by").order_by("-collection_date", "-pk")
    return render(request, "backoffice/billing_exports/debit_batches.html", {"batches": batches[:200]})


@staff_required(VIEW, CHANGE)
@require_GET
def debit_batch(request, batch_id):
    batch = get_object_or_404(
        DirectDebitBatch.objects.select_related("regie", "created_by", "collected_by"), pk=batch_id
    )
    debits = list(
        DirectDebit.objects.filter(batch=batch)
        .select_related("invoice__household", "mandate", "payment")
        .order_by("end_to_end_id", "pk")
    )
    return render(
        request,
        "backoffice/billing_exports/debit_batch.html",
        {
            "batch": batch,
            "debits": debits,
            "submitted": sum(1 for debit in debits if debit.status == DebitStatus.SUBMITTED),
            "can_collect": batch.status == "submitted" and batch.collection_date <= timezone.localdate(),
            "reject_form": RejectForm(),
        },
    )


@staff_required(VIEW, CHANGE)
@require_GET
def debit_batch_file(request, batch_id):
    batch = get_object_or_404(DirectDebitBatch.objects.select_related("regie"), pk=batch_id)
    try:
        with batch.file.open("rb") as stored:
            content = stored.read()
    except (OSError, ValueError):
        raise Http404("Fichier introuvable") from None
    if hashlib.sha256(content).hexdigest() != batch.sha256:
        security_log.error("Direct debit batch %s: stored file does not match its SHA-256, not served", batch.pk)
        raise Http404("Fichier altéré")
    return _xml_response(content, batch)


@staff_required(VIEW, CHANGE)
@require_POST
def debit_batch_collect(request, batch_id):
    batch = get_object_or_404(DirectDebitBatch, pk=batch_id)
    try:
        payments = direct_debits.mark_batch_collected(batch=batch, actor=request.user)
    except PaymentError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Prélèvement marqué encaissé : {len(payments)} paiement(s) enregistré(s).")
    return redirect("backoffice:debit_batch", batch.pk)


@staff_required(VIEW, CHANGE)
@require_POST
def debit_reject(request, debit_id):
    debit = get_object_or_404(DirectDebit.objects.select_related("invoice"), pk=debit_id)
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["reason"][0])
        return redirect("backoffice:debit_batch", debit.batch_id)
    try:
        direct_debits.reject_debit(debit=debit, actor=request.user, reason=form.cleaned_data["reason"])
    except PaymentError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(
            request, f"Prélèvement de la facture n° {debit.invoice.number} rejeté : la facture est de nouveau à payer."
        )
    return redirect("backoffice:debit_batch", debit.batch_id)
