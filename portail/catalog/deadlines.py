"""Booking deadlines ("délai de réservation", "heure de clôture").

`compute_deadline` is pure (no database): every holiday it needs is passed in. The wrappers below
fetch the town's holidays and call it.

Rules of the house:
- Changes (booking or cancelling) are allowed strictly BEFORE the deadline: at 12:00:00 sharp on a
  "vendredi 12 h" rule it is already closed.
- Deadlines are wall-clock times in Europe/Paris: "12 h" stays 12 h on both sides of a daylight-saving
  change. A time that does not exist on the night clocks go forward (02:30 on the last Sunday of March)
  resolves to the instant just after the jump (03:30 summer time).
- When a deadline lands on a day the rule skips, it moves EARLIER, never later: families keep the
  notice they were promised and the service still gets its lists on time. Moving it later would let
  families change things after staff have prepared the service.
"""

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from portail.organisations.holidays import public_holidays as _public_holidays
from portail.organisations.holidays import school_holidays as _school_holidays

from .models import DeadlineKind

PARIS = ZoneInfo("Europe/Paris")
# Safety net for pathological rules (every day skipped): a deadline is never more than this far back.
_MAX_LOOKBACK_DAYS = 400
SATURDAY = 5


class _Calendar:
    def __init__(self, *, skip_public, skip_school, public_holidays, school_holidays):
        self.skip_public = skip_public
        self.skip_school = skip_school
        self.public_holidays = public_holidays
        self.school_holidays = school_holidays

    def is_skipped(self, day: date) -> bool:
        return (self.skip_public and day in self.public_holidays) or (self.skip_school and day in self.school_holidays)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < SATURDAY and not self.is_skipped(day)

    def back_to(self, day: date, accept) -> date:
        """`day` itself if `accept(day)`, else the closest earlier day that is accepted."""
        for _ in range(_MAX_LOOKBACK_DAYS):
            if accept(day):
                return day
            day -= timedelta(days=1)
        raise ValueError("Aucune date de clôture possible : tous les jours précédents sont exclus.")


def compute_deadline(
    *,
    session_date: date,
    kind: str,
    days: int,
    at_time: time,
    weekday: int | None,
    skip_public_holidays: bool,
    skip_school_holidays: bool,
    public_holidays: frozenset[date],
    school_holidays: frozenset[date],
) -> datetime:
    """The last moment (aware, Europe/Paris) to book or cancel a session held on `session_date`.

    - days_before: `days` calendar days before, at `at_time` (days=1: "la veille"). A deadline on a
      skipped day moves to the previous non-skipped day (weekends are ordinary days here).
    - working_days_before: the `days`-th working day (Monday–Friday, minus skipped days) strictly before
      the session. days=0 means the session day itself, or the previous working day if it is not one.
    - previous_week_day: `weekday` (0 = Monday) of the week before the session's week. If that day is
      skipped, the previous working day.
    """
    if days < 0:
        raise ValueError("days must be >= 0")
    cal = _Calendar(
        skip_public=skip_public_holidays,
        skip_school=skip_school_holidays,
        public_holidays=public_holidays,
        school_holidays=school_holidays,
    )
    if kind == DeadlineKind.DAYS_BEFORE:
        day = cal.back_to(session_date - timedelta(days=days), lambda d: not cal.is_skipped(d))
    elif kind == DeadlineKind.WORKING_DAYS_BEFORE:
        # Count working days strictly before the session: Saturday session, 1 day -> Friday.
        day = session_date if days else cal.back_to(session_date, cal.is_working_day)
        for _ in range(days):
            day = cal.back_to(day - timedelta(days=1), cal.is_working_day)
    elif kind == DeadlineKind.PREVIOUS_WEEK_DAY:
        if weekday is None or not 0 <= weekday <= 6:
            raise ValueError("previous_week_day needs a weekday between 0 (Monday) and 6 (Sunday)")
        monday = session_date - timedelta(days=session_date.weekday())
        day = monday - timedelta(days=7) + timedelta(days=weekday)
        if cal.is_skipped(day):
            day = cal.back_to(day, cal.is_working_day)
    else:
        raise ValueError(f"Unknown deadline kind: {kind!r}")
    return datetime.combine(day, at_time, tzinfo=PARIS)


