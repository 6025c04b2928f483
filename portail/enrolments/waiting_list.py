"""A waiting list that moves.

When a place frees up (refusal, cancellation, capacity raised, group move, declined or expired
offer), the first waiting enrolment gets an offer: it holds the place until `offer_expires_at`
(now + the activity's `offer_delay_hours`). The family accepts (the place becomes theirs) or
declines (the place goes to the next). An unanswered offer expires: `expire_offers`, run by
`manage.py expire_enrolment_offers`, cancels it with the reason "offre expirée" and passes the
place on. Expired entries are cancelled rather than sent back to the end of the list, so an
unresponsive family cannot hold the queue in a loop; they may make a new request, which joins
the end of the list.

Order: a rank set by staff (`reorder_waiting_list`), then the activity's published priority
(residents first / siblings first, decided when the entry joins the list), then arrival.
"""

import unicodedata
from datetime import timedelta

from django.db.models import Count, Q

from portail.catalog.models import Activity, Group
from portail.core.models import Channel
from portail.organisations.models import Town

from . import locking
from .common import audit, audit_before, locked_enrolment, moment, require_status
from .emails import notify_family
from .errors import EnrolmentError, error
from .models import HOLDING_STATUSES, Enrolment, EnrolmentStatus
from .selectors import WAITING_ORDER

OFFER_EXPIRED_REASON = "offre expirée"
OFFER_DECLINED_REASON = "offre déclinée par la famille"


# --- Priority ------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(text.replace("-", " ").replace("'", " ").split())


def is_resident(household) -> bool:
    """A household lives in the town when one of its guardians' city is the town's city.
    (A resident flag on the household would be more exact; see the enrolment report.)"""
    town = Town.current()
    town_city = _normalise(town.city or town.name) if town else ""
    if not town_city:
        return False
    return any(_normalise(city) == town_city for city in household.guardians.values_list("city", flat=True))


def has_enrolled_sibling(enrolment) -> bool:
    return (
        Enrolment.objects.filter(
            child__household_id=enrolment.child.household_id,
            activity_id=enrolment.activity_id,
            period_id=enrolment.period_id,
            status__in=HOLDING_STATUSES,
        )
        .exclude(child_id=enrolment.child_id)
        .exists()
    )


def waiting_priority_for(enrolment, activity) -> int:
    """0 = ahead under the activity's published criteria, 1 = the others (arrival order)."""
    rule = activity.waiting_list_priority
    if rule == Activity.WaitingListPriority.RESIDENTS_FIRST:
        return 0 if is_resident(enrolment.child.household) else 1
    if rule == Activity.WaitingListPriority.SIBLINGS_FIRST:
        return 0 if has_enrolled_sibling(enrolment) else 1
    return 1


def put_on_waiting_list(enrolment, activity, now) -> None:
    """Set the waiting fields (the caller saves)."""
    enrolment.status = EnrolmentStatus.WAITING
    enrolment.waiting_since = now
    enrolment.waiting_position = None
    enrolment.waiting_priority = waiting_priority_for(enrolment, activity)


# --- Offers --------------------------------------------------------------------------------


def _group_places_left(group_ids, period) -> dict[int, int | None]:
    rows = (
        Group.objects.filter(pk__in=group_ids)
        .annotate(
            held=Count("enrolments", filter=Q(enrolments__period=period, enrolments__status__in=HOLDING_STATUSES))
        )
        .values_list("pk", "capacity", "held")
    )
    return {pk: None if capacity is None else max(capacity - held, 0) for pk, capacity, held in rows}


def offer_places_locked(*, activity, period, group_ids, now) -> list[Enrolment]:
    """Give free places to the first waiting entries. The caller holds the locks of
    `lock_places(activity, *group_ids)`. With an activity-wide cap (whose lock serialises every
    group of the activity) the other groups' lists are served after the freed groups'."""
    candidates = sorted(set(group_ids))
    if activity.capacity is not None:
        others = Group.objects.filter(activity_id=activity.pk).exclude(pk__in=candidates)
        candidates += list(others.order_by("position", "name").values_list("pk", flat=True))
    left = _group_places_left(candidates, period)
    activity_left = None
    if activity.capacity is not None:
        held = Enrolment.objects.filter(activity_id=activity.pk, period=period, status__in=HOLDING_STATUSES).count()
        activity_left = max(activity.capacity - held, 0)
    offers = []
    for group_id in candidates:
        room = left.get(group_id, 0)
        if activity_left is not None:
            room = activity_left if room is None else min(room, activity_left)
        if room == 0:
            continue
        waiting = (
            Enrolment.objects.filter(group_id=group_id, period=period, status=EnrolmentStatus.WAITING)
            .select_related("child", "child__household", "period", "group")
            .order_by(*WAITING_ORDER)
        )
        for entry in waiting if room is None else waiting[:room]:
            before = audit_before(entry)
            entry.activity = activity
            entry.status = EnrolmentStatus.OFFERED
            entry.offered_at = now
            entry.offer_expires_at = now + timedelta(hours=activity.offer_delay_hours)
            entry.waiting_position = None
            entry.save(update_fields=["status", "offered_at", "offer_expires_at", "waiting_position"])
            audit(
                entry,
                actor=None,
                channel=Channel.SYSTEM,
                action="enrolment.offered",
                before=before,
                message="Place libérée proposée au premier de la liste d'attente.",
            )
            notify_family(entry, "offered")
            offers.append(entry)
            if activity_left is not None:
                activity_left -= 1
    return offers


