"""Enrolments paid at once ("Inscriptions en paiement immédiat", seed 000).

The family fills an enrolment cart (kept in its Django session: child × period × group of
activities paid at enrolment, like the "École municipale des sports"), then pays the whole
cart once through the régie's bank. Nothing is created before the money arrives: each
allocation keeps its request in `pending_enrolment`. On the verified PAID answer
(services._settle_paid, attempt row locked) `settle_enrolments` creates each enrolment
VALIDATED with the bookings of all its sessions, each in its own savepoint. One that can no
longer be created (group full, child no longer eligible) loses its allocation: its amount stays
on the household's account as credit (paid − allocated) and a régisseur gets an incident.

Places are not held while the family is at the bank: `start_enrolment_payment` checks them,
`settle_enrolments` takes them.
"""

from collections import Counter
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from portail.catalog.models import Group, PaymentMode, Period
from portail.catalog.wording import format_euros
from portail.core import locking as core_locking
from portail.core.audit import log_action
from portail.core.errors import BusinessError
from portail.core.models import Channel
from portail.enrolments.eligibility import check_eligibility
from portail.enrolments.models import LIVE_STATUSES, Enrolment
from portail.enrolments.selectors import held_places_for_activity, remaining_places
from portail.households.models import Child, Household

from .errors import PaymentError
from .models import (
    OPEN_STATUSES,
    Allocation,
    AllocationKind,
    AttemptPurpose,
    IncidentKind,
    PaymentAttempt,
    PaymentIncident,
)

SESSION_KEY = "enrolment_cart"
# More lines than any family needs (children × trimesters); keeps the session small.
MAX_ITEMS = 30
# A lock wait while settling is retried before the enrolment is given up as credit.
BUSY_RETRIES = 3


def pays_at_enrolment(activity, period) -> bool:
    """Enrolments of this period go through the cart and are paid at once."""
    return (
        activity.payment_mode == PaymentMode.AT_ENROLMENT
        and bool(period.enrolment_price_cents)
        and not activity.requires_pre_enrolment
    )


@dataclass(frozen=True)
class CartItem:
    child: Child
    period: Period
    group: Group

    @property
    def activity(self):
        return self.period.activity

    @property
    def price_cents(self) -> int:
        return self.period.enrolment_price_cents or 0

    @property
    def price(self) -> str:
        return format_euros(self.price_cents)

    @property
    def label(self) -> str:
        """ "Léa – Trimestre 1 – 7/11 ans Escalade"."""
        return f"{self.child.first_name} – {self.period.name} – {self.group.name}"

    @property
    def key(self) -> tuple[int, int]:
        return (self.child.pk, self.period.pk)

    def as_dict(self) -> dict:
        return {"child": self.child.pk, "period": self.period.pk, "group": self.group.pk}


# --- The cart (Django session) --------------------------------------------------------------------


def _raw_entries(request_session) -> list[dict]:
    entries = []
    for entry in request_session.get(SESSION_KEY) or []:
        try:
            entries.append({name: int(entry[name]) for name in ("child", "period", "group")})
        except (KeyError, TypeError, ValueError):
            continue
    return entries


def _store(request_session, entries: list[dict]) -> None:
    request_session[SESSION_KEY] = [dict(entry) for entry in entries]


def _load(entries, household) -> list[CartItem]:
    """The entries that still make sense for this household, as CartItems (three queries)."""
    if not entries:
        return []
    children = {
        child.pk: child
        for child in Child.objects.filter(
            household=household, is_active=True, pk__in={entry["child"] for entry in entries}
        )
    }
    for child in children.values():
        child.household = household
    periods = {
        period.pk: period
        for period in Period.objects.filter(pk__in={entry["period"] for entry in entries}).select_related(
            "activity__facility"
        )
    }
    groups = {group.pk: group for group in Group.objects.filter(pk__in={entry["group"] for entry in entries})}
    done = set()
    if children and periods:
        done = set(
            Enrolment.objects.filter(
                child_id__in=list(children), period_id__in=list(periods), status__in=LIVE_STATUSES
            ).values_list("child_id", "period_id")
        )
    items, seen = [], set()
    for entry in entries:
        child, period, group = children.get(entry["child"]), periods.get(entry["period"]), groups.get(entry["group"])
        if child is None or period is None or group is None:
            continue
        if group.activity_id != period.activity_id or not pays_at_enrolment(period.activity, period):
            continue
        key = (child.pk, period.pk)
        # Already enrolled (paid meanwhile, or enrolled by the service): nothing left to pay.
        if key in seen or key in done:
            continue
        seen.add(key)
        group.activity = period.activity
        items.append(CartItem(child=child, period=period, group=group))
    return items


