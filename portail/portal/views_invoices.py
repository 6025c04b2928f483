"""Family "Factures" (seeds 002–004): invoices to pay (tick several, one "Payer"), paid history,
PDFs, the running statement of the account, the financial detail per invoice and per enrolment,
and the extra addresses that receive the invoices.

Every id is looked up within the family's own household (another household's invoice, credit note,
PDF or enrolment is a 404). Lists read their rows in a fixed number of queries; no PDF is rendered
while a page lists invoices (only the PDF links render, once, then serve the cached file).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django import forms
from django.contrib import messages
from django.contrib.auth.base_user import BaseUserManager
from django.db import transaction
from django.db.models import Prefetch, Q
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from portail.billing import selectors as billing
from portail.billing.invoice_pdf import (
    credit_note_filename,
    credit_note_pdf,
    invoice_filename,
    invoice_pdf,
    lines_by_child,
)
from portail.billing.invoicing import month_label
from portail.billing.models import CreditNote, Invoice, InvoiceLine, InvoiceRecipient
from portail.core.audit import log_action
from portail.core.errors import BusinessError
from portail.core.models import Channel
from portail.enrolments.selectors import enrolments_for_household, get_enrolment_for_household
from portail.households.models import Household
from portail.households.selectors import guardian_addresses
from portail.payments import direct_debits, invoice_payment, services
from portail.payments.models import (
    OPEN_STATUSES,
    Allocation,
    AllocationKind,
    AttemptPurpose,
    Means,
    Payment,
    PaymentAttempt,
    PaymentStatus,
)

from .decorators import family_required
from .views_payments import to_bank

MAX_RECIPIENTS = 3
HISTORY_LIMIT = 200


# --- "Factures" --------------------------------------------------------------------------------------


def _pending_locks(household, now) -> dict[int, PaymentAttempt]:
    """{invoice id: the pending INVOICES attempt (within its lock time) covering it}."""
    attempts = PaymentAttempt.objects.filter(
        household=household, purpose=AttemptPurpose.INVOICES, status__in=OPEN_STATUSES, lock_until__gt=now
    ).prefetch_related(
        Prefetch("payment__allocations", queryset=Allocation.objects.filter(kind=AllocationKind.INVOICE))
    )
    locks = {}
    for attempt in attempts.select_related("payment").order_by("created_at"):
        for allocation in attempt.payment.allocations.all():
            locks[allocation.invoice_id] = attempt
    return locks


@dataclass
class ToPay:
    invoice: Invoice
    due_cents: int
    overdue: bool
    locked_message: str = ""
    # A submitted SEPA debit will pay it on that date: no checkbox (it could be paid twice).
    debit_date: date | None = None


@dataclass
class PaidRow:
    allocation: Allocation
    payment: Payment
    invoice: Invoice
    payer: str
    transaction: str


def _payer_name(payment, invoice) -> str:
    if payment.drawer:
        return payment.drawer
    user = payment.created_by
    if user is not None and not user.is_staff:
        name = f"{user.first_name} {user.last_name}".strip()
        if name:
            return name
    snapshot = invoice.payer if isinstance(invoice.payer, dict) else {}
    return str(snapshot.get("name") or "")


def _paid_history(household) -> list[PaidRow]:
    """Each payment of each invoice (money received: PAID payments), newest first."""
    allocations = (
        Allocation.objects.filter(
            kind=AllocationKind.INVOICE, invoice__household=household, payment__status=PaymentStatus.PAID
        )
        .select_related("invoice", "payment__regie", "payment__created_by", "payment__credit_note")
        .prefetch_related(
            Prefetch(
                "payment__attempts",
                queryset=PaymentAttempt.objects.filter(status=PaymentStatus.PAID).order_by("-pk"),
                to_attr="paid_attempts",
            )
        )
        .order_by("-payment__paid_at", "-pk")[:HISTORY_LIMIT]
    )
    rows = []
    for allocation in allocations:
        payment = allocation.payment
        if payment.means == Means.CREDIT_NOTE:
            credit_note = getattr(payment, "credit_note", None)
            transaction_ref = f"Avoir n° {credit_note.number}" if credit_note else ""
        else:
            attempts = getattr(payment, "paid_attempts", [])
            transaction_ref = attempts[0].reference if attempts else payment.reference
        rows.append(
            PaidRow(
                allocation=allocation,
                payment=payment,
                invoice=allocation.invoice,
                payer=_payer_name(payment, allocation.invoice),
                transaction=transaction_ref,
            )
        )
    return rows


def _credits(household, invoices) -> list[tuple]:
    """(régie, credit cents) for each régie of the invoices to pay where the household has credit."""
    regies = {invoice.regie_id: invoice.regie for invoice in invoices}
    credits = []
    for regie in sorted(regies.values(), key=lambda r: r.name):
        credit = services.credit_for(household, regie)
        if credit > 0:
            credits.append((regie, credit))
    return credits


@require_GET
@family_required
def invoices(request):
    household = request.household
    now = timezone.now()
    today = timezone.localdate()
    all_invoices = list(billing.household_invoices(household))
    locks = _pending_locks(household, now)
    scheduled = direct_debits.scheduled_debits([invoice.pk for invoice in all_invoices])
    to_pay, transferred = [], []
    for invoice in all_invoices:
        due = billing.invoice_due_cents(invoice)
        if due <= 0:
            continue
        if invoice.transferred_at is not None:
            transferred.append((invoice, due))
            continue
        attempt = locks.get(invoice.pk)
        to_pay.append(
            ToPay(
                invoice=invoice,
                due_cents=due,
                overdue=invoice.due_date < today,
                locked_message=invoice_payment.wait_message(attempt, now, 1) if attempt else "",
                debit_date=scheduled[invoice.pk].batch.collection_date if invoice.pk in scheduled else None,
            )
        )
    to_pay.sort(key=lambda row: (row.invoice.due_date, row.invoice.number))
    credits = _credits(household, [row.invoice for row in to_pay])
    return render(
        request,
        "portal/invoices/list.html",
        {
            "to_pay": to_pay,
            "payable": [row for row in to_pay if not row.locked_message and not row.debit_date],
            "to_pay_total_cents": sum(row.due_cents for row in to_pay),
            "transferred": transferred,
            "credits": credits,
            "history": _paid_history(household),
            "history_limit": HISTORY_LIMIT,
            "invoices": all_invoices,
            "several_regies": len({row.invoice.regie_id for row in to_pay}) > 1,
        },
    )


def _selected_ids(request) -> list[str]:
    return request.POST.getlist("factures")


def _back(request):
    """Where a refused payment sends the family back: the invoice it came from, or the list."""
    origin = request.POST.get("depuis", "")
    if origin.isdigit() and Invoice.objects.filter(household=request.household, pk=int(origin)).exists():
        return redirect("portal:invoice_detail", invoice_id=int(origin))
    return redirect("portal:invoices")


@require_POST
@family_required
def invoices_pay(request):
    """ "Payer la sélection": one online payment for the ticked invoices, then the régie's bank."""
    try:
        started = invoice_payment.start_invoices_payment(
            household=request.household,
            invoice_ids=_selected_ids(request),
            actor=request.user,
            absolute_url=request.build_absolute_uri,
        )
    except BusinessError as refusal:
        messages.error(request, refusal.message)
        return _back(request)
    return to_bank(request, started)