def offer_freed_places(*, group, period, now=None) -> list[Enrolment]:
    """Offer the places free in `group` for `period` to its waiting list (locks, then offers)."""
    with locking.capacity_transaction():
        activity, _ = locking.lock_places(group.activity_id, group.pk)
        return offer_places_locked(activity=activity, period=period, group_ids=[group.pk], now=moment(now))


def accept_offer(*, enrolment, actor, channel=Channel.WEB, now=None) -> Enrolment:
    """The family takes the offered place: validated when the activity validates automatically,
    otherwise a request that keeps holding the place until staff decide."""
    now = moment(now)
    with locked_enrolment(enrolment) as (fresh, activity, _groups):
        require_status(fresh, EnrolmentStatus.OFFERED)
        if now >= fresh.offer_expires_at:
            raise error("offer_expired")
        before = audit_before(fresh)
        auto = activity.validation_mode == Activity.ValidationMode.AUTO
        fresh.status = EnrolmentStatus.VALIDATED if auto else EnrolmentStatus.REQUESTED
        fields = ["status"]
        if auto:
            fresh.decided_at, fresh.decided_by = now, None
            fields += ["decided_at", "decided_by"]
        fresh.save(update_fields=fields)
        audit(fresh, actor=actor, channel=channel, action="enrolment.offer_accepted", before=before)
        notify_family(fresh, "validated" if auto else "requested")
    return fresh


def _release_offer(fresh, activity, *, reason, actor, channel, action, email, now) -> list[Enrolment]:
    before = audit_before(fresh)
    fresh.status = EnrolmentStatus.CANCELLED
    fresh.cancellation_reason = reason
    fresh.decided_at = now
    fresh.save(update_fields=["status", "cancellation_reason", "decided_at"])
    audit(fresh, actor=actor, channel=channel, action=action, before=before, message=reason)
    if email:
        notify_family(fresh, email)
    return offer_places_locked(activity=activity, period=fresh.period, group_ids=[fresh.group_id], now=now)


def decline_offer(*, enrolment, actor, channel=Channel.WEB, now=None) -> Enrolment:
    """The family declines the offered place: it goes to the next on the list."""
    now = moment(now)
    with locked_enrolment(enrolment) as (fresh, activity, _groups):
        require_status(fresh, EnrolmentStatus.OFFERED)
        _release_offer(
            fresh,
            activity,
            reason=OFFER_DECLINED_REASON,
            actor=actor,
            channel=channel,
            action="enrolment.offer_declined",
            email="cancelled",
            now=now,
        )
    return fresh


def expire_offers(*, now=None) -> list[int]:
    """Cancel the offers whose delay has passed and offer their places to the next families.

    Safe to run twice or concurrently: each offer is handled in its own transaction, under the
    group lock, and re-read with SKIP LOCKED on PostgreSQL; one already handled is skipped.
    Returns the ids of the enrolments this run expired.
    """
    now = moment(now)
    expired = []
    due = (
        Enrolment.objects.filter(status=EnrolmentStatus.OFFERED, offer_expires_at__lte=now)
        .order_by("offer_expires_at", "pk")
        .values_list("pk", "activity_id", "group_id")
    )
    for pk, activity_id, group_id in list(due):
        try:
            with locking.capacity_transaction():
                activity, _ = locking.lock_places(activity_id, group_id)
                queryset = Enrolment.objects.filter(
                    pk=pk, group_id=group_id, status=EnrolmentStatus.OFFERED, offer_expires_at__lte=now
                ).select_related("child", "child__household", "period", "group")
                if locking.LOCKING_ENABLED:
                    queryset = queryset.select_for_update(skip_locked=True, of=("self",))
                fresh = queryset.first()
                if fresh is None:  # accepted, declined, moved or expired by another run meanwhile
                    continue
                fresh.activity = activity
                _release_offer(
                    fresh,
                    activity,
                    reason=OFFER_EXPIRED_REASON,
                    actor=None,
                    channel=Channel.SYSTEM,
                    action="enrolment.offer_expired",
                    email="offer_expired",
                    now=now,
                )
                expired.append(pk)
        except EnrolmentError as exc:
            if exc.code != "busy":
                raise
    return expired