def cart_items(request_session, household) -> list[CartItem]:
    """The household's enrolment cart, checked against its own active children and each activity's
    periods and groups. Lines that no longer fit (another household's child, a group of another
    activity, already enrolled…) are dropped from the session."""
    entries = _raw_entries(request_session)
    items = _load(entries, household)
    if [item.as_dict() for item in items] != (request_session.get(SESSION_KEY) or []):
        _store(request_session, [item.as_dict() for item in items])
    return items


def cart_total(items) -> int:
    return sum(item.price_cents for item in items)


def _item_refusals(items, now) -> list[tuple[CartItem, str]]:
    """Why each item cannot be enrolled now (eligibility, then places for all the cart's items of the
    same group and period together). Empty: every item can be paid."""
    refused = []
    per_group: Counter = Counter()
    per_activity: Counter = Counter()
    for item in items:
        refusals = check_eligibility(child=item.child, period=item.period, group=item.group, now=now)
        if refusals:
            refused.append((item, " ".join(refusal.message for refusal in refusals)))
            continue
        activity = item.activity
        per_group[(item.group.pk, item.period.pk)] += 1
        left = remaining_places(group=item.group, period=item.period, activity_capacity=activity.capacity)
        full = left is not None and left < per_group[(item.group.pk, item.period.pk)]
        if not full and activity.capacity is not None:
            per_activity[(activity.pk, item.period.pk)] += 1
            taken = held_places_for_activity(activity_id=activity.pk, period=item.period)
            full = activity.capacity - taken < per_activity[(activity.pk, item.period.pk)]
        if full:
            refused.append((item, f"Le groupe « {item.group.name} » est complet pour « {item.period.name} »."))
    return refused


def item_problems(items, now=None) -> dict[tuple[int, int], str]:
    """{(child id, period id): why it would be refused now}, shown in the cart before paying."""
    return {item.key: message for item, message in _item_refusals(items, now or timezone.now())}


def _describe_refusals(refused) -> str:
    return " ".join(f"{item.label} : {message}" for item, message in refused)


def add_to_cart(request_session, household, *, child_id, period_id, group_id, now=None) -> CartItem:
    """Put one child × period × group in the cart (replacing that child's line for the same period).
    Refused with a PaymentError naming the child when the enrolment could not be paid now."""
    now = now or timezone.now()
    entries = _raw_entries(request_session)
    wanted = {"child": int(child_id), "period": int(period_id), "group": int(group_id)}
    loaded = _load([wanted], household)
    if not loaded:
        raise PaymentError(
            "Cette inscription ne peut pas être payée en ligne : choisissez un de vos enfants, "
            "puis une période et un groupe de l'activité.",
            code="invalid_item",
        )
    item = loaded[0]
    refused = _item_refusals([item], now)
    if refused:
        raise PaymentError(_describe_refusals(refused), code="ineligible")
    others = [entry for entry in entries if (entry["child"], entry["period"]) != item.key]
    if len(others) >= MAX_ITEMS:
        raise PaymentError(
            f"Le panier d'inscriptions est limité à {MAX_ITEMS} inscriptions : payez-les d'abord.", code="cart_full"
        )
    _store(request_session, [*others, item.as_dict()])
    return item


def remove_from_cart(request_session, household, *, child_id, period_id) -> bool:
    """Take a line out of the cart. Returns False when it was not there."""
    entries = _raw_entries(request_session)
    kept = [entry for entry in entries if (entry["child"], entry["period"]) != (int(child_id), int(period_id))]
    _store(request_session, kept)
    return len(kept) != len(entries)


def clear_cart(request_session, household=None) -> None:
    """Empty the cart ("household" for symmetry with the other cart functions: the cart is per session)."""
    request_session.pop(SESSION_KEY, None)


# --- Paying the cart ------------------------------------------------------------------------------


def open_enrolment_attempt(household, now=None) -> PaymentAttempt | None:
    """The enrolment attempt still blocking a new one (pending and within its lock time), if any."""
    now = now or timezone.now()
    return (
        PaymentAttempt.objects.filter(
            household=household, purpose=AttemptPurpose.ENROLMENT, status__in=OPEN_STATUSES, lock_until__gt=now
        )
        .order_by("-created_at")
        .first()
    )


