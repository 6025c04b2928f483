"""The demo town's invoices (issue 6), so that a newcomer can pay several invoices at once on the demo
bank, download their PDFs and, from January 2027, the "Attestation fiscale 2026" (all fictional).

- Past bookings in the invoiced activities of the Régie Enfance-Jeunesse (cantine, périscolaire,
  Pommiers mercredis): the Martins' weekly patterns (Léa's lunches, Hugo's Tuesday and Thursday
  evenings) also for September and October (plannings.py books November and December); the Bernards
  (Inès at the périscolaire on Thursday evenings, Nathan at the canteen on Fridays) and the Haddads
  (Yanis at the canteen on Thursdays, quotient 540: the "cantine à 1 €") enrolled in June like the
  Martins, booked from September to November.
- The monthly invoices of September, October and November, issued by the real service
  (``portail.billing.invoicing.run_month``, never rows written here) once the month is over, dated
  the first working days of the next month (November's on 30 November when the demo is loaded that
  day), due 30 days later, without e-mail (the demo's addresses are fictional).
- The Martins' September invoice paid at the desk by cheque on 12 October (``payments.offline``,
  recorded for that invoice, as the régisseur does at the desk); October and November are left to pay: the family
  ticks both and pays them at once on the demo bank.
- Hugo (born in 2021) is under 6 on 1 January 2026: his evenings and Wednesdays paid in 2026 make the
  attestation fiscale 2026 (the family asks for it from 1 January 2027, once the year is over).
- The Martins' history of 2025, taken over from the town's previous software ("reprise de
  l'historique"): one one-off invoice of the régie, "Accueil périscolaire – septembre à décembre 2025",
  Hugo's care (``invoicing.issue_one_off_invoice(childcare=True)``), issued on 5 December 2025 and paid by
  cheque at the desk on 18 December 2025. A year that is over: the family can ask for and download the
  attestation fiscale 2025 today. It is issued and paid before the 2026 invoices, so the 2026 runs find
  no credit to spend and the 2025 cheque pays only the 2025 invoice (numbers: FENF2025000001, its own
  counter, then FENF2026…).

Idempotent like the other demo modules: an enrolment or a booking is created only when missing, a
month is invoiced only while it still has something to invoice (a re-run finds nothing: no run, no
number taken), the cheques are found by their numbers, the 2025 invoice by its label. Audit entries are
dated when things happened.
"""

from datetime import date, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from portail.billing import invoicing
from portail.billing.models import Invoice, InvoicingRun
from portail.billing.selectors import invoice_due_cents
from portail.catalog.models import Activity, Group, Period, Unit
from portail.core.models import Channel
from portail.enrolments.models import Enrolment, EnrolmentStatus, WeeklyPattern
from portail.households.models import Child, Guardian, Household
from portail.payments import offline
from portail.payments.models import Means, Payment, Regie

from .catalog import paris
from .families import JULES_FERRY, MARIE_CURIE
from .plannings import (
    CANTINE,
    FRIDAY,
    MARTIN,
    PERISCOLAIRE,
    REQUESTED_AT,
    THURSDAY,
    VALIDATED_AT,
    _book,
    _dated,
    _pattern_sessions,
)
from .upsert import Tally

REGIE = "ENF"
BERNARD, HADDAD = "D000002", "D000003"

# (household, child, activity, group, weekly pattern); requested in June, validated by the Mairie.
# The Haddads have no login yet: their enrolments and bookings were made at the desk.
# One day a week each: enough for an invoice a month, and the loader stays quick (one service call
# per booking).
ENROLMENTS = [
    (BERNARD, "Inès", PERISCOLAIRE, "Maternelle", [(THURSDAY, "Soir")]),
    (BERNARD, "Nathan", CANTINE, JULES_FERRY, [(FRIDAY, "Repas")]),
    (HADDAD, "Yanis", CANTINE, MARIE_CURIE, [(THURSDAY, "Repas")]),
]

