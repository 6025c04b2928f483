"""A bookable set-up: a household whose children hold validated enrolments in an activity with
one unit and sessions on given dates."""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from portail.catalog.models import PaymentMode
from portail.enrolments.models import EnrolmentStatus
from portail.enrolments.tests.factories import EnrolmentFactory
from tests.factories import (
    ActivityFactory,
    GroupFactory,
    PeriodFactory,
    SessionFactory,
    UnitFactory,
    make_family,
)

# Wednesdays of December 2026 (far enough from "today" in tests that fix the clock before).
WEDNESDAYS = [dt.date(2026, 12, 2), dt.date(2026, 12, 9), dt.date(2026, 12, 16)]


@dataclass
class Bookable:
    household: object
    guardian: object
    children: list
    activity: object
    unit: object
    sessions: list
    enrolments: list


def make_bookable(
    *,
    children=1,
    dates=WEDNESDAYS,
    capacity=None,
    payment_mode=PaymentMode.INVOICED,
    deadline_rule=None,
    price_cents=1000,
    activity=None,
    unit=None,
):
    household, guardian, kids = make_family(children=children)
    if activity is None:
        activity = ActivityFactory(payment_mode=payment_mode)
        unit = UnitFactory(activity=activity, capacity=capacity, price_cents=price_cents, deadline_rule=deadline_rule)
    period = activity.periods.first() or PeriodFactory(activity=activity)
    group = activity.groups.first() or GroupFactory(activity=activity, capacity=None)
    sessions = (
        [SessionFactory(unit=unit, date=day) for day in dates]
        if not unit.sessions.exists()
        else list(unit.sessions.order_by("date"))
    )
    enrolments = [
        EnrolmentFactory(child=kid, group=group, activity=activity, period=period, status=EnrolmentStatus.VALIDATED)
        for kid in kids
    ]
    return Bookable(household, guardian, kids, activity, unit, sessions, enrolments)


# --- Helpers for the service and staff-page tests ----------------------------------------------

PARIS = ZoneInfo("Europe/Paris")


def paris(year, month, day, hour=0, minute=0, second=0) -> dt.datetime:
    """An aware instant in Paris time (daylight saving handled by zoneinfo)."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=PARIS)


def make_rule(
    kind="previous_week_day", *, days=0, at=dt.time(12, 0), weekday=None, skip_public=True, skip_school=False
):
    """A booking-deadline rule ("vendredi 12 h pour la semaine suivante" by default)."""
    from portail.catalog.models import BookingDeadlineRule

    if kind == "previous_week_day" and weekday is None:
        weekday = 4
    return BookingDeadlineRule.objects.create(
        name=f"{kind} {days} {at} {weekday}",
        kind=kind,
        days=days,
        at_time=at,
        weekday=weekday,
        skip_public_holidays=skip_public,
        skip_school_holidays=skip_school,
    )


def make_booking(child, session, *, status=None, paid_at=None, price_cents=None, enrolment=None, **kwargs):
    """A booking row written directly (no service, no audit): the state a test starts from."""
    from portail.bookings.models import Booking, BookingStatus
    from portail.enrolments.models import Enrolment

    if enrolment is None:
        enrolment = Enrolment.objects.filter(child=child, activity_id=session.unit.activity_id).order_by("pk").first()
    return Booking.objects.create(
        child=child,
        session=session,
        enrolment=enrolment,
        status=status or BookingStatus.CONFIRMED,
        paid_at=paid_at,
        price_cents=session.unit.price_cents if price_cents is None else price_cents,
        **kwargs,
    )


def staff_member(role="Agent d'accueil"):
    from tests.factories import StaffFactory

    return StaffFactory(role=role)