def wait_message(attempt, now) -> str:
    """services._wait_message, about enrolments ("mise en sécurité")."""
    from . import services

    return services._wait_message(attempt, now, what="ces inscriptions")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count > 1 else ''}"


def payment_label(items) -> str:
    """ "Inscription École municipale des sports (3 trimestres, 2 enfants)"."""
    activities = {item.activity.pk: item.activity for item in items}
    periods = {item.period.pk: item.period for item in items}
    children = {item.child.pk for item in items}
    word = "trimestre" if all("trimestre" in period.name.lower() for period in periods.values()) else "période"
    counts = f"{_plural(len(periods), word)}, {_plural(len(children), 'enfant')}"
    if len(activities) == 1:
        label = f"Inscription {next(iter(activities.values())).name} ({counts})"
    else:
        label = f"Inscriptions à {len(activities)} activités ({counts})"
    return label[:200]


def _regie_for(items):
    from . import services

    regies = {services.regie_for_activity(activity_id) for activity_id in {item.activity.pk for item in items}}
    regie = regies.pop() if len(regies) == 1 else None
    if regie is None or not regie.accepts_online:
        raise PaymentError(
            "Le paiement en ligne n'est pas ouvert pour ces inscriptions : contactez le service.", code="no_online"
        )
    return regie


def _fresh(items, household) -> list[CartItem]:
    """The items read again from the database (a child deactivated meanwhile is then refused by
    check_eligibility, not silently paid)."""
    children = {
        child.pk: child for child in Child.objects.filter(household=household, pk__in={i.child.pk for i in items})
    }
    periods = Period.objects.select_related("activity__facility").in_bulk({item.period.pk for item in items})
    groups = Group.objects.in_bulk({item.group.pk for item in items})
    fresh = []
    for item in items:
        child, period, group = children.get(item.child.pk), periods.get(item.period.pk), groups.get(item.group.pk)
        if child is None or period is None or group is None or group.activity_id != period.activity_id:
            raise PaymentError(f"{item.label} : cette inscription n'est plus proposée.", code="invalid_item")
        child.household = household
        group.activity = period.activity
        fresh.append(CartItem(child=child, period=period, group=group))
    return fresh


def payment_blocked(household, items, now=None) -> str:
    """Why "Payer" cannot be used now (no online payment, a payment still pending), or ""."""
    now = now or timezone.now()
    try:
        _regie_for(items)
    except PaymentError as refusal:
        return refusal.message
    blocking = open_enrolment_attempt(household, now)
    return wait_message(blocking, now) if blocking is not None else ""


def start_enrolment_payment(*, household, items, actor, absolute_url, channel=Channel.WEB, now=None):
    """ "Payer": send the cart's enrolments to the régie's bank. Returns services.Started.

    Every item is checked again (eligibility, places); one refusal refuses the payment, naming
    the child and the reason. No new attempt while one is pending within its lock time (no
    double payment). The payment, its allocations and the attempt are created in one
    transaction; the bank is called after it (no row lock held during the network call).
    """
    from . import services

    now = now or timezone.now()
    items = list(items)
    if not items:
        raise PaymentError("Aucune inscription à payer.", code="nothing_to_pay")
    if any(item.child.household_id != household.pk for item in items):
        raise PaymentError("Cette inscription ne concerne pas un enfant de votre dossier.", code="invalid_item")
    if len({item.key for item in items}) != len(items):
        raise PaymentError("Le panier contient deux fois la même inscription.", code="invalid_item")
    busy = PaymentError("Trop de demandes en même temps, réessayez dans un instant.", code="busy")
    with core_locking.capacity_transaction(lambda: busy):
        # One checkout per household at a time: two tabs clicking "Payer" wait for each other here.
        fresh_household = Household.objects.select_for_update().get(pk=household.pk)
        blocking = open_enrolment_attempt(household, now)
        if blocking is not None:
            raise PaymentError(wait_message(blocking, now), code="locked")
        items = _fresh(items, fresh_household)
        refused = _item_refusals(items, now)
        if refused:
            raise PaymentError(_describe_refusals(refused), code="ineligible")
        regie = _regie_for(items)
        amount = cart_total(items)
        if amount <= 0 or any(item.price_cents <= 0 for item in items):
            raise PaymentError("Le prix de ces inscriptions n'est pas fixé : contactez le service.", code="no_price")
        label = payment_label(items)
        payment = services.create_online_payment(
            regie=regie, household=household, amount_cents=amount, label=label, channel=channel, actor=actor, now=now
        )
        Allocation.objects.bulk_create(
            Allocation(
                payment=payment,
                kind=AllocationKind.ENROLMENT,
                amount_cents=item.price_cents,
                label=item.label[:200],
                pending_enrolment=item.as_dict(),
                created_at=now,
            )
            for item in items
        )
        attempt = services.new_attempt(payment, AttemptPurpose.ENROLMENT, actor, now)
        log_action(
            actor=actor,
            channel=channel,
            action="payment.started",
            obj=payment,
            household=household,
            after={
                "amount_cents": amount,
                "attempt": attempt.reference,
                "enrolments": [item.as_dict() for item in items],
            },
            message=f"Paiement en ligne de {format_euros(amount)} envoyé à la banque ({label}).",
        )
    return services.call_bank(attempt, absolute_url, household)


