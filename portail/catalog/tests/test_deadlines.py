"""compute_deadline is pure: these tables never touch the database."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from portail.catalog.deadlines import PARIS, compute_deadline, is_before_deadline
from portail.organisations.holidays import public_holidays, school_holidays

PUBLIC = frozenset(public_holidays(range(2025, 2029)))
MOSELLE = frozenset(public_holidays(range(2025, 2029), "57"))
SCHOOL_A = frozenset(school_holidays(date(2025, 1, 1), date(2028, 8, 31), "A"))

D, W, P = "days_before", "working_days_before", "previous_week_day"


def deadline(session, kind, days=0, at=time(12, 0), weekday=None, public=False, school=False, holidays=PUBLIC):
    return compute_deadline(
        session_date=session,
        kind=kind,
        days=days,
        at_time=at,
        weekday=weekday,
        skip_public_holidays=public,
        skip_school_holidays=school,
        public_holidays=holidays,
        school_holidays=SCHOOL_A,
    )


def paris(y, m, d, hh=12, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=PARIS)


# (session date, kind, days, time, weekday, skip public, skip school) -> expected local deadline
ROWS = [
    # --- days_before ------------------------------------------------------------------------
    pytest.param(date(2026, 10, 7), D, 1, time(18), None, False, False, paris(2026, 10, 6, 18), id="veille"),
    pytest.param(date(2026, 10, 5), D, 1, time(18), None, True, False, paris(2026, 10, 4, 18), id="veille-is-sunday"),
    pytest.param(date(2026, 10, 7), D, 0, time(9), None, True, False, paris(2026, 10, 7, 9), id="same-day"),
    pytest.param(date(2026, 10, 7), D, 7, time(10, 30), None, False, False, paris(2026, 9, 30, 10, 30), id="a-week"),
    pytest.param(date(2026, 5, 4), D, 3, time(12), None, True, False, paris(2026, 4, 30), id="1-may-moves-earlier"),
    pytest.param(date(2026, 5, 4), D, 3, time(12), None, False, False, paris(2026, 5, 1), id="1-may-kept-no-flag"),
    pytest.param(date(2026, 11, 12), D, 1, time(18), None, True, False, paris(2026, 11, 10, 18), id="11-nov-skipped"),
    pytest.param(date(2027, 1, 2), D, 1, time(18), None, True, False, paris(2026, 12, 31, 18), id="new-year-skipped"),
    pytest.param(date(2027, 1, 1), D, 2, time(18), None, False, False, paris(2026, 12, 30, 18), id="year-boundary"),
    pytest.param(date(2026, 11, 2), D, 1, time(18), None, True, False, paris(2026, 10, 31, 18), id="all-saints-only"),
    pytest.param(date(2026, 11, 2), D, 1, time(18), None, False, True, paris(2026, 10, 16, 18), id="toussaint-skipped"),
    # --- working_days_before ------------------------------------------------------------------
    pytest.param(
        date(2026, 10, 5), W, 2, time(10), None, True, False, paris(2026, 10, 1, 10), id="monday-2wd-thursday"
    ),
    pytest.param(date(2026, 5, 11), W, 2, time(10), None, True, False, paris(2026, 5, 6, 10), id="8-may-friday-wed"),
    pytest.param(date(2026, 5, 11), W, 2, time(10), None, False, False, paris(2026, 5, 7, 10), id="8-may-no-flag"),
    pytest.param(date(2026, 5, 15), W, 1, time(10), None, True, False, paris(2026, 5, 13, 10), id="ascension"),
    pytest.param(date(2026, 5, 26), W, 1, time(10), None, True, False, paris(2026, 5, 22, 10), id="pentecost-monday"),
    pytest.param(date(2026, 10, 10), W, 1, time(10), None, True, False, paris(2026, 10, 9, 10), id="saturday-friday"),
    pytest.param(date(2026, 10, 7), W, 0, time(9), None, True, False, paris(2026, 10, 7, 9), id="zero-same-day"),
    pytest.param(date(2026, 10, 11), W, 0, time(9), None, True, False, paris(2026, 10, 9, 9), id="zero-sunday"),
    pytest.param(date(2026, 11, 2), W, 1, time(10), None, True, False, paris(2026, 10, 30, 10), id="holidays-count"),
    pytest.param(date(2026, 11, 2), W, 1, time(10), None, True, True, paris(2026, 10, 16, 10), id="holidays-skipped"),
    pytest.param(date(2027, 1, 4), W, 2, time(10), None, True, False, paris(2026, 12, 30, 10), id="over-new-year"),
    pytest.param(date(2026, 11, 16), W, 5, time(10), None, True, False, paris(2026, 11, 6, 10), id="five-over-11-nov"),
    # --- previous_week_day ------------------------------------------------------------------
    pytest.param(date(2026, 10, 5), P, 0, time(12), 4, True, False, paris(2026, 10, 2), id="monday"),
    pytest.param(date(2026, 10, 7), P, 0, time(12), 4, True, False, paris(2026, 10, 2), id="wednesday"),
    pytest.param(date(2026, 10, 9), P, 0, time(12), 4, True, False, paris(2026, 10, 2), id="friday-not-same-day"),
    pytest.param(date(2026, 10, 11), P, 0, time(12), 4, True, False, paris(2026, 10, 2), id="sunday-same-week"),
    pytest.param(date(2026, 10, 12), P, 0, time(12), 4, True, False, paris(2026, 10, 9), id="next-week"),
    pytest.param(date(2026, 5, 4), P, 0, time(12), 4, True, False, paris(2026, 4, 30), id="friday-1-may"),
    pytest.param(date(2026, 5, 4), P, 0, time(12), 4, False, False, paris(2026, 5, 1), id="friday-1-may-no-flag"),
    pytest.param(date(2026, 5, 13), P, 0, time(12), 4, True, False, paris(2026, 5, 7), id="friday-8-may"),
    pytest.param(date(2026, 11, 18), P, 0, time(12), 2, True, False, paris(2026, 11, 10), id="wednesday-11-nov"),
    pytest.param(date(2027, 1, 4), P, 0, time(12), 4, True, False, paris(2026, 12, 31), id="friday-new-year"),
    pytest.param(date(2026, 12, 30), P, 0, time(12), 4, True, False, paris(2026, 12, 24), id="friday-christmas"),
    pytest.param(date(2026, 11, 2), P, 0, time(12), 4, False, True, paris(2026, 10, 16), id="friday-in-holidays"),
    pytest.param(date(2026, 11, 2), P, 0, time(12), 4, False, False, paris(2026, 10, 30), id="holidays-no-flag"),
    pytest.param(date(2026, 10, 7), P, 0, time(18), 0, True, False, paris(2026, 9, 28, 18), id="monday-rule"),
]


@pytest.mark.parametrize("session,kind,days,at,weekday,public,school,expected", ROWS)
def test_deadline_table(session, kind, days, at, weekday, public, school, expected):
    result = deadline(session, kind, days, at, weekday, public, school)
    assert result == expected
    # Same wall clock, same zone: not merely the same instant.
    assert (result.date(), result.time()) == (expected.date(), expected.time())
    assert result.tzinfo.key == "Europe/Paris"


# (session, kind, days, weekday) -> expected deadline in UTC: "12 h"/"18 h" stay wall-clock Paris time.
DST_ROWS = [
    pytest.param(date(2026, 3, 30), D, 1, None, datetime(2026, 3, 29, 16, 0, tzinfo=UTC), id="march-sunday-summer"),
    pytest.param(date(2026, 3, 29), D, 1, None, datetime(2026, 3, 28, 17, 0, tzinfo=UTC), id="march-saturday-winter"),
    pytest.param(date(2026, 10, 26), D, 1, None, datetime(2026, 10, 25, 17, 0, tzinfo=UTC), id="october-sunday-winter"),
    pytest.param(date(2026, 10, 25), D, 1, None, datetime(2026, 10, 24, 16, 0, tzinfo=UTC), id="october-sat-summer"),
    pytest.param(date(2026, 3, 30), P, 0, 4, datetime(2026, 3, 27, 17, 0, tzinfo=UTC), id="friday-before-march"),
    pytest.param(date(2026, 4, 6), P, 0, 4, datetime(2026, 4, 3, 16, 0, tzinfo=UTC), id="friday-after-march"),
    pytest.param(date(2026, 10, 26), P, 0, 4, datetime(2026, 10, 23, 16, 0, tzinfo=UTC), id="friday-before-oct"),
    pytest.param(date(2026, 11, 2), P, 0, 4, datetime(2026, 10, 30, 17, 0, tzinfo=UTC), id="friday-after-oct"),
]


@pytest.mark.parametrize("session,kind,days,weekday,expected_utc", DST_ROWS)
def test_deadline_stays_wall_clock_across_daylight_saving(session, kind, days, weekday, expected_utc):
    result = deadline(session, kind, days, time(18), weekday, True, False)
    assert result.time() == time(18)
    assert result.astimezone(UTC) == expected_utc


def test_time_missing_on_spring_forward_night_resolves_after_the_jump():
    # 02:30 does not exist on 29 March 2026 in Paris: it resolves to 03:30 summer time (01:30 UTC).
    result = deadline(date(2026, 3, 30), D, 1, time(2, 30), None, False, False)
    assert result.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert result.astimezone(UTC).astimezone(PARIS).time() == time(3, 30)


def test_moselle_good_friday_moves_friday_rule_to_thursday():
    result = deadline(date(2026, 4, 6), P, 0, time(12), 4, True, False, holidays=MOSELLE)
    assert result == paris(2026, 4, 2)


def test_library_holidays_are_the_ones_skipped():
    for day in (date(2026, 5, 1), date(2026, 11, 11), date(2026, 5, 14), date(2026, 5, 25)):
        assert day in PUBLIC
    assert date(2026, 10, 21) in SCHOOL_A


# Changes are allowed strictly before the deadline: exactly at the deadline it is closed.
FRIDAY_NOON = paris(2026, 10, 2)
BOUNDARY_ROWS = [
    pytest.param(FRIDAY_NOON - timedelta(days=1), True, id="day-before"),
    pytest.param(FRIDAY_NOON - timedelta(seconds=1), True, id="one-second-before"),
    pytest.param(FRIDAY_NOON - timedelta(microseconds=1), True, id="one-microsecond-before"),
    pytest.param(FRIDAY_NOON, False, id="exactly-at"),
    pytest.param(FRIDAY_NOON + timedelta(seconds=1), False, id="one-second-after"),
    pytest.param(datetime(2026, 10, 2, 9, 59, 59, tzinfo=UTC), True, id="utc-before"),
    pytest.param(datetime(2026, 10, 2, 10, 0, 0, tzinfo=UTC), False, id="utc-exactly-at"),
]


@pytest.mark.parametrize("now,is_open", BOUNDARY_ROWS)
def test_changes_allowed_strictly_before_deadline(now, is_open):
    result = deadline(date(2026, 10, 7), P, 0, time(12), 4, True, False)
    assert result == FRIDAY_NOON
    assert is_before_deadline(result, now) is is_open


@pytest.mark.parametrize(
    "kind,days,weekday",
    [(P, 0, None), (P, 0, 7), ("unknown", 0, None), (D, -1, None)],
)
def test_invalid_rule_is_refused(kind, days, weekday):
    with pytest.raises(ValueError):
        deadline(date(2026, 10, 7), kind, days, time(12), weekday)


def test_every_day_skipped_is_an_error_not_a_hang():
    every_day = frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(800))
    with pytest.raises(ValueError):
        compute_deadline(
            session_date=date(2027, 6, 1),
            kind=W,
            days=1,
            at_time=time(12),
            weekday=None,
            skip_public_holidays=True,
            skip_school_holidays=False,
            public_holidays=every_day,
            school_holidays=frozenset(),
        )
