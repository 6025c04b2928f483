"""Booking deadlines, table-driven through the booking services (not only the pure function).

Each case names a rule, a session date and the expected closing instant (Paris time). The family
can tick the cell one second before it and not at it (changes are allowed strictly before);
the same instant closes cancellations; staff may still act, and the audit says so.
"""

import datetime as dt

import pytest

from portail.bookings import services
from portail.bookings.errors import BookingError
from portail.bookings.models import BasketLine, Booking, BookingStatus, LineKind
from portail.bookings.selectors import household_calendar
from portail.core.models import Channel, LogEntry

from .factories import make_bookable, make_booking, make_rule, paris, staff_member

pytestmark = pytest.mark.django_db
SECOND = dt.timedelta(seconds=1)

FRIDAY_NOON = {"kind": "previous_week_day", "weekday": 4, "at": dt.time(12, 0)}
TWO_WORKING_DAYS = {"kind": "working_days_before", "days": 2, "at": dt.time(10, 0)}
ONE_WORKING_DAY = {"kind": "working_days_before", "days": 1, "at": dt.time(10, 0)}
DAY_BEFORE = {"kind": "days_before", "days": 1, "at": dt.time(18, 0)}

CASES = [
    # "avant vendredi midi pour le lundi suivant" (seed 002)
    pytest.param(FRIDAY_NOON, {}, dt.date(2026, 11, 16), paris(2026, 11, 13, 12), id="friday-noon-for-next-monday"),
    pytest.param(FRIDAY_NOON, {}, dt.date(2026, 11, 18), paris(2026, 11, 13, 12), id="friday-noon-for-next-wednesday"),
    # Friday 1 January 2027 is a public holiday: the deadline moves earlier, to Thursday 31 December.
    pytest.param(FRIDAY_NOON, {}, dt.date(2027, 1, 4), paris(2026, 12, 31, 12), id="friday-holiday-moves-earlier"),
    pytest.param(
        FRIDAY_NOON,
        {"skip_public": False},
        dt.date(2027, 1, 4),
        paris(2027, 1, 1, 12),
        id="holiday-kept-when-rule-says",
    ),
    # Skipping school holidays too: back over the whole Christmas break to Friday 18 December.
    pytest.param(
        FRIDAY_NOON, {"skip_school": True}, dt.date(2027, 1, 4), paris(2026, 12, 18, 12), id="school-holidays-skipped"
    ),
    # Daylight saving ends on 25 October 2026: "12 h" stays 12 h on both sides.
    pytest.param(FRIDAY_NOON, {}, dt.date(2026, 10, 28), paris(2026, 10, 23, 12), id="summer-time-noon"),
    pytest.param(FRIDAY_NOON, {}, dt.date(2026, 11, 4), paris(2026, 10, 30, 12), id="winter-time-noon"),
    # Working days: weekends skipped, and 11 November (a Wednesday) too.
    pytest.param(
        TWO_WORKING_DAYS, {}, dt.date(2026, 11, 13), paris(2026, 11, 10, 10), id="working-days-skip-armistice"
    ),
    pytest.param(
        TWO_WORKING_DAYS,
        {"skip_public": False},
        dt.date(2026, 11, 13),
        paris(2026, 11, 11, 10),
        id="working-days-holiday-counted-when-rule-says",
    ),
    pytest.param(TWO_WORKING_DAYS, {}, dt.date(2026, 11, 16), paris(2026, 11, 12, 10), id="working-days-skip-weekend"),
    pytest.param(ONE_WORKING_DAY, {}, dt.date(2026, 11, 2), paris(2026, 10, 30, 10), id="school-holidays-count"),
    pytest.param(
        ONE_WORKING_DAY,
        {"skip_school": True},
        dt.date(2026, 11, 2),
        paris(2026, 10, 16, 10),
        id="school-holidays-skipped-working-days",
    ),
    # Calendar days: the weekend is an ordinary day ("la veille à 18 h" of a Monday is Sunday).
    pytest.param(DAY_BEFORE, {}, dt.date(2026, 11, 16), paris(2026, 11, 15, 18), id="day-before-sunday"),
    pytest.param(DAY_BEFORE, {}, dt.date(2026, 11, 12), paris(2026, 11, 10, 18), id="day-before-skips-holiday"),
]


def _setup(rule, skips, day):
    kind_args = {k: v for k, v in rule.items()}
    kind = kind_args.pop("kind")
    return make_bookable(dates=[day], deadline_rule=make_rule(kind, **kind_args, **skips))


def _tick(setup, now, child=None):
    return services.toggle_cell(
        household=setup.household,
        child=child or setup.children[0],
        session_id=setup.sessions[0].pk,
        actor=setup.guardian.user,
        channel=Channel.WEB,
        now=now,
    )


@pytest.mark.parametrize(("rule", "skips", "day", "deadline"), CASES)
def test_family_can_book_until_one_second_before_the_deadline(rule, skips, day, deadline):
    setup = _setup(rule, skips, day)
    change = _tick(setup, deadline - SECOND)
    assert change.line.kind == LineKind.ADD
    services.confirm_basket(household=setup.household, actor=None, channel=Channel.WEB, now=deadline - SECOND)
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() == 1


@pytest.mark.parametrize(("rule", "skips", "day", "deadline"), CASES)
def test_booking_at_the_deadline_is_refused(rule, skips, day, deadline):
    setup = _setup(rule, skips, day)
    with pytest.raises(BookingError) as info:
        _tick(setup, deadline)
    assert info.value.code == "past_deadline"
    assert not BasketLine.objects.exists()


