"""QUALITY P7: the family month planning issues at most 10 SQL queries whatever the number of
children and bookings (1 and 4 children, 0 and 31 booked days, a session every day of the month).

The budget counts the whole request: session, user, household, town, then the calendar.
"""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portail.bookings import services
from portail.bookings.models import Booking
from portail.core.models import Channel
from tests.factories import ActivityFactory, UnitFactory

from .factories import make_bookable

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=timezone.get_current_timezone())
DECEMBER = [dt.date(2026, 12, 1) + dt.timedelta(days=offset) for offset in range(31)]
BUDGET = 10


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _family(children: int, booked_days: int):
    activity = ActivityFactory()
    unit = UnitFactory(activity=activity, capacity=50, price_cents=500)
    setup = make_bookable(children=children, dates=DECEMBER, activity=activity, unit=unit)
    # A second unit on the same activity: two lines per child.
    second = UnitFactory(
        activity=activity,
        name="Soir",
        capacity=None,
        price_cents=250,
        start_time=dt.time(17, 30),
        end_time=dt.time(19, 0),
    )
    for day in DECEMBER:
        second.sessions.create(date=day)
    Booking.objects.bulk_create(
        Booking(child=child, session=session, enrolment=enrolment, price_cents=500, channel=Channel.WEB)
        for child, enrolment in zip(setup.children, setup.enrolments, strict=True)
        for session in setup.sessions[:booked_days]
    )
    # Pending changes too, so the banner and the cells have lines to show.
    services.toggle_cell(
        household=setup.household,
        child=setup.children[0],
        session_id=second.sessions.get(date=DECEMBER[-1]).pk,
        actor=None,
        channel=Channel.WEB,
    )
    return setup


def _month_queries(client, setup) -> tuple[int, str]:
    client.force_login(setup.guardian.user)
    url = reverse("portal:planning") + "?vue=mois&date=2026-12-01"
    client.get(url)  # warm the session bookkeeping (timeout middleware writes once)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize("children", [1, 4])
@pytest.mark.parametrize("booked_days", [0, 31])
def test_month_planning_stays_within_the_query_budget(client, django_assert_max_num_queries, children, booked_days):
    setup = _family(children, booked_days)
    client.force_login(setup.guardian.user)
    url = reverse("portal:planning") + "?vue=mois&date=2026-12-01"
    client.get(url)
    with django_assert_max_num_queries(BUDGET):
        response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('type="checkbox"') == children * 62
    assert page.count('class="cell state-booked') == children * booked_days
    assert "1 réservation en attente" in page


def test_query_count_does_not_grow_with_children_or_bookings(client):
    small, _ = _month_queries(client, _family(1, 0))
    client.logout()
    large, _ = _month_queries(client, _family(4, 31))
    assert small == large <= BUDGET


@pytest.mark.parametrize("children", [1, 4])
def test_waiting_lists_fit_in_the_same_budget(client, django_assert_max_num_queries, children):
    """Full sessions, some of which the children wait on: the waiting flags come with the sessions."""
    from portail.bookings.models import SessionWaitlistEntry

    setup = _family(children, 0)
    setup.activity.session_waiting_list = True
    setup.activity.save(update_fields=["session_waiting_list"])
    full_days = setup.sessions[:10]
    for session in full_days:
        session.capacity = 0
        session.save(update_fields=["capacity"])
    SessionWaitlistEntry.objects.bulk_create(
        SessionWaitlistEntry(child=child, household=setup.household, session=session)
        for child in setup.children
        for session in full_days[:5]
    )
    client.force_login(setup.guardian.user)
    url = reverse("portal:planning") + "?vue=mois&date=2026-12-01"
    client.get(url)
    with django_assert_max_num_queries(BUDGET):
        response = client.get(url)
    page = response.content.decode()
    assert page.count('class="cell state-waitlisted') == children * 5
    assert page.count('class="cell state-full') == children * 5
    assert page.count('class="cell-waitlist"') == children * 5