# Months whose weekly patterns are booked here, each booked on the web well before its deadlines.
# The Martins' November is booked by plannings.py.
BOOKED_MONTHS = [
    (date(2026, 9, 1), date(2026, 9, 30), paris(2026, 8, 27, 20, 30)),
    (date(2026, 10, 1), date(2026, 10, 31), paris(2026, 9, 24, 21, 0)),
    (date(2026, 11, 1), date(2026, 11, 30), paris(2026, 10, 11, 20, 45)),
]
MARTIN_MONTHS = BOOKED_MONTHS[:2]

# (month invoiced, its planned issue date: the first working days of the next month).
INVOICED_MONTHS = [
    (date(2026, 9, 1), date(2026, 10, 2)),
    (date(2026, 10, 1), date(2026, 11, 3)),
    (date(2026, 11, 1), date(2026, 12, 1)),
]
DUE_DAYS = 30

# The Martins' September invoice, paid at the desk (the cheque's number is its natural key).
CHEQUE = {
    "month": date(2026, 9, 1),
    "paid_on": date(2026, 10, 12),
    "reference": "4521087",
    "cheque_bank": "Banque de Ville-Fleurie",
    "drawer": "Claire Martin",
    "note": "Chèque remis à l'accueil de l'Hôtel de ville pour la facture de septembre.",
}

# The Martins' history of 2025, from the previous software: Hugo's care, billed in one invoice and paid
# by cheque the same month (both in 2025: the attestation fiscale 2025 counts money received in 2025).
HISTORY_2025 = {
    "child": "Hugo",
    "label": "Accueil périscolaire – septembre à décembre 2025 (reprise de l'ancien logiciel)",
    "amount_cents": 18640,
    "issued_on": date(2025, 12, 5),
    "due_date": date(2026, 1, 5),
    "paid_on": date(2025, 12, 18),
    "reference": "3867215",
    "cheque_bank": "Banque de Ville-Fleurie",
    "drawer": "Claire Martin",
    "note": "Chèque remis à l'accueil pour l'accueil périscolaire de septembre à décembre 2025 "
    "(historique repris de l'ancien logiciel).",
}


def _noon(day: date):
    return paris(day.year, day.month, day.day, 12, 0)


# --- Enrolments and bookings -------------------------------------------------------------------------


def _ensure_enrolment(tally: Tally, child, slug, group_name, pattern, *, actor, channel, manager) -> Enrolment:
    group = Group.objects.select_related("activity").get(activity__slug=slug, name=group_name)
    period = Period.objects.get(activity=group.activity, name="Année 2026-2027")
    enrolment = Enrolment.objects.filter(child=child, activity=group.activity, period=period).order_by("pk").first()
    if enrolment is not None:
        return enrolment  # whatever staff made of it during the demo
    enrolment = Enrolment.objects.create(
        child=child,
        activity=group.activity,
        period=period,
        group=group,
        status=EnrolmentStatus.VALIDATED,
        channel=channel,
        created_by=actor,
        created_at=REQUESTED_AT,
        decided_by=manager,
        decided_at=VALIDATED_AT,
    )
    enrolment.reference = f"INS-{REQUESTED_AT.year}-{enrolment.pk:06d}"
    enrolment.save(update_fields=["reference"])
    tally.created["enrolments.Enrolment"] += 1
    for weekday, unit_name in pattern:
        unit = Unit.objects.get(activity=group.activity, name=unit_name)
        tally.upsert(WeeklyPattern, {"enrolment": enrolment, "weekday": weekday, "unit": unit})
    return enrolment


def _book_months(tally: Tally, child, enrolment, months, *, actor, channel) -> None:
    for start, end, booked_at in months:
        for session in _pattern_sessions(enrolment, start, end):
            _book(tally, child, session, actor=actor, channel=channel, at=booked_at)