@require_POST
@family_required
def invoices_pay_with_credit(request):
    try:
        paid = invoice_payment.pay_invoices_with_credit(
            household=request.household, invoice_ids=_selected_ids(request), actor=request.user
        )
    except BusinessError as refusal:
        messages.error(request, refusal.message)
        return _back(request)
    many = len(paid) > 1
    messages.success(
        request,
        f"{len(paid)} facture{'s' if many else ''} payée{'s' if many else ''} avec votre crédit "
        f"(n° {', '.join(invoice.number for invoice in paid)}).",
    )
    return redirect("portal:invoices")


# --- One invoice ---------------------------------------------------------------------------------------


@family_required
def invoice_detail(request, invoice_id):
    """ "Détail financier par facture": lines per child, payments and credit notes, amount due."""
    household = request.household
    invoice = billing.invoice_for_household(household, invoice_id)
    now = timezone.now()
    due = billing.invoice_due_cents(invoice)
    lines = list(invoice.lines.all())
    paid = [
        allocation
        for allocation in getattr(invoice, "paid_allocations", [])
        if allocation.kind == AllocationKind.INVOICE
    ]
    blocking = invoice_payment.open_invoices_attempt(household, [invoice.pk], now) if due > 0 else None
    debit = direct_debits.scheduled_debits([invoice.pk]).get(invoice.pk) if due > 0 else None
    regie = invoice.regie
    credit = services.credit_for(household, regie) if due > 0 and invoice.transferred_at is None else 0
    return render(
        request,
        "portal/invoices/detail.html",
        {
            "invoice": invoice,
            "blocks": lines_by_child(lines),
            "paid": paid,
            "paid_cents": sum(allocation.amount_cents for allocation in paid),
            "credit_notes": list(invoice.credit_notes.all()),
            "due_cents": due,
            "overdue": due > 0 and invoice.due_date < timezone.localdate(),
            "blocked": invoice_payment.wait_message(blocking, now, 1) if blocking else "",
            "debit_date": debit.batch.collection_date if debit else None,
            "online": regie.is_active and regie.accepts_online,
            "credit_cents": credit,
            "credit_covers": 0 < due <= credit,
        },
    )


