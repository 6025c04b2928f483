"""Reads about enrolments: places left, waiting ranks, household-scoped lists, the staff queue.

Remaining places are always computed from the enrolments that hold a place, never stored.
"""

from django.db.models import Count, F, Q
from django.http import Http404

from portail.catalog.models import Activity, Group

from .models import HOLDING_STATUSES, Enrolment, EnrolmentStatus

# Waiting-list order: a rank fixed by staff first, then the published priority, then arrival.
WAITING_ORDER = (F("waiting_position").asc(nulls_last=True), "waiting_priority", "waiting_since", "id")


def held_places(*, group, period) -> int:
    return Enrolment.objects.filter(group=group, period=period, status__in=HOLDING_STATUSES).count()


def held_places_for_activity(*, activity_id, period) -> int:
    return Enrolment.objects.filter(activity_id=activity_id, period=period, status__in=HOLDING_STATUSES).count()


def remaining_places(*, group, period, activity_capacity=...) -> int | None:
    """Places left in `group` for `period`, bounded by the activity-wide cap; None = unlimited.

    `activity_capacity` lets a caller that has just locked the activity row pass its fresh value.
    """
    if activity_capacity is ...:
        activity_capacity = Activity.objects.filter(pk=group.activity_id).values_list("capacity", flat=True).get()
    left = None
    if group.capacity is not None:
        left = max(group.capacity - held_places(group=group, period=period), 0)
    if activity_capacity is not None:
        activity_left = max(
            activity_capacity - held_places_for_activity(activity_id=group.activity_id, period=period), 0
        )
        left = activity_left if left is None else min(left, activity_left)
    return left


def remaining_places_by_group(period) -> dict[int, int | None]:
    """{group id: places left (None = unlimited)} for every group of the period's activity, in ONE query."""
    rows = list(
        Group.objects.filter(activity_id=period.activity_id)
        .annotate(
            held=Count("enrolments", filter=Q(enrolments__period=period, enrolments__status__in=HOLDING_STATUSES)),
            activity_capacity=F("activity__capacity"),
        )
        .values_list("id", "capacity", "held", "activity_capacity")
    )
    activity_left = None
    if rows and rows[0][3] is not None:
        activity_left = max(rows[0][3] - sum(row[2] for row in rows), 0)
    result = {}
    for group_id, capacity, held, _ in rows:
        left = None if capacity is None else max(capacity - held, 0)
        if activity_left is not None:
            left = activity_left if left is None else min(left, activity_left)
        result[group_id] = left
    return result


def waiting_list(*, group, period):
    """The waiting entries of a group for a period, first to be offered a place first."""
    return (
        Enrolment.objects.filter(group=group, period=period, status=EnrolmentStatus.WAITING)
        .select_related("child", "child__household")
        .order_by(*WAITING_ORDER)
    )


def waiting_rank(enrolment) -> int | None:
    """1-based rank of a waiting enrolment in its group's list; None when it is not waiting."""
    if enrolment.status != EnrolmentStatus.WAITING:
        return None
    ids = list(
        Enrolment.objects.filter(
            group_id=enrolment.group_id, period_id=enrolment.period_id, status=EnrolmentStatus.WAITING
        )
        .order_by(*WAITING_ORDER)
        .values_list("id", flat=True)
    )
    return ids.index(enrolment.pk) + 1 if enrolment.pk in ids else None


def waiting_ranks(enrolments) -> dict[int, int]:
    """{enrolment id: rank} for the waiting ones among `enrolments` (one query per group and period)."""
    ranks = {}
    keys = {(e.group_id, e.period_id) for e in enrolments if e.status == EnrolmentStatus.WAITING}
    for group_id, period_id in keys:
        ids = (
            Enrolment.objects.filter(group_id=group_id, period_id=period_id, status=EnrolmentStatus.WAITING)
            .order_by(*WAITING_ORDER)
            .values_list("id", flat=True)
        )
        ranks.update({pk: rank for rank, pk in enumerate(ids, start=1)})
    return ranks


def _with_relations(queryset):
    return queryset.select_related(
        "child", "child__household", "activity", "activity__facility", "period", "group"
    ).prefetch_related("weekly_pattern__unit")


def enrolments_for_household(household):
    """Every enrolment of the household's children, newest first ("Mes inscriptions")."""
    return _with_relations(Enrolment.objects.filter(child__household=household))


def get_enrolment_for_household(household, enrolment_id) -> Enrolment:
    """The household's enrolment, or 404: another household's id does not exist for this family."""
    enrolment = enrolments_for_household(household).filter(pk=enrolment_id).first()
    if enrolment is None:
        raise Http404("Inscription introuvable")
    return enrolment


