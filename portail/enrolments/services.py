"""Enrolment writes: requests, staff decisions, group moves, capacity, duplication.

Every function takes keyword-only arguments and runs in one transaction that first locks what
the places depend on (locking.py), writes an audit entry and e-mails the family after commit.
Views, management commands and the API call these; they catch EnrolmentError (a BusinessError)
and show its French message.

Waiting-list offers (accept, decline, expiry) live in waiting_list.py.
"""

from dataclasses import dataclass, field

from django.db import IntegrityError
from django.db.models import Count
from django.utils import timezone

from portail.catalog.models import Activity, Unit
from portail.core.audit import log_action
from portail.core.models import Channel

from . import locking
from .common import audit, audit_before, locked_enrolment, moment, require_status
from .eligibility import check_eligibility
from .emails import notify_family
from .errors import EnrolmentError, error
from .models import HOLDING_STATUSES, LIVE_STATUSES, Enrolment, EnrolmentStatus, WeeklyPattern
from .selectors import WAITING_ORDER, remaining_places
from .waiting_list import offer_places_locked, put_on_waiting_list

REFERENCE_PREFIX = "INS"


def _reference(enrolment) -> str:
    # Built from the primary key: unique without a counter row to lock ("INS-2026-000123").
    return f"{REFERENCE_PREFIX}-{timezone.localtime(enrolment.created_at).year}-{enrolment.pk:06d}"


def _pattern_lines(activity_id, weekly_pattern) -> list[tuple[int, int]]:
    """Validate (weekday, unit or unit id) pairs against the activity's units."""
    lines = []
    for weekday, unit in weekly_pattern:
        unit_id = unit.pk if isinstance(unit, Unit) else int(unit)
        lines.append((int(weekday), unit_id))
    if not lines:
        return []
    allowed = set(Unit.objects.filter(activity_id=activity_id).values_list("pk", flat=True))
    if any(not 0 <= day <= 6 or unit_id not in allowed for day, unit_id in lines):
        raise error("bad_weekly_pattern")
    return sorted(set(lines))


def _is_duplicate_live(exc: IntegrityError) -> bool:
    text = str(exc)
    return "one_live_enrolment_per_child_activity_period" in text or "enrolments_enrolment.child_id" in text


def _place_available(*, group, period, activity, now) -> bool:
    """Recompute the places under the lock. Waiting entries get free places first, so a new
    request never overtakes the list (e.g. after a capacity change made outside these services)."""
    left = remaining_places(group=group, period=period, activity_capacity=activity.capacity)
    if left != 0 and Enrolment.objects.filter(group=group, period=period, status=EnrolmentStatus.WAITING).exists():
        offer_places_locked(activity=activity, period=period, group_ids=[group.pk], now=now)
        left = remaining_places(group=group, period=period, activity_capacity=activity.capacity)
    return left != 0


def request_enrolment(*, child, period, group, actor, channel, memo="", weekly_pattern=(), now=None) -> Enrolment:
    """A family (or staff for them) asks to enrol `child` in `group` for `period`.

    Result: a pre-enrolment ("!", no place) when the activity needs documents or a commission;
    otherwise, with a place free, validated (automatic validation) or requested ("?", holding the
    place); with no place, waiting. Raises EnrolmentError with the eligibility reasons.
    """
    lines = _pattern_lines(period.activity_id, weekly_pattern)
    try:
        with locking.capacity_transaction():
            activity, groups = locking.lock_places(period.activity_id, group.pk)
            group = groups.get(group.pk, group)
            if group.activity_id == activity.pk:
                group.activity = activity
            # The clock starts once the lock is held: arrival order is the order places are taken.
            now = now or timezone.now()
            refusals = check_eligibility(child=child, period=period, group=group, now=now)
            if refusals:
                raise EnrolmentError(refusals=refusals, code=refusals[0].code)
            enrolment = Enrolment(
                child=child,
                activity=activity,
                period=period,
                group=group,
                memo=memo.strip(),
                channel=channel,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
                created_at=now,
            )
            if activity.requires_pre_enrolment:
                enrolment.status = EnrolmentStatus.PRE_ENROLMENT
            else:
                available = _place_available(group=group, period=period, activity=activity, now=now)
                locking.after_count()
                if not available:
                    put_on_waiting_list(enrolment, activity, now)
                elif activity.validation_mode == Activity.ValidationMode.AUTO:
                    enrolment.status, enrolment.decided_at = EnrolmentStatus.VALIDATED, now
                else:
                    enrolment.status = EnrolmentStatus.REQUESTED
            enrolment.save()
            enrolment.reference = _reference(enrolment)
            enrolment.save(update_fields=["reference"])
            WeeklyPattern.objects.bulk_create(
                [WeeklyPattern(enrolment=enrolment, weekday=day, unit_id=unit_id) for day, unit_id in lines]
            )
            audit(enrolment, actor=actor, channel=channel, action="enrolment.requested")
            notify_family(enrolment, enrolment.status)
    except IntegrityError as exc:
        if _is_duplicate_live(exc):  # two simultaneous requests for the same child
            raise error("already_enrolled", child=child.first_name) from exc
        raise
    return enrolment