def _pdf_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@family_required
def invoice_pdf_download(request, invoice_id):
    invoice = (
        Invoice.objects.select_related("regie__town", "household")
        .filter(household=request.household, pk=invoice_id)
        .first()
    )
    if invoice is None:
        raise Http404("Facture introuvable")
    return _pdf_response(invoice_pdf(invoice), invoice_filename(invoice))


@family_required
def credit_note_pdf_download(request, credit_note_id):
    credit_note = (
        CreditNote.objects.select_related("regie__town", "household", "invoice")
        .filter(household=request.household, pk=credit_note_id)
        .first()
    )
    if credit_note is None:
        raise Http404("Avoir introuvable")
    return _pdf_response(credit_note_pdf(credit_note), credit_note_filename(credit_note))


# --- Running statement of the account ---------------------------------------------------------------------


@dataclass
class StatementRow:
    when: datetime
    label: str
    regie: str
    debit_cents: int = 0
    credit_cents: int = 0
    balance_cents: int = 0
    invoice_id: int | None = None
    payment: Payment | None = None


def statement_rows(household) -> list[StatementRow]:
    """The account in date order: invoices and what was bought at once (debits), money received
    and credit notes (credits), with the running balance (negative: the family owes money).
    The final balance equals the account's credit minus what is due on the invoices."""
    rows = []
    for invoice in Invoice.objects.filter(household=household).select_related("regie"):
        label = f"Facture n° {invoice.number}"
        if invoice.month:
            label += f" ({month_label(invoice.month)})"
        if invoice.transferred_at:
            label += f" – transmise au Trésor public le {timezone.localtime(invoice.transferred_at):%d/%m/%Y}"
        rows.append(
            StatementRow(
                when=invoice.issued_at,
                label=label,
                regie=invoice.regie.name,
                debit_cents=invoice.total_cents,
                invoice_id=invoice.pk,
            )
        )
    payments = (
        Payment.objects.filter(household=household, status__in=(PaymentStatus.PAID, PaymentStatus.REFUNDED))
        .exclude(paid_at__isnull=True)
        .select_related("regie", "credit_note")
    )
    for payment in payments:
        if payment.means == Means.CREDIT_NOTE:
            credit_note = getattr(payment, "credit_note", None)
            label = f"Avoir n° {credit_note.number}" if credit_note else "Avoir"
        else:
            label = f"Paiement – {payment.get_means_display().lower()}"
            if payment.receipt_number:
                label += f", reçu n° {payment.receipt_number}"
        rows.append(
            StatementRow(
                when=payment.paid_at,
                label=label,
                regie=payment.regie.name,
                credit_cents=payment.amount_cents,
                payment=payment,
            )
        )
        if payment.status == PaymentStatus.REFUNDED:
            rows.append(
                StatementRow(
                    when=payment.refunded_at or payment.paid_at,
                    label=f"Paiement annulé ou remboursé ({payment.label})",
                    regie=payment.regie.name,
                    debit_cents=payment.amount_cents,
                )
            )
    # What PAID payments bought directly (reservations paid at booking, enrolments paid at once).
    direct = defaultdict(int)
    labels = {}
    for allocation in (
        Allocation.objects.filter(payment__household=household, payment__status=PaymentStatus.PAID)
        .exclude(kind=AllocationKind.INVOICE)
        .select_related("payment__regie")
    ):
        when = max(allocation.created_at, allocation.payment.paid_at or allocation.created_at)
        key = (allocation.payment_id, allocation.kind, when)
        direct[key] += allocation.amount_cents
        labels[key] = (AllocationKind(allocation.kind).label, allocation.payment.regie.name)
    for (_payment_id, _kind, when), cents in direct.items():
        what, regie = labels[(_payment_id, _kind, when)]
        rows.append(StatementRow(when=when, label=what, regie=regie, debit_cents=cents))
    # Same instant: the debit first (an invoice then its payment; a purchase with its payment).
    rows.sort(key=lambda row: (row.when, 0 if row.debit_cents else 1))
    balance = 0
    for row in rows:
        balance += row.credit_cents - row.debit_cents
        row.balance_cents = balance
    return rows