def _ensure_bookings(tally: Tally, staff: dict) -> None:
    agent, manager = staff["Agent d'accueil"], staff["Gestionnaire"]
    payers = {
        g.household.reference: g
        for g in Guardian.objects.select_related("user", "household").filter(
            household__reference__in=[MARTIN, BERNARD, HADDAD], is_payer=True
        )
    }
    children = {
        (c.household.reference, c.first_name): c
        for c in Child.objects.select_related("household").filter(household__reference__in=[MARTIN, BERNARD, HADDAD])
    }
    for reference, first_name, slug, group_name, pattern in ENROLMENTS:
        child = children.get((reference, first_name))
        payer = payers.get(reference)
        if child is None or payer is None:
            continue
        # A family with a login enrols and books on the web; the others at the desk.
        actor, channel = (payer.user, Channel.WEB) if payer.user_id else (agent, Channel.STAFF)
        enrolment = _ensure_enrolment(
            tally, child, slug, group_name, pattern, actor=actor, channel=channel, manager=manager
        )
        _book_months(tally, child, enrolment, BOOKED_MONTHS, actor=actor, channel=channel)
    # The Martins' enrolments come from plannings.py: their patterns, booked for September and October.
    martin = payers.get(MARTIN)
    if martin is None:
        return
    for enrolment in Enrolment.objects.filter(
        child__household__reference=MARTIN,
        activity__slug__in=[PERISCOLAIRE, CANTINE],
        status=EnrolmentStatus.VALIDATED,
    ).select_related("child"):
        _book_months(tally, enrolment.child, enrolment, MARTIN_MONTHS, actor=martin.user, channel=Channel.WEB)


# --- Invoices ---------------------------------------------------------------------------------------------


def _issue_day(regie, planned: date, today: date) -> date:
    """The planned day, but never in the future nor before the régie's last invoice of that year
    (invoicing.check_issue_dates: numbers follow the dates)."""
    day = min(planned, today)
    last = Invoice.objects.filter(regie=regie, issued_at__year=day.year).aggregate(last=Max("issued_at"))["last"]
    if last is not None:
        day = max(day, timezone.localtime(last).date())
    return day


def _invoice_month(tally: Tally, regie, month: date, planned: date, *, actor, today: date) -> None:
    """Issue the month's invoices with the real service, once the month is over and only when some
    household can be invoiced (a re-run, or households blocked by a tariff error, start no run)."""
    if today < invoicing.next_month(month) - timedelta(days=1):
        return  # the month is not over yet: a later load invoices it
    if not invoicing.preview_month(regie, month).households:
        return
    issued_on = _issue_day(regie, planned, today)
    # Issued today: the service dates it now. An earlier day: noon of that day, the audit too.
    moment = None if issued_on == today else _noon(issued_on)

    def issue():
        return invoicing.run_month(
            regie,
            month,
            issued_on=issued_on,
            due_date=issued_on + timedelta(days=DUE_DAYS),
            actor=actor,
            channel=Channel.STAFF,
            notify=False,
        )

    run = issue() if moment is None else _dated(moment, issue)
    if moment is not None:
        InvoicingRun.objects.filter(pk=run.pk).update(created_at=moment, finished_at=moment + timedelta(minutes=2))
    tally.created["billing.InvoicingRun"] += 1
    tally.add_created("billing.Invoice", run.created)


def _ensure_cheque(tally: Tally, regie, *, actor, today: date) -> None:
    """The Martins' September invoice paid at the desk: the cheque recorded (household credit), then
    allocated to that invoice. Skipped when the family paid it otherwise during the demo."""
    household = Household.objects.filter(reference=MARTIN).first()
    if household is None:
        return
    invoice = Invoice.objects.filter(regie=regie, household=household, month=CHEQUE["month"], run__isnull=False).first()
    if invoice is None:
        return
    issued = timezone.localtime(invoice.issued_at).date()
    paid_on = max(min(CHEQUE["paid_on"], today), issued)
    moment = timezone.localtime() if paid_on == today else _noon(paid_on)
    _pay_by_cheque(tally, regie, household, invoice, CHEQUE, paid_on=paid_on, moment=moment, actor=actor)