# --- Staff decisions -----------------------------------------------------------------------


def _decide(fresh, *, actor, now, **changes):
    for name, value in changes.items():
        setattr(fresh, name, value)
    fresh.decided_by = actor if getattr(actor, "is_authenticated", False) else None
    fresh.decided_at = now
    fresh.save(update_fields=[*changes, "decided_by", "decided_at"])


def validate_enrolment(*, enrolment, actor, channel=Channel.STAFF, now=None) -> Enrolment:
    """Staff validate a request ("?" → "V"). Its place is already held, so nothing is recounted."""
    now = moment(now)
    with locked_enrolment(enrolment) as (fresh, _activity, _groups):
        require_status(fresh, EnrolmentStatus.REQUESTED)
        before = audit_before(fresh)
        _decide(fresh, actor=actor, now=now, status=EnrolmentStatus.VALIDATED)
        audit(fresh, actor=actor, channel=channel, action="enrolment.validated", before=before)
        notify_family(fresh, "validated")
    return fresh


def refuse_enrolment(*, enrolment, actor, reason, channel=Channel.STAFF, now=None) -> Enrolment:
    """Staff refuse a request, a pre-enrolment, a waiting entry or an offer, with a reason that is
    sent to the family. A place it held goes to the waiting list."""
    reason = (reason or "").strip()
    if not reason:
        raise error("reason_required")
    now = moment(now)
    with locked_enrolment(enrolment) as (fresh, activity, _groups):
        require_status(
            fresh,
            EnrolmentStatus.REQUESTED,
            EnrolmentStatus.PRE_ENROLMENT,
            EnrolmentStatus.WAITING,
            EnrolmentStatus.OFFERED,
        )
        held = fresh.holds_place
        before = audit_before(fresh)
        _decide(
            fresh, actor=actor, now=now, status=EnrolmentStatus.REFUSED, refusal_reason=reason, waiting_position=None
        )
        audit(fresh, actor=actor, channel=channel, action="enrolment.refused", before=before, message=reason)
        notify_family(fresh, "refused")
        if held:
            offer_places_locked(activity=activity, period=fresh.period, group_ids=[fresh.group_id], now=now)
    return fresh


def accept_pre_enrolment(*, enrolment, actor, channel=Channel.STAFF, now=None) -> Enrolment:
    """Staff accept a pre-enrolment ("!"): the staff decision validates it when a place is free;
    otherwise it joins the waiting list from now on."""
    now = moment(now)
    with locked_enrolment(enrolment) as (fresh, activity, _groups):
        require_status(fresh, EnrolmentStatus.PRE_ENROLMENT)
        before = audit_before(fresh)
        if _place_available(group=fresh.group, period=fresh.period, activity=activity, now=now):
            _decide(fresh, actor=actor, now=now, status=EnrolmentStatus.VALIDATED)
        else:
            put_on_waiting_list(fresh, activity, now)
            _decide(
                fresh,
                actor=actor,
                now=now,
                status=EnrolmentStatus.WAITING,
                waiting_since=now,
                waiting_position=None,
                waiting_priority=fresh.waiting_priority,
            )
        audit(fresh, actor=actor, channel=channel, action="enrolment.pre_enrolment_accepted", before=before)
        notify_family(fresh, fresh.status)
    return fresh


def cancel_enrolment(*, enrolment, actor, channel, reason="", now=None) -> Enrolment:
    """The family or staff cancel a live enrolment; a place it held goes to the waiting list."""
    now = moment(now)
    with locked_enrolment(enrolment) as (fresh, activity, _groups):
        require_status(fresh, *LIVE_STATUSES)
        held = fresh.holds_place
        before = audit_before(fresh)
        _decide(
            fresh,
            actor=actor,
            now=now,
            status=EnrolmentStatus.CANCELLED,
            cancellation_reason=(reason or "").strip()[:200],
            waiting_position=None,
        )
        audit(fresh, actor=actor, channel=channel, action="enrolment.cancelled", before=before, message=reason)
        notify_family(fresh, "cancelled")
        if held:
            offer_places_locked(activity=activity, period=fresh.period, group_ids=[fresh.group_id], now=now)
    return fresh


