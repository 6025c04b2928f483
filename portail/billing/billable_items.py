"""Billable items that are not bookings: unexpected presences (and, derived by the invoicing run, flat
fees per period, see ``portail.billing.invoicing``).

An unexpected presence is a child who came to a session without a booking. It is priced ONCE, when it
is recorded, by the tariff engine (kind "unexpected_presence": the unit's price for the household plus
the grid's presence charge) with the household's facts of that moment, and stored with its trail; the
monthly invoicing run copies it onto a line (never twice: ``InvoiceLine.billable_item`` is one-to-one).
Staff record it today (``backoffice:billing_presence_new``); the attendance register will call
``record_unexpected_presence`` too.
"""

from django.db import IntegrityError, transaction

from portail.bookings.models import HOLDING_STATUSES, Booking
from portail.bookings.selectors import format_day
from portail.catalog.models import Session
from portail.core.audit import log_action
from portail.core.models import Channel
from portail.households.models import Child

from .errors import BillingError
from .models import BillableItem, BillableItemKind
from .pricing import UNEXPECTED_PRESENCE, PricingError
from .tariffs import quote_booking


def presence_label(activity_name: str, unit_name: str, day) -> str:
    return f"Présence non réservée – {activity_name} – {unit_name} – {format_day(day)}"[:250]


def record_unexpected_presence(*, child: Child, session: Session, actor, channel: str = Channel.STAFF) -> BillableItem:
    """Record (and price once) a child's presence at a session it had no booking for. Audited.

    Refused (BillingError, French message) when the child holds a booking on that session (then it is
    a booked presence, billed with the booking), when the session was cancelled, when the presence is
    already recorded, or when no tariff applies (no grid, no price for the unit)."""
    session = Session.objects.select_related("unit__activity").get(pk=session.pk)
    unit = session.unit
    activity = unit.activity
    if session.is_cancelled:
        raise BillingError("Cette séance a été annulée : aucune présence ne peut y être facturée.", code="cancelled")
    if child.household_id is None:
        raise BillingError("Cet enfant n'est rattaché à aucun foyer.", code="no_household")
    if Booking.objects.filter(child=child, session=session, status__in=HOLDING_STATUSES).exists():
        raise BillingError(
            f"{child.full_name} a déjà une réservation pour cette séance : sa présence est facturée avec "
            "la réservation, pas comme une présence non réservée.",
            code="already_booked",
        )
    if BillableItem.objects.filter(kind=BillableItemKind.PRESENCE, child=child, session=session).exists():
        raise BillingError(
            f"La présence non réservée de {child.full_name} à cette séance est déjà enregistrée.",
            code="already_recorded",
        )
    try:
        quote = quote_booking(child=child, unit=unit, service_date=session.date, kind=UNEXPECTED_PRESENCE)
    except PricingError as refusal:
        raise BillingError(f"Impossible de tarifer cette présence : {refusal.message}", code="no_tariff") from refusal
    created_by = actor if getattr(actor, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            item = BillableItem.objects.create(
                household_id=child.household_id,
                child=child,
                activity=activity,
                unit=unit,
                session=session,
                kind=BillableItemKind.PRESENCE,
                service_date=session.date,
                label=presence_label(activity.name, unit.name, session.date),
                unit_price_cents=int(quote.unit_price_cents),
                amount_cents=int(quote.amount_cents),
                surcharge_cents=int(quote.surcharge_cents),
                trail=list(quote.trail),
                created_by=created_by,
                channel=channel,
            )
            log_action(
                actor=actor,
                channel=channel,
                action="billable_item.presence_recorded",
                obj=item,
                household=child.household,
                after={
                    "child": child.pk,
                    "session": session.pk,
                    "date": session.date,
                    "amount_cents": item.amount_cents,
                    "trail": item.trail,
                },
                message=f"Présence non réservée de {child.full_name} : {item.label}",
            )
    except IntegrityError as conflict:  # recorded at the same moment by someone else (the constraint)
        raise BillingError(
            f"La présence non réservée de {child.full_name} à cette séance est déjà enregistrée.",
            code="already_recorded",
        ) from conflict
    return item


def pending_presences(household):
    """The household's unexpected presences recorded and not invoiced yet, oldest first."""
    return (
        BillableItem.objects.filter(household=household, kind=BillableItemKind.PRESENCE, invoice_line__isnull=True)
        .select_related("child")
        .order_by("service_date", "pk")
    )


def cancel_unexpected_presence(*, item: BillableItem, actor, reason: str, channel: str = Channel.STAFF) -> None:
    """Remove a presence recorded by mistake, while it is not invoiced (afterwards: a credit note).
    Audited with its amount and the reason. Refusals are BillingErrors (French)."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError("Indiquez pourquoi cette présence est retirée.", code="reason_required")
    with transaction.atomic():
        locked = (
            BillableItem.objects.select_for_update(of=("self",))
            .select_related("child__household")
            .filter(pk=item.pk, kind=BillableItemKind.PRESENCE)
            .first()
        )
        if locked is None:
            raise BillingError("Cette présence n'existe plus.", code="gone")
        if hasattr(locked, "invoice_line"):
            raise BillingError(
                "Cette présence est déjà facturée : corrigez la facture par un avoir.", code="already_invoiced"
            )
        before = {
            "child": locked.child_id,
            "session": locked.session_id,
            "date": locked.service_date,
            "amount_cents": locked.amount_cents,
        }
        label, child = locked.label, locked.child
        locked.delete()
        log_action(
            actor=actor,
            channel=channel,
            action="billable_item.presence_cancelled",
            obj=item,
            household=child.household,
            before=before,
            after={"reason": reason},
            message=f"Présence non réservée de {child.full_name} retirée ({label}) : {reason}",
        )
