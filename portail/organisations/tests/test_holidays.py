"""Public holidays, school holidays and closures: the days services are closed."""

from datetime import date

import pytest

from portail.catalog.tests.factories import ClosureFactory
from portail.organisations import holidays
from portail.organisations.holidays import closure_days, public_holidays, school_holidays
from tests.factories import TownFactory


@pytest.mark.parametrize(
    "day",
    [date(2026, 1, 1), date(2026, 5, 1), date(2026, 5, 8), date(2026, 5, 14), date(2026, 5, 25), date(2026, 11, 11)],
)
def test_national_public_holidays_2026(day):
    assert day in public_holidays(2026)


def test_alsace_moselle_days_only_with_subdivision():
    national = public_holidays([2026])
    assert date(2026, 4, 3) not in national  # Vendredi saint
    assert date(2026, 12, 26) not in national  # Saint-Étienne
    for subdivision in ("57", "67", "68", "6AE"):
        local = public_holidays([2026], subdivision)
        assert {date(2026, 4, 3), date(2026, 12, 26)} <= local


def test_unknown_subdivision_falls_back_to_national_days():
    assert public_holidays(2026, "99") == public_holidays(2026)


def test_public_holidays_over_several_years():
    days = public_holidays(range(2026, 2028))
    assert date(2026, 11, 11) in days and date(2027, 5, 6) in days  # Ascension 2027


def test_public_holidays_are_cached():
    public_holidays(2026)
    hits = holidays._public_holidays_for_year.cache_info().hits
    public_holidays(2026)
    assert holidays._public_holidays_for_year.cache_info().hits == hits + 1


def test_returned_set_can_be_changed_without_touching_the_cache():
    days = public_holidays(2026)
    days.add(date(2026, 6, 6))
    assert date(2026, 6, 6) not in public_holidays(2026)


def test_toussaint_2026_zone_a():
    days = school_holidays(date(2026, 10, 1), date(2026, 11, 30), "A")
    assert date(2026, 10, 21) in days
    assert min(days) == date(2026, 10, 17) and max(days) == date(2026, 11, 1)
    assert date(2026, 11, 2) not in days


@pytest.mark.parametrize(
    "zone,first,last",
    [
        ("A", date(2027, 2, 13), date(2027, 2, 28)),
        ("B", date(2027, 2, 20), date(2027, 3, 7)),
        ("C", date(2027, 2, 6), date(2027, 2, 21)),
    ],
)
def test_winter_holidays_differ_by_zone(zone, first, last):
    days = school_holidays(date(2027, 2, 1), date(2027, 3, 31), zone)
    assert (min(days), max(days)) == (first, last)


def test_school_holidays_are_clipped_to_the_range():
    days = school_holidays(date(2026, 10, 20), date(2026, 10, 22), "A")
    assert days == {date(2026, 10, 20), date(2026, 10, 21), date(2026, 10, 22)}


def test_lowercase_zone_is_accepted():
    assert date(2026, 10, 21) in school_holidays(date(2026, 10, 1), date(2026, 10, 31), "a")


@pytest.mark.parametrize(
    "start,end,zone",
    [
        (date(2040, 1, 1), date(2040, 12, 31), "A"),
        (date(1980, 1, 1), date(1980, 12, 31), "A"),
        (date(2026, 1, 1), date(2026, 12, 31), "Z"),
    ],
)
def test_unknown_years_or_zones_give_no_holidays_without_crashing(start, end, zone):
    assert school_holidays(start, end, zone) == set()


def test_range_reaching_an_unknown_year_keeps_the_known_part():
    days = school_holidays(date(2028, 7, 1), date(2029, 12, 31), "A")
    assert days and all(day.year == 2028 for day in days)


def test_reversed_range_is_empty():
    assert school_holidays(date(2026, 11, 1), date(2026, 10, 1), "A") == set()


@pytest.mark.django_db
def test_closure_days_are_clipped_and_scoped_to_the_town():
    town = TownFactory()
    other = TownFactory(name="Autre-Ville")
    ClosureFactory(town=town, start_date=date(2026, 5, 15), end_date=date(2026, 5, 18))
    ClosureFactory(town=other, start_date=date(2026, 5, 20), end_date=date(2026, 5, 20))
    assert closure_days(town, date(2026, 5, 16), date(2026, 5, 31)) == {
        date(2026, 5, 16),
        date(2026, 5, 17),
        date(2026, 5, 18),
    }
    assert closure_days(town, date(2026, 6, 1), date(2026, 6, 30)) == set()
    assert closure_days(None, date(2026, 5, 1), date(2026, 5, 31)) == set()