# --- The bank said PAID ---------------------------------------------------------------------------


def _pending_request(allocation, household):
    """(child, period, group) of an allocation's pending enrolment; PaymentError if one is gone."""
    data = allocation.pending_enrolment or {}
    child = Child.objects.select_related("household").filter(pk=data.get("child"), household_id=household.pk).first()
    period = Period.objects.select_related("activity").filter(pk=data.get("period")).first()
    group = Group.objects.filter(pk=data.get("group")).first()
    if child is None or period is None or group is None:
        raise PaymentError("L'enfant, la période ou le groupe n'existe plus.", code="gone")
    return child, period, group


def _enrol_and_book(allocation, household, now):
    from portail.bookings.services import book_enrolment_sessions
    from portail.enrolments.services import enrol_after_payment

    child, period, group = _pending_request(allocation, household)
    for attempt_number in range(1, BUSY_RETRIES + 1):
        try:
            with transaction.atomic():
                enrolment = enrol_after_payment(child=child, period=period, group=group, now=now)
                book_enrolment_sessions(enrolment=enrolment, paid_at=now, now=now)
                allocation.enrolment = enrolment
                allocation.save(update_fields=["enrolment"])
                return enrolment
        except BusinessError as refusal:
            if refusal.code != "busy" or attempt_number == BUSY_RETRIES:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def settle_enrolments(payment, attempt, now) -> list[Enrolment]:
    """Create the enrolments a PAID payment paid for (inside the transaction holding the attempt's
    row lock). Each one in its own savepoint: a refusal does not undo the others; its allocation
    is deleted (its amount stays as credit) and one incident lists them for the régisseur.
    Idempotent: allocations already settled or refused are not looked at again."""
    household = payment.household
    pending = payment.allocations.filter(
        kind=AllocationKind.ENROLMENT, enrolment__isnull=True, pending_enrolment__isnull=False
    ).order_by("pk")
    created, refused = [], []
    for allocation in pending:
        try:
            created.append(_enrol_and_book(allocation, household, now))
        except (BusinessError, PaymentError) as refusal:
            refused.append((allocation.label, allocation.amount_cents, refusal.message))
            allocation.delete()  # paid − allocated = credit on the household's account
    if refused:
        amount = sum(cents for _label, cents, _message in refused)
        many = len(refused) > 1
        what = f"{len(refused)} inscription{'s' if many else ''} n'{'ont' if many else 'a'} pas pu être créée{'s' if many else ''}"
        PaymentIncident.objects.create(
            kind=IncidentKind.ENROLMENT_REFUSED,
            regie=payment.regie,
            household=household,
            payment=payment,
            attempt=attempt,
            details=(
                f"Paiement {attempt.reference if attempt else payment.pk} confirmé par la banque, mais "
                f"{what} : {format_euros(amount)} restent en crédit sur le compte "
                "de la famille. "
                + " ; ".join(f"{label} ({format_euros(cents)}) : {message}" for label, cents, message in refused)
            ),
            created_at=now,
        )
        log_action(
            actor=None,
            channel=Channel.SYSTEM,
            action="payment.enrolment_refused",
            obj=payment,
            household=household,
            after={"credit_cents": amount, "refused": [label for label, _cents, _message in refused]},
            message=f"Paiement reçu mais {what} : {format_euros(amount)} mis en crédit.",
        )
    return created