@require_GET
@family_required
def invoice_statement(request):
    rows = statement_rows(request.household)
    balance = rows[-1].balance_cents if rows else 0
    return render(
        request,
        "portal/invoices/statement.html",
        {
            "rows": list(reversed(rows)),
            "balance_cents": balance,
            "owed_cents": -balance if balance < 0 else 0,
            "credit_cents": balance if balance > 0 else 0,
        },
    )


# --- "Détail financier par inscription" -----------------------------------------------------------------


@dataclass
class EnrolmentMoney:
    enrolment: object
    lines: list
    paid_at_once: list  # allocations of PAID payments: enrolment paid at once, bookings paid at booking

    @property
    def billed_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def paid_at_once_cents(self) -> int:
        return sum(allocation.amount_cents for allocation in self.paid_at_once)

    @property
    def invoices(self) -> list:
        seen = {}
        for line in self.lines:
            seen.setdefault(line.invoice_id, line.invoice)
        return list(seen.values())


def _in_period(day, period) -> bool:
    return day is not None and period.start_date <= day <= period.end_date


def enrolment_money(household, enrolments) -> list[EnrolmentMoney]:
    """Per enrolment: its invoice lines (through its bookings; a line without booking, like a flat fee,
    goes to the enrolment of the same child and activity whose period holds its date or month) and
    what was paid for it without invoice. Four queries whatever the number of enrolments."""
    enrolments = list(enrolments)
    by_id = {enrolment.pk: EnrolmentMoney(enrolment, [], []) for enrolment in enrolments}
    by_child_activity = defaultdict(list)
    for enrolment in enrolments:
        by_child_activity[(enrolment.child_id, enrolment.activity_id)].append(enrolment)
    invoices = {invoice.pk: invoice for invoice in billing.household_invoices(household)}
    lines = (
        InvoiceLine.objects.filter(invoice__household=household)
        .filter(Q(booking__isnull=False) | Q(child__isnull=False, activity__isnull=False))
        .select_related("booking")
        .order_by("service_date", "pk")
    )
    for line in lines:
        line.invoice = invoices.get(line.invoice_id, line.invoice)
        line.invoice_due_cents = billing.invoice_due_cents(line.invoice)
        target = None
        if line.booking_id and line.booking.enrolment_id in by_id:
            target = line.booking.enrolment_id
        elif not line.booking_id:
            day = line.service_date or line.invoice.month
            candidates = [
                e for e in by_child_activity.get((line.child_id, line.activity_id), []) if _in_period(day, e.period)
            ]
            if len(candidates) == 1:
                target = candidates[0].pk
        if target is not None:
            by_id[target].lines.append(line)
    allocations = (
        Allocation.objects.filter(payment__household=household, payment__status=PaymentStatus.PAID)
        .filter(
            Q(kind=AllocationKind.ENROLMENT, enrolment_id__in=list(by_id))
            | Q(kind=AllocationKind.BOOKING, booking__enrolment_id__in=list(by_id))
        )
        .select_related("payment", "booking")
        .order_by("pk")
    )
    for allocation in allocations:
        enrolment_id = allocation.enrolment_id if allocation.kind == AllocationKind.ENROLMENT else None
        if allocation.kind == AllocationKind.BOOKING and allocation.booking_id:
            enrolment_id = allocation.booking.enrolment_id
        if enrolment_id in by_id:
            by_id[enrolment_id].paid_at_once.append(allocation)
    return [by_id[enrolment.pk] for enrolment in enrolments]