def _ensure_history_2025(tally: Tally, regie, *, actor, today: date) -> None:
    """The Martins' 2025 invoice (Hugo's care, so the line is childcare: it makes the attestation fiscale
    2025) and the cheque that paid it in December 2025. Found by its label on a re-run; skipped when the
    family paid it otherwise during the demo."""
    spec = HISTORY_2025
    if today < spec["paid_on"]:
        return  # a clock before December 2025: no history to take over yet
    household = Household.objects.filter(reference=MARTIN).first()
    child = Child.objects.filter(household=household, first_name=spec["child"]).first() if household else None
    if child is None:
        return
    invoice = Invoice.objects.filter(
        regie=regie, household=household, run__isnull=True, lines__label=spec["label"]
    ).first()
    if invoice is None:

        def issue():
            return invoicing.issue_one_off_invoice(
                regie=regie,
                household=household,
                label=spec["label"],
                amount_cents=spec["amount_cents"],
                actor=actor,
                due_date=spec["due_date"],
                issued_on=spec["issued_on"],  # 2025: its own counter, FENF2025000001
                child=child,
                childcare=True,
                activity=Activity.objects.filter(slug=PERISCOLAIRE).first(),  # names the care on the attestation
                notify=False,  # the demo's addresses are fictional
            )

        invoice = _dated(_noon(spec["issued_on"]), issue)
        tally.created["billing.Invoice"] += 1
    # paid_on dates the payment (noon of that day) and numbers its receipt in 2025: the attestation counts
    # money by the year it was received.
    moment = _noon(spec["paid_on"])
    _pay_by_cheque(tally, regie, household, invoice, spec, paid_on=spec["paid_on"], moment=moment, actor=actor)


def _pay_by_cheque(tally: Tally, regie, household, invoice, cheque: dict, *, paid_on, moment, actor) -> None:
    """The cheque that paid `invoice` at the desk, recorded for that invoice as the régisseur does (found
    again by its number on a re-run; nothing if the family paid the invoice otherwise meanwhile)."""
    if Payment.objects.filter(
        regie=regie, household=household, means=Means.CHEQUE, reference=cheque["reference"]
    ).exists():
        return
    due = invoice_due_cents(invoice)
    if due <= 0:
        return

    def record():
        return offline.record_offline_payment(
            regie=regie,
            household=household,
            means=Means.CHEQUE,
            amount_cents=due,
            actor=actor,
            reference=cheque["reference"],
            cheque_bank=cheque["cheque_bank"],
            drawer=cheque["drawer"],
            note=cheque["note"],
            paid_on=paid_on,
            invoice_ids=[invoice.pk],
            notify=False,  # the demo's addresses are fictional
        )

    _dated(moment, record)
    tally.created["payments.Payment"] += 1
    tally.created["payments.Allocation"] += 1


def ensure_billing(tally: Tally, staff: dict) -> None:
    """Bookings, the Martins' 2025 history, the monthly invoices of September to November 2026 and the
    Martins' desk payments."""
    with transaction.atomic():
        _ensure_bookings(tally, staff)
        regie = Regie.objects.select_related("town").filter(code=REGIE).first()
        if regie is None:
            return
        regisseur = staff["Régisseur"]
        today = timezone.localdate()
        # First: paid before any 2026 invoice is issued, so no 2026 run spends the 2025 cheque as credit.
        _ensure_history_2025(tally, regie, actor=regisseur, today=today)
        for month, planned in INVOICED_MONTHS:
            _invoice_month(tally, regie, month, planned, actor=regisseur, today=today)
            if month == CHEQUE["month"]:
                # Before October is issued: otherwise the issue would spend the cheque as credit.
                _ensure_cheque(tally, regie, actor=regisseur, today=today)