@pytest.mark.parametrize(("rule", "skips", "day", "deadline"), CASES)
def test_calendar_shows_the_same_deadline_and_greys_the_cell(rule, skips, day, deadline):
    setup = _setup(rule, skips, day)
    before = household_calendar(setup.household, start=day, end=day, now=deadline - SECOND)
    cell = before.children[0].rows[0].cells[0]
    assert cell.deadline == deadline
    assert cell.editable and cell.state == "free"
    after = household_calendar(setup.household, start=day, end=day, now=deadline)
    cell = after.children[0].rows[0].cells[0]
    assert not cell.editable
    assert cell.reason.startswith("Délai dépassé")


@pytest.mark.parametrize(("rule", "skips", "day", "deadline"), CASES[:3])
def test_cancelling_closes_at_the_same_instant(rule, skips, day, deadline):
    setup = _setup(rule, skips, day)
    make_booking(setup.children[0], setup.sessions[0])
    change = _tick(setup, deadline - SECOND)
    assert change.line.kind == LineKind.REMOVE
    _tick(setup, deadline - SECOND)  # undo
    with pytest.raises(BookingError) as info:
        _tick(setup, deadline)
    assert info.value.code == "past_deadline"


def test_refusal_names_the_deadline_in_french():
    setup = make_bookable(dates=[dt.date(2026, 11, 16)], deadline_rule=make_rule())
    with pytest.raises(BookingError) as info:
        _tick(setup, paris(2026, 11, 14, 9))
    assert info.value.message == "Réservation possible jusqu'au vendredi 13 novembre à 12 h : ce délai est dépassé."


def test_unit_without_rule_closes_at_midnight_of_the_day():
    setup = make_bookable(dates=[dt.date(2026, 11, 16)])
    _tick(setup, paris(2026, 11, 15, 23, 59, 59))
    services.clear_basket(household=setup.household, actor=None, channel=Channel.WEB)
    with pytest.raises(BookingError):
        _tick(setup, paris(2026, 11, 16, 0, 0))


def test_a_line_whose_deadline_passed_before_validation_saves_nothing():
    """The deadline is checked again at "Valider": all or nothing, with the cell named."""
    setup = make_bookable(dates=[dt.date(2026, 11, 16), dt.date(2026, 11, 23)], deadline_rule=make_rule())
    setup.activity.basket_hold_minutes = 24 * 60
    setup.activity.save()
    child = setup.children[0]
    for session in setup.sessions:
        services.toggle_cell(
            household=setup.household,
            child=child,
            session_id=session.pk,
            actor=None,
            channel=Channel.WEB,
            now=paris(2026, 11, 13, 11, 50),
        )
    with pytest.raises(BookingError) as info:
        services.confirm_basket(household=setup.household, actor=None, channel=Channel.WEB, now=paris(2026, 11, 13, 12))
    assert info.value.code == "past_deadline"
    assert "lundi 16 novembre 2026" in info.value.message
    assert not Booking.objects.exists()
    assert BasketLine.objects.count() == 2


@pytest.mark.parametrize(("rule", "skips", "day", "deadline"), CASES[:2])
def test_staff_may_book_after_the_deadline_and_the_audit_says_so(rule, skips, day, deadline):
    setup = _setup(rule, skips, day)
    agent = staff_member()
    booking = services.staff_book(child=setup.children[0], session_id=setup.sessions[0].pk, actor=agent, now=deadline)
    entry = LogEntry.objects.get(action="booking.created", object_id=str(booking.pk))
    assert "(hors délai, par la Mairie)" in entry.message
    assert entry.after["past_deadline"] is True
    assert (entry.channel, entry.actor, entry.household) == (Channel.STAFF, agent, setup.household)


def test_staff_booking_before_the_deadline_is_not_marked_late():
    setup = make_bookable(dates=[dt.date(2026, 11, 16)], deadline_rule=make_rule())
    booking = services.staff_book(
        child=setup.children[0], session_id=setup.sessions[0].pk, actor=staff_member(), now=paris(2026, 11, 13, 11)
    )
    entry = LogEntry.objects.get(action="booking.created", object_id=str(booking.pk))
    assert "hors délai" not in entry.message
    assert "past_deadline" not in entry.after


def test_staff_validating_a_basket_past_the_deadline_is_audited():
    setup = make_bookable(dates=[dt.date(2026, 11, 16)], deadline_rule=make_rule())
    agent = staff_member()
    late = paris(2026, 11, 14, 9)
    services.toggle_cell(
        household=setup.household,
        child=setup.children[0],
        session_id=setup.sessions[0].pk,
        actor=agent,
        channel=Channel.STAFF,
        bypass_deadline=True,
        now=late,
    )
    services.confirm_basket(
        household=setup.household, actor=agent, channel=Channel.STAFF, bypass_deadline=True, now=late
    )
    entry = LogEntry.objects.get(action="booking.created")
    assert entry.message.endswith("(hors délai, par la Mairie)")
    assert entry.channel == Channel.STAFF


def test_a_pending_change_can_be_undone_after_its_deadline():
    setup = make_bookable(dates=[dt.date(2026, 11, 16)], deadline_rule=make_rule())
    setup.activity.basket_hold_minutes = 24 * 60
    setup.activity.save()
    deadline = paris(2026, 11, 13, 12)
    _tick(setup, deadline - SECOND)
    day = setup.sessions[0].date
    cell = household_calendar(setup.household, start=day, end=day, now=deadline).children[0].rows[0].cells[0]
    assert (cell.state, cell.editable) == ("pending_add", True)
    assert _tick(setup, deadline).undone
    assert not BasketLine.objects.exists()