def move_to_group(*, enrolment, group, actor, channel=Channel.STAFF, now=None) -> Enrolment:
    """ "Affecter les groupes": move a live enrolment to another group of the same activity. The
    child must fit the target's band; an enrolment holding a place needs a free place there."""
    now = moment(now)
    with locked_enrolment(enrolment, group.pk) as (fresh, activity, groups):
        require_status(fresh, *LIVE_STATUSES)
        target = groups.get(group.pk, group)
        if target.pk == fresh.group_id:
            raise error("same_group")
        if target.activity_id != fresh.activity_id:
            raise error("other_activity_group")
        refusals = check_eligibility(
            child=fresh.child,
            period=fresh.period,
            group=target,
            now=now,
            check_window_dates=False,
            exclude_enrolment=fresh,
        )
        if refusals:
            raise EnrolmentError(refusals=refusals, code=refusals[0].code)
        held = fresh.holds_place
        if held and target.capacity is not None:
            # Only the group cap matters: moving inside the activity does not change its total.
            taken = Enrolment.objects.filter(group=target, period=fresh.period, status__in=HOLDING_STATUSES).count()
            if taken >= target.capacity:
                raise error("group_full", group=target.name)
        old_group_id = fresh.group_id
        before = audit_before(fresh)
        fresh.group, fresh.waiting_position = target, None
        fresh.save(update_fields=["group", "waiting_position"])
        audit(fresh, actor=actor, channel=channel, action="enrolment.group_changed", before=before)
        notify_family(fresh, "group_changed")
        # The old group may have a free place now; a waiting entry may find room in the new one.
        offer_places_locked(activity=activity, period=fresh.period, group_ids=[old_group_id, target.pk], now=now)
    return fresh


def raise_capacity(*, group, new_capacity, actor, channel=Channel.STAFF, now=None) -> list[Enrolment]:
    """Set a group's capacity (never below the places already held in any period) and offer the
    new places to the waiting lists. Returns the offers made."""
    if new_capacity is None or int(new_capacity) < 0:
        raise error("capacity_invalid")
    new_capacity = int(new_capacity)
    now = moment(now)
    offers = []
    with locking.capacity_transaction():
        activity, groups = locking.lock_places(group.activity_id, group.pk)
        fresh = groups[group.pk]
        held = (
            Enrolment.objects.filter(group=fresh, status__in=HOLDING_STATUSES)
            .values("period_id")
            .order_by()
            .annotate(n=Count("pk"))
            .values_list("n", flat=True)
        )
        most = max(held, default=0)
        if new_capacity < most:
            raise error("capacity_below_held", held=most)
        before = {"capacity": fresh.capacity}
        fresh.capacity = new_capacity
        fresh.save(update_fields=["capacity"])
        log_action(
            actor=actor,
            channel=channel,
            action="group.capacity_changed",
            obj=fresh,
            before=before,
            after={"capacity": new_capacity},
        )
        periods = (
            Enrolment.objects.filter(group=fresh, status=EnrolmentStatus.WAITING)
            .values_list("period", flat=True)
            .distinct()
            .order_by("period")
        )
        for period in activity.periods.filter(pk__in=list(periods)):
            offers += offer_places_locked(activity=activity, period=period, group_ids=[fresh.pk], now=now)
    group.capacity = new_capacity
    return offers


def reorder_waiting_list(*, period, group, ordered_ids, actor, channel=Channel.STAFF) -> None:
    """Staff set the order of a group's waiting list. `ordered_ids` must list exactly the current
    waiting entries (otherwise the list changed meanwhile and nothing is saved)."""
    ordered_ids = [int(pk) for pk in ordered_ids]
    with locking.capacity_transaction():
        activity, groups = locking.lock_places(group.activity_id, group.pk)
        entries = {
            e.pk: e
            for e in Enrolment.objects.filter(group=group, period=period, status=EnrolmentStatus.WAITING).order_by(
                *WAITING_ORDER
            )
        }
        if len(ordered_ids) != len(set(ordered_ids)) or set(ordered_ids) != set(entries):
            raise error("waiting_list_changed")
        previous = list(entries)
        for position, pk in enumerate(ordered_ids, start=1):
            entries[pk].waiting_position = position
        Enrolment.objects.bulk_update(list(entries.values()), ["waiting_position"])
        log_action(
            actor=actor,
            channel=channel,
            action="enrolment.waiting_list_reordered",
            obj=groups[group.pk],
            before={"period": period.pk, "order": previous},
            after={"period": period.pk, "order": ordered_ids},
            message="Liste d'attente réordonnée par le service.",
        )


