"""Reads of the catalog. Every list prefetches its children: query counts do not grow with the catalog."""

from dataclasses import dataclass, field
from datetime import date, time, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from .models import Activity, ActivityType, BookingDeadlineRule, Facility, Period, Session, Unit


@dataclass
class TypeSection:
    activity_type: ActivityType
    activities: list[Activity] = field(default_factory=list)


@dataclass
class FacilitySection:
    facility: Facility
    types: list[TypeSection] = field(default_factory=list)


@dataclass
class UnitDates:
    unit: Unit
    sessions: list[Session]


@dataclass
class MonthSessions:
    month: date  # first day of the month
    units: list[UnitDates]


def _units_queryset() -> QuerySet:
    return Unit.objects.select_related("deadline_rule")


def _with_children(queryset: QuerySet, *, periods: QuerySet) -> QuerySet:
    return queryset.select_related("facility", "activity_type", "school_year").prefetch_related(
        Prefetch("periods", queryset=periods), "groups", Prefetch("units", queryset=_units_queryset())
    )


def published_activities(*, today: date | None = None) -> QuerySet:
    """Activities families may see, with their current and future periods, groups and units."""
    today = today or timezone.localdate()
    activities = Activity.objects.filter(is_published=True, facility__is_active=True)
    return _with_children(activities, periods=Period.objects.filter(end_date__gte=today))


def published_activity(slug: str) -> Activity | None:
    return published_activities().filter(slug=slug).first()


def public_facilities() -> QuerySet:
    """Facilities that have something to show (for the catalog filter)."""
    return Facility.objects.filter(is_active=True, activities__is_published=True).distinct()


def public_activity_types() -> QuerySet:
    return ActivityType.objects.filter(activities__is_published=True, activities__facility__is_active=True).distinct()


def _group_by_facility_and_type(activities) -> list[FacilitySection]:
    """Facility → activity type → activities, each level in its configured order."""
    facilities: dict[int, FacilitySection] = {}
    for activity in activities:
        section = facilities.setdefault(activity.facility_id, FacilitySection(activity.facility))
        type_section = next((t for t in section.types if t.activity_type.pk == activity.activity_type_id), None)
        if type_section is None:
            type_section = TypeSection(activity.activity_type)
            section.types.append(type_section)
        type_section.activities.append(activity)
    result = sorted(facilities.values(), key=lambda s: (s.facility.position, s.facility.name))
    for section in result:
        section.types.sort(key=lambda t: (t.activity_type.position, t.activity_type.name))
        for type_section in section.types:
            type_section.activities.sort(key=lambda a: (a.position, a.name))
    return result


def public_catalog(
    *, facility: Facility | None = None, activity_type: ActivityType | None = None
) -> list[FacilitySection]:
    activities = published_activities()
    if facility is not None:
        activities = activities.filter(facility=facility)
    if activity_type is not None:
        activities = activities.filter(activity_type=activity_type)
    return _group_by_facility_and_type(activities)


def staff_catalog() -> list[FacilitySection]:
    """Everything, published or not, with every period: the staff overview."""
    activities = _with_children(Activity.objects.all(), periods=Period.objects.all())
    sections = _group_by_facility_and_type(activities)
    # Facilities without any activity yet still appear, so staff can add one.
    shown = {s.facility.pk for s in sections}
    sections += [FacilitySection(f) for f in Facility.objects.exclude(pk__in=shown)]
    return sections


def deadline_rules() -> QuerySet:
    return BookingDeadlineRule.objects.annotate(unit_count=Count("units"))


def open_sessions_for_month(*, activity: Activity, year: int, month: int) -> QuerySet:
    """The sessions of an activity's units that are open (not cancelled) in a month, by date then unit."""
    first = date(year, month, 1)
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    return (
        Session.objects.filter(unit__activity=activity, is_cancelled=False, date__gte=first, date__lt=next_first)
        .select_related("unit")
        .order_by("date", "unit__position", "unit__start_time", "unit__name")
    )


def _unit_order(unit_dates: UnitDates):
    unit = unit_dates.unit
    return (unit.position, unit.start_time or time.min, unit.name)


def upcoming_sessions_by_month(
    *, activity: Activity, today: date | None = None, months: int = 12
) -> list[MonthSessions]:
    """Open sessions from today for `months` months, grouped by month then unit (a compact calendar)."""
    today = today or timezone.localdate()
    until = today + timedelta(days=31 * months)
    sessions = (
        Session.objects.filter(unit__activity=activity, is_cancelled=False, date__gte=today, date__lte=until)
        .select_related("unit")
        .order_by("date")
    )
    by_month: dict[date, dict[int, UnitDates]] = {}
    for session in sessions:
        units = by_month.setdefault(session.date.replace(day=1), {})
        units.setdefault(session.unit_id, UnitDates(session.unit, [])).sessions.append(session)
    return [MonthSessions(month, sorted(units.values(), key=_unit_order)) for month, units in sorted(by_month.items())]


def unit_sessions(*, unit: Unit, start: date, end: date) -> QuerySet:
    return Session.objects.filter(unit=unit, date__range=(start, end)).order_by("date")


def unit_session_counts(unit: Unit) -> dict:
    return unit.sessions.aggregate(total=Count("pk"), cancelled=Count("pk", filter=Q(is_cancelled=True)))
