"""Public holidays, school holidays and town closures: the days services may not open.

Library lookups are cached per year: deadlines and calendars ask for them on every page.
The cached values are frozensets so no caller can alter the cache by accident.
"""

import logging
from collections.abc import Iterable
from datetime import date, timedelta
from functools import lru_cache

import holidays as holidays_lib
from vacances_scolaires_france import SchoolHolidayDates

logger = logging.getLogger(__name__)

# Départements people type that the `holidays` library knows under another code.
_SUBDIVISION_ALIASES = {"67": "6AE", "68": "6AE"}


def _normalise_subdivision(subdivision: str) -> str:
    subdivision = (subdivision or "").strip()
    return _SUBDIVISION_ALIASES.get(subdivision, subdivision)


@lru_cache(maxsize=256)
def _public_holidays_for_year(year: int, subdivision: str) -> frozenset[date]:
    try:
        calendar = holidays_lib.France(years=year, subdiv=subdivision or None)
    except NotImplementedError:
        # A misconfigured subdivision must not take the portal down: fall back to national days.
        logger.warning("Unknown public-holiday subdivision %r; using national holidays.", subdivision)
        calendar = holidays_lib.France(years=year)
    return frozenset(calendar.keys())


def public_holidays(years: int | Iterable[int], subdivision: str = "") -> set[date]:
    """French public holidays ("jours fériés") of `years`; `subdivision` e.g. "57" for Moselle."""
    if isinstance(years, int):
        years = [years]
    subdivision = _normalise_subdivision(subdivision)
    result: set[date] = set()
    for year in years:
        result |= _public_holidays_for_year(int(year), subdivision)
    return result


@lru_cache(maxsize=1)
def _school_calendar() -> SchoolHolidayDates:
    return SchoolHolidayDates()  # reads a CSV: load it once per process


@lru_cache(maxsize=256)
def _school_holidays_for_year(year: int, zone: str) -> frozenset[date]:
    calendar = _school_calendar()
    if zone not in calendar.SUPPORTED_ZONES:
        logger.warning("Unknown school-holiday zone %r; no school holidays used.", zone)
        return frozenset()
    if not calendar.min_year <= year <= calendar.max_year:
        # Years the library does not know yet: no holidays rather than a crash (update the package).
        logger.warning("No school-holiday data for %s; update vacances-scolaires-france.", year)
        return frozenset()
    return frozenset(calendar.holidays_for_year_and_zone(year, zone).keys())


def school_holidays(start: date, end: date, zone: str) -> set[date]:
    """Days of school holidays ("vacances scolaires") of `zone` (A, B or C) between start and end inclusive.

    The library counts the weekends around each holiday as holidays too.
    """
    if end < start:
        return set()
    result: set[date] = set()
    for year in range(start.year, end.year + 1):
        result |= {day for day in _school_holidays_for_year(year, (zone or "").upper()) if start <= day <= end}
    return result


def closure_days(town, start: date, end: date) -> set[date]:
    """Days between start and end (inclusive) on which `town` closed its services (Closure rows)."""
    if town is None or end < start:
        return set()
    days: set[date] = set()
    for closure in town.closures.filter(start_date__lte=end, end_date__gte=start):
        day = max(closure.start_date, start)
        last = min(closure.end_date, end)
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return days


def clear_caches() -> None:
    """For tests that patch the libraries."""
    _public_holidays_for_year.cache_clear()
    _school_holidays_for_year.cache_clear()
    _school_calendar.cache_clear()