def pending_enrolments(*, facility=None, activity=None, period=None, group=None):
    """The staff queue: requests and pre-enrolments waiting for a decision, oldest first."""
    queryset = Enrolment.objects.filter(status__in=[EnrolmentStatus.REQUESTED, EnrolmentStatus.PRE_ENROLMENT])
    if facility is not None:
        queryset = queryset.filter(activity__facility=facility)
    if activity is not None:
        queryset = queryset.filter(activity=activity)
    if period is not None:
        queryset = queryset.filter(period=period)
    if group is not None:
        queryset = queryset.filter(group=group)
    return _with_relations(queryset).order_by("created_at", "id")


def enrolments_for_list(*, activity, period=None, group=None, statuses=None):
    """The enrolment list of an activity (optionally a period and a group), for staff and exports."""
    queryset = Enrolment.objects.filter(activity=activity)
    if period is not None:
        queryset = queryset.filter(period=period)
    if group is not None:
        queryset = queryset.filter(group=group)
    if statuses is not None:
        queryset = queryset.filter(status__in=statuses)
    return _with_relations(queryset).order_by("group__position", "group__name", "child__last_name", "child__first_name")


# --- Family pages: batched reads (constant query counts) ----------------------------------


def remaining_places_for_activities(activities) -> dict[int, dict[int, int | None]]:
    """{period id: {group id: places left (None = unlimited)}} for every period and group of
    `activities`, in ONE query. Same rule as remaining_places_by_group; expects the activities'
    `periods` and `groups` prefetched (as the catalog selectors do)."""
    activities = list(activities)
    period_ids = [period.pk for activity in activities for period in activity.periods.all()]
    held: dict[tuple[int, int], int] = {}
    if period_ids:
        rows = (
            Enrolment.objects.filter(period_id__in=period_ids, status__in=HOLDING_STATUSES)
            .values_list("period_id", "group_id")
            .order_by()
            .annotate(n=Count("pk"))
        )
        held = {(period_id, group_id): n for period_id, group_id, n in rows}
    result = {}
    for activity in activities:
        groups = list(activity.groups.all())
        for period in activity.periods.all():
            activity_left = None
            if activity.capacity is not None:
                taken = sum(held.get((period.pk, group.pk), 0) for group in groups)
                activity_left = max(activity.capacity - taken, 0)
            places = {}
            for group in groups:
                left = None if group.capacity is None else max(group.capacity - held.get((period.pk, group.pk), 0), 0)
                if activity_left is not None:
                    left = activity_left if left is None else min(left, activity_left)
                places[group.pk] = left
            result[period.pk] = places
    return result


def waiting_ranks_at_once(enrolments) -> dict[int, int]:
    """{enrolment id: rank} like waiting_ranks, but in ONE query whatever the number of lists."""
    keys = {(e.group_id, e.period_id) for e in enrolments if e.status == EnrolmentStatus.WAITING}
    if not keys:
        return {}
    match = Q()
    for group_id, period_id in keys:
        match |= Q(group_id=group_id, period_id=period_id)
    rows = (
        Enrolment.objects.filter(match, status=EnrolmentStatus.WAITING)
        .order_by("group_id", "period_id", *WAITING_ORDER)
        .values_list("id", "group_id", "period_id")
    )
    ranks, counters = {}, {}
    for pk, group_id, period_id in rows:
        counters[(group_id, period_id)] = counters.get((group_id, period_id), 0) + 1
        ranks[pk] = counters[(group_id, period_id)]
    return ranks


def enrolment_history(enrolment):
    """The audit entries of one enrolment, oldest first (the family sees the steps, not who)."""
    from portail.core.models import LogEntry

    return LogEntry.objects.filter(object_type=Enrolment._meta.label, object_id=str(enrolment.pk)).order_by(
        "created_at", "id"
    )


def unit_weekdays(*, activity, period) -> dict[int, set[int]]:
    """{unit id: weekdays (0 = Monday) on which the unit has open sessions during the period}:
    the days a "semaine type" can ask for. Units without any session yet are absent."""
    from django.db.models.functions import ExtractIsoWeekDay

    from portail.catalog.models import Session

    rows = (
        Session.objects.filter(
            unit__activity=activity,
            is_cancelled=False,
            date__gte=period.start_date,
            date__lte=period.end_date,
        )
        .annotate(iso_day=ExtractIsoWeekDay("date"))
        .values_list("unit_id", "iso_day")
        .distinct()
        .order_by()
    )
    days: dict[int, set[int]] = {}
    for unit_id, iso_day in rows:
        days.setdefault(unit_id, set()).add(iso_day - 1)
    return days
