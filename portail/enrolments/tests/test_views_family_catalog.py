"""The public catalog with enrolment facts: places left per group and period, and an
"S'inscrire" link for logged-in families, at a constant query count."""

import datetime as dt
import html as htmllib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portail.enrolments.models import EnrolmentStatus
from portail.enrolments.selectors import remaining_places_by_group, remaining_places_for_activities
from portail.households.models import HouseholdStatus
from tests.factories import ActivityFactory, GroupFactory, PeriodFactory, make_family

from .factories import EnrolmentFactory, make_child, make_offer, request

pytestmark = pytest.mark.django_db
CATALOG = reverse("portal:catalog")


def html_of(response):
    return htmllib.unescape(response.content.decode())


@pytest.fixture
def offer():
    activity, period, group = make_offer(capacity=2)
    group.name = "Grands"
    group.save(update_fields=["name"])
    full = GroupFactory(activity=activity, name="Petits", capacity=1)
    GroupFactory(activity=activity, name="Tous", capacity=None)
    request(make_child(), period, group)
    request(make_child(birth_date=dt.date(2022, 1, 1)), period, full)
    return activity, period, group


def test_catalog_shows_places_left_per_group_for_each_period(client, offer):
    html = html_of(client.get(CATALOG))
    assert "Grands : 1 place restante" in html
    assert "Petits : complet – liste d'attente" in html
    assert "Tous : places disponibles" in html


def test_activity_page_shows_places_left_too(client, offer):
    activity, *_ = offer
    html = html_of(client.get(reverse("portal:activity_detail", args=[activity.slug])))
    assert "Grands : 1 place restante" in html


def test_places_count_only_enrolments_that_hold_one(client):
    activity, period, group = make_offer(capacity=12)
    for status in (EnrolmentStatus.WAITING, EnrolmentStatus.PRE_ENROLMENT, EnrolmentStatus.CANCELLED):
        EnrolmentFactory(group=group, period=period, status=status)
    EnrolmentFactory(group=group, period=period, status=EnrolmentStatus.REQUESTED)
    assert "11 places restantes" in html_of(client.get(CATALOG))


def test_logged_in_family_gets_an_enrol_link_for_open_periods_only(client, offer):
    activity, period, _ = offer
    upcoming = PeriodFactory(
        activity=activity,
        name="Été 2027",
        enrolment_opens_at=timezone.now() + dt.timedelta(days=10),
        enrolment_closes_at=timezone.now() + dt.timedelta(days=20),
    )
    _, guardian, _ = make_family()
    client.force_login(guardian.user)
    html = html_of(client.get(CATALOG))
    link = f"{reverse('portal:enrolment_new')}?activite={activity.slug}&periode={period.pk}"
    assert f'href="{link}"' in html
    assert f"periode={upcoming.pk}" not in html
    # The link leads to the guided form with the activity and period already chosen.
    form = client.get(link).context["choice"]
    assert form.activity == activity and form.period == period


@pytest.mark.parametrize("who", ["anonymous", "pending family", "staff"])
def test_no_enrol_link_for_visitors_pending_households_or_staff(client, offer, who):
    if who == "pending family":
        _, guardian, _ = make_family(status=HouseholdStatus.PENDING)
        client.force_login(guardian.user)
    elif who == "staff":
        from .factories import staff

        client.force_login(staff())
    assert "S'inscrire" not in html_of(client.get(CATALOG))


def test_batched_places_match_the_per_period_selector():
    activity, period, group = make_offer(capacity=3, activity_capacity=4)
    other = GroupFactory(activity=activity, capacity=None)
    second = PeriodFactory(activity=activity, name="Été")
    for target_group, target_period, status in [
        (group, period, EnrolmentStatus.VALIDATED),
        (group, period, EnrolmentStatus.OFFERED),
        (other, period, EnrolmentStatus.REQUESTED),
        (other, second, EnrolmentStatus.WAITING),
        (group, second, EnrolmentStatus.VALIDATED),
    ]:
        EnrolmentFactory(group=target_group, period=target_period, status=status)
    unlimited = ActivityFactory()
    unlimited_period = PeriodFactory(activity=unlimited)
    GroupFactory(activity=unlimited, capacity=None)
    activities = list(
        type(activity).objects.filter(pk__in=[activity.pk, unlimited.pk]).prefetch_related("periods", "groups")
    )
    batched = remaining_places_for_activities(activities)
    for p in (period, second, unlimited_period):
        assert batched[p.pk] == remaining_places_by_group(p), p.name
    assert batched[period.pk] == {group.pk: 1, other.pk: 1}  # the activity cap (4 − 3 held) binds


def _add_activities(count):
    for _ in range(count):
        activity, period, group = make_offer(capacity=5)
        GroupFactory(activity=activity, capacity=3)
        EnrolmentFactory(group=group, period=period)


@pytest.mark.parametrize("logged_in", [False, True])
def test_catalog_query_count_does_not_grow_with_activities_and_enrolments(client, logged_in):
    if logged_in:
        _, guardian, _ = make_family()
        client.force_login(guardian.user)
        client.get(CATALOG)  # warm up the session
    _add_activities(2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(CATALOG).status_code == 200
    _add_activities(8)
    with CaptureQueriesContext(connection) as many:
        response = client.get(CATALOG)
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert html_of(response).count("4 places restantes") == 10