@require_GET
@family_required
def invoice_enrolments(request):
    enrolments = enrolments_for_household(request.household).order_by("-period__start_date", "child__first_name")
    rows = enrolment_money(request.household, enrolments)
    return render(request, "portal/invoices/enrolments.html", {"rows": rows})


@family_required
def invoice_enrolment_detail(request, enrolment_id):
    enrolment = get_enrolment_for_household(request.household, enrolment_id)
    row = enrolment_money(request.household, [enrolment])[0]
    return render(request, "portal/invoices/enrolment_detail.html", {"row": row, "enrolment": enrolment})


# --- "Destinataires des factures" -------------------------------------------------------------------------


class RecipientForm(forms.Form):
    email = forms.EmailField(
        label="Adresse e-mail à ajouter",
        max_length=254,
        help_text="Elle recevra chaque nouvelle facture, avec le PDF joint. Exemple : prenom.nom@exemple.fr",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"}),
    )

    def __init__(self, *args, household, **kwargs):
        super().__init__(*args, **kwargs)
        self.household = household

    def clean_email(self):
        email = BaseUserManager.normalize_email(self.cleaned_data["email"].strip())
        if any(email.lower() == address.lower() for address in guardian_addresses(self.household.pk)):
            raise forms.ValidationError(
                "Cette adresse est celle d'un responsable du foyer : elle reçoit déjà les factures."
            )
        if InvoiceRecipient.objects.filter(household=self.household, email__iexact=email).exists():
            raise forms.ValidationError("Cette adresse reçoit déjà les factures.")
        return email


def _recipients_page(request, form, status=200):
    household = request.household
    recipients = list(InvoiceRecipient.objects.filter(household=household).order_by("pk"))
    return render(
        request,
        "portal/invoices/recipients.html",
        {
            "form": form,
            "recipients": recipients,
            "guardian_addresses": guardian_addresses(household.pk),
            "max_recipients": MAX_RECIPIENTS,
            "can_add": len(recipients) < MAX_RECIPIENTS,
        },
        status=status,
    )


@family_required
def invoice_recipients(request):
    household = request.household
    if request.method != "POST":
        return _recipients_page(request, RecipientForm(household=household))
    form = RecipientForm(request.POST, household=household)
    if not form.is_valid():
        return _recipients_page(request, form, status=400)
    with transaction.atomic():
        # One family, two tabs: the household row serialises the count check and the insert.
        Household.objects.select_for_update().get(pk=household.pk)
        if InvoiceRecipient.objects.filter(household=household).count() >= MAX_RECIPIENTS:
            form.add_error(
                "email",
                f"Vous avez déjà {MAX_RECIPIENTS} adresses supplémentaires : retirez-en une avant d'en ajouter une autre.",
            )
            return _recipients_page(request, form, status=400)
        if InvoiceRecipient.objects.filter(household=household, email__iexact=form.cleaned_data["email"]).exists():
            form.add_error("email", "Cette adresse reçoit déjà les factures.")
            return _recipients_page(request, form, status=400)
        recipient = InvoiceRecipient.objects.create(household=household, email=form.cleaned_data["email"])
        log_action(
            actor=request.user,
            channel=Channel.WEB,
            action="billing.recipient_added",
            obj=recipient,
            household=household,
            after={"email": recipient.email},
            message=f"Adresse ajoutée aux destinataires des factures : {recipient.email}.",
        )
    messages.success(request, f"{recipient.email} recevra désormais les factures.")
    return redirect("portal:invoice_recipients")


@family_required
def invoice_recipient_remove(request, recipient_id):
    household = request.household
    # Scoped first: another household's address is a 404 whatever the method.
    if not household.invoice_recipients.filter(pk=recipient_id).exists():
        raise Http404("Destinataire introuvable")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    with transaction.atomic():
        recipient = InvoiceRecipient.objects.select_for_update().filter(household=household, pk=recipient_id).first()
        if recipient is None:
            raise Http404("Destinataire introuvable")
        email = recipient.email
        log_action(
            actor=request.user,
            channel=Channel.WEB,
            action="billing.recipient_removed",
            obj=recipient,
            household=household,
            before={"email": email},
            message=f"Adresse retirée des destinataires des factures : {email}.",
        )
        recipient.delete()
    messages.success(request, f"{email} ne recevra plus les factures.")
    return redirect("portal:invoice_recipients")
