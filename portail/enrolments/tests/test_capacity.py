"""Places are computed from facts: group capacity, activity-wide cap, statuses that hold a place."""

import pytest

from portail.catalog.models import Activity
from portail.enrolments.models import EnrolmentStatus
from portail.enrolments.selectors import remaining_places, remaining_places_by_group
from tests.factories import GroupFactory, PeriodFactory

from .factories import EnrolmentFactory, make_child, make_offer, request

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "holds"),
    [
        (EnrolmentStatus.REQUESTED, True),
        (EnrolmentStatus.OFFERED, True),
        (EnrolmentStatus.VALIDATED, True),
        (EnrolmentStatus.PRE_ENROLMENT, False),
        (EnrolmentStatus.WAITING, False),
        (EnrolmentStatus.REFUSED, False),
        (EnrolmentStatus.CANCELLED, False),
    ],
)
def test_only_requests_offers_and_validated_enrolments_hold_a_place(status, holds):
    _, period, group = make_offer(capacity=3)
    EnrolmentFactory(group=group, period=period, status=status, refusal_reason="motif")
    assert remaining_places(group=group, period=period) == (2 if holds else 3)


def test_places_are_counted_per_period():
    activity, period, group = make_offer(capacity=2)
    other_period = PeriodFactory(activity=activity, name="Été")
    EnrolmentFactory(group=group, period=other_period)
    assert remaining_places(group=group, period=period) == 2
    assert remaining_places(group=group, period=other_period) == 1


def test_unlimited_group_has_no_remaining_count():
    _, period, group = make_offer(capacity=None)
    EnrolmentFactory(group=group, period=period)
    assert remaining_places(group=group, period=period) is None


def test_activity_wide_cap_bounds_every_group():
    activity, period, group = make_offer(capacity=5, activity_capacity=3)
    other = GroupFactory(activity=activity, capacity=None)
    EnrolmentFactory(group=group, period=period)
    EnrolmentFactory(group=other, period=period)
    assert remaining_places(group=group, period=period) == 1
    assert remaining_places(group=other, period=period) == 1


def test_activity_wide_cap_sends_requests_to_the_waiting_list():
    activity, period, group = make_offer(validation_mode=Activity.ValidationMode.AUTO, capacity=5, activity_capacity=2)
    other = GroupFactory(activity=activity, capacity=5)
    assert request(make_child(), period, group).status == EnrolmentStatus.VALIDATED
    assert request(make_child(), period, other).status == EnrolmentStatus.VALIDATED
    assert request(make_child(), period, other).status == EnrolmentStatus.WAITING


def test_remaining_places_by_group_uses_one_query(django_assert_num_queries):
    activity, period, full = make_offer(capacity=1, activity_capacity=None)
    roomy = GroupFactory(activity=activity, capacity=4)
    unlimited = GroupFactory(activity=activity, capacity=None)
    EnrolmentFactory(group=full, period=period)
    EnrolmentFactory(group=roomy, period=period, status=EnrolmentStatus.REQUESTED)
    EnrolmentFactory(group=roomy, period=period, status=EnrolmentStatus.WAITING)
    with django_assert_num_queries(1):
        result = remaining_places_by_group(period)
    assert result == {full.pk: 0, roomy.pk: 3, unlimited.pk: None}


def test_remaining_places_by_group_applies_the_activity_cap():
    activity, period, group = make_offer(capacity=5, activity_capacity=4)
    other = GroupFactory(activity=activity, capacity=None)
    EnrolmentFactory(group=group, period=period)
    EnrolmentFactory(group=other, period=period)
    EnrolmentFactory(group=other, period=period)
    assert remaining_places_by_group(period) == {group.pk: 1, other.pk: 1}


def test_auto_validation_fills_exactly_the_capacity_then_waits():
    _, period, group = make_offer(validation_mode=Activity.ValidationMode.AUTO, capacity=3)
    statuses = [request(make_child(), period, group).status for _ in range(5)]
    assert statuses == [EnrolmentStatus.VALIDATED] * 3 + [EnrolmentStatus.WAITING] * 2
    assert remaining_places(group=group, period=period) == 0


def test_new_request_never_overtakes_the_waiting_list_when_capacity_changed_elsewhere():
    # A capacity edited outside the services (catalog form): the queue is served first.
    _, period, group = make_offer(capacity=1)
    request(make_child(), period, group)
    waiting = request(make_child(), period, group)
    group.capacity = 2
    group.save()
    newcomer = request(make_child(), period, group)
    waiting.refresh_from_db()
    assert waiting.status == EnrolmentStatus.OFFERED
    assert newcomer.status == EnrolmentStatus.WAITING