def is_before_deadline(deadline: datetime, now: datetime) -> bool:
    """Changes are allowed strictly before the deadline."""
    return now < deadline


# --- Wrappers that read the town's holidays --------------------------------------------------


def _town_or_current(town):
    if town is None:
        from portail.organisations.models import Town

        town = Town.current()
    return town


@lru_cache(maxsize=128)
def _holidays_around(year: int, subdivision: str, zone: str) -> tuple[frozenset[date], frozenset[date]]:
    public = frozenset(_public_holidays([year - 1, year], subdivision))
    school = frozenset(_school_holidays(date(year - 1, 1, 1), date(year, 12, 31), zone))
    return public, school


def holidays_for(town, session_date: date) -> tuple[frozenset[date], frozenset[date]]:
    """Public and school holidays around `session_date` for `town` (None: national days, zone A).

    The previous year is included because a deadline can fall there (a session on 4 January).
    Cached per year: booking pages ask for the deadline of every session they show.
    """
    subdivision = getattr(town, "holiday_subdivision", "") or ""
    zone = getattr(town, "school_holiday_zone", "") or "A"
    return _holidays_around(session_date.year, subdivision, zone)


def deadline_for(rule, session_date: date, town=None) -> datetime:
    """The deadline for a session on `session_date` under `rule`.

    A unit without a rule can be changed until the session day starts (midnight, Paris time).
    """
    if rule is None:
        return datetime.combine(session_date, time(0, 0), tzinfo=PARIS)
    town = _town_or_current(town)
    public, school = holidays_for(town, session_date)
    return compute_deadline(
        session_date=session_date,
        kind=rule.kind,
        days=rule.days,
        at_time=rule.at_time,
        weekday=rule.weekday,
        skip_public_holidays=rule.skip_public_holidays,
        skip_school_holidays=rule.skip_school_holidays,
        public_holidays=public,
        school_holidays=school,
    )


def deadline_for_session(session) -> datetime:
    """The deadline of a Session (uses its unit's rule and its facility's town)."""
    unit = session.unit
    return deadline_for(unit.deadline_rule, session.date, unit.activity.facility.town)


def is_open_for_changes(rule, session_date: date, now: datetime, town=None) -> bool:
    """True while a session on `session_date` can still be booked or cancelled under `rule`."""
    return is_before_deadline(deadline_for(rule, session_date, town), now)


# --- The rule in words ---------------------------------------------------------------------------

WEEKDAY_NAMES = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


def format_hour(value: time | None) -> str:
    """French clock time: 12 h, 8 h 30, minuit."""
    if value is None:
        return ""
    if value.hour == 0 and value.minute == 0:
        return "minuit"
    return f"{value.hour} h" + (f" {value.minute:02d}" if value.minute else "")


def describe_rule(rule) -> str:
    """A rule in the words families know: "la veille à 18 h", "vendredi 12 h pour la semaine suivante"."""
    at = format_hour(rule.at_time)
    if rule.kind == DeadlineKind.DAYS_BEFORE:
        if rule.days == 0:
            return f"le jour même à {at}"
        if rule.days == 1:
            return f"la veille à {at}"
        return f"{rule.days} jours avant à {at}"
    if rule.kind == DeadlineKind.WORKING_DAYS_BEFORE:
        if rule.days == 0:
            return f"le jour même à {at}"
        plural = "s" if rule.days > 1 else ""
        return f"{rule.days} jour{plural} ouvré{plural} avant à {at}"
    if rule.kind == DeadlineKind.PREVIOUS_WEEK_DAY and rule.weekday is not None and 0 <= rule.weekday <= 6:
        return f"{WEEKDAY_NAMES[rule.weekday]} {at} pour la semaine suivante"
    return str(rule)


def describe_rule_skips(rule) -> str:
    """What the rule jumps over, for staff: "jours fériés et vacances scolaires exclus"."""
    parts = []
    if rule.skip_public_holidays:
        parts.append("jours fériés")
    if rule.skip_school_holidays:
        parts.append("vacances scolaires")
    if not parts:
        return ""
    return " et ".join(parts) + " exclus"
