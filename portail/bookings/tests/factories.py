"""A bookable set-up: a household whose children hold validated enrolments in an activity with
one unit and sessions on given dates."""

import datetime as dt
from dataclasses import dataclass

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