# --- Bulk and duplication ----------------------------------------------------------------


@dataclass
class BulkResult:
    done: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # (enrolment, French message)


def _bulk(enrolments, action) -> BulkResult:
    """Apply `action` to each enrolment in its own transaction: one refusal does not undo the others."""
    result = BulkResult()
    for enrolment in enrolments:
        try:
            result.done.append(action(enrolment))
        except EnrolmentError as exc:
            result.failed.append((enrolment, exc.message))
    return result


def bulk_validate(*, enrolments, actor, channel=Channel.STAFF, now=None) -> BulkResult:
    return _bulk(enrolments, lambda e: validate_enrolment(enrolment=e, actor=actor, channel=channel, now=now))


def bulk_refuse(*, enrolments, actor, reason, channel=Channel.STAFF, now=None) -> BulkResult:
    if not (reason or "").strip():
        raise error("reason_required")
    return _bulk(
        enrolments, lambda e: refuse_enrolment(enrolment=e, actor=actor, reason=reason, channel=channel, now=now)
    )


def duplicate_enrolment(*, enrolment, actor, channel, child=None, period=None, group=None, now=None) -> Enrolment:
    """ "Dupliquer l'inscription": the same request for another child and/or period, through
    request_enrolment (so eligibility, capacity and the waiting list apply). The memo and the
    weekly pattern are copied when the activity stays the same."""
    child = child or enrolment.child
    period = period or enrolment.period
    if child.pk == enrolment.child_id and period.pk == enrolment.period_id:
        raise error("duplicate_nothing_changes")
    same_activity = period.activity_id == enrolment.activity_id
    if group is None:
        if not same_activity:
            raise error("duplicate_needs_group")
        group = enrolment.group
    pattern = [(line.weekday, line.unit_id) for line in enrolment.weekly_pattern.all()] if same_activity else []
    return request_enrolment(
        child=child,
        period=period,
        group=group,
        actor=actor,
        channel=channel,
        memo=enrolment.memo,
        weekly_pattern=pattern,
        now=now,
    )


# --- Enrolments paid at once (portail.payments.enrolment_payment drives this) ---------------------

# The family paid while the enrolment window was open; the bank may confirm after it closed.
WINDOW_REFUSAL_CODES = ("window_not_open", "window_closed")


def enrol_after_payment(*, child, period, group, now, channel=Channel.WEB) -> Enrolment:
    """The bank confirmed the payment of an enrolment paid at once ("École municipale des sports"):
    create it VALIDATED (paid enrolments need no staff decision).

    Same rules as a request (eligibility, then a place under the lock), except the enrolment
    window. Raises EnrolmentError when it can no longer be created (the caller turns its amount
    into credit). Runs in its own savepoint inside the payment's transaction.
    """
    try:
        with locking.capacity_transaction():
            activity, groups = locking.lock_places(period.activity_id, group.pk)
            group = groups.get(group.pk, group)
            if group.activity_id == activity.pk:
                group.activity = activity
            refusals = [
                refusal
                for refusal in check_eligibility(child=child, period=period, group=group, now=now)
                if refusal.code not in WINDOW_REFUSAL_CODES
            ]
            if refusals:
                raise EnrolmentError(refusals=refusals, code=refusals[0].code)
            available = _place_available(group=group, period=period, activity=activity, now=now)
            locking.after_count()
            if not available:
                raise error("group_full", group=group.name)
            enrolment = Enrolment.objects.create(
                child=child,
                activity=activity,
                period=period,
                group=group,
                status=EnrolmentStatus.VALIDATED,
                channel=channel,
                created_at=now,
                decided_at=now,
            )
            enrolment.reference = _reference(enrolment)
            enrolment.save(update_fields=["reference"])
            audit(
                enrolment,
                actor=None,
                channel=Channel.SYSTEM,
                action="enrolment.paid",
                message="Inscription payée en ligne : validée à la confirmation du paiement.",
            )
            notify_family(enrolment, "validated")
    except IntegrityError as exc:
        if _is_duplicate_live(exc):
            raise error("already_enrolled", child=child.first_name) from exc
        raise
    return enrolment
