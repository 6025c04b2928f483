"""Query budgets: the hot pages read a fixed number of queries whatever the data size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portail.core.audit import Channel
from portail.households.models import AuthorizedPerson, FamilyQuotient, RequestKind
from portail.households.services import submit_request
from tests.factories import ChildFactory, HealthRecordFactory, SchoolFactory, make_family

from .factories import NO_HEALTH, add_child_request

pytestmark = pytest.mark.django_db


def _count(client, url, **params) -> int:
    client.get(url, params)  # warm up: the first request after login also writes the session
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(queries)


def _family_with(children: int):
    household, guardian, _ = make_family(children=0)
    FamilyQuotient.objects.create(household=household, value=900, valid_from="2020-01-01", valid_until="2099-01-01")
    school = SchoolFactory()
    for _ in range(children):
        child = ChildFactory(household=household, school=school)
        HealthRecordFactory(child=child)
        for name in ("Jo", "Ali"):
            AuthorizedPerson.objects.create(child=child, first_name=name, last_name="Durand", phone="0611223344")
    return household, guardian


def test_ma_famille_query_count_does_not_grow_with_children(client):
    counts = []
    for children in (1, 3):
        _, guardian = _family_with(children)
        client.force_login(guardian.user)
        counts.append(_count(client, reverse("portal:family")))
    assert counts[0] == counts[1]
    assert counts[0] <= 10, counts


def test_dashboard_query_count_does_not_grow_with_requests(client):
    counts = []
    for requests in (1, 5):
        household, guardian = _family_with(2)
        for index in range(requests):
            add_child_request(household, guardian, first_name=f"Enfant{index}")
        child = household.children.first()
        submit_request(
            household=household,
            kind=RequestKind.UPDATE_CHILD,
            payload={"school_level": "CM2"},
            target_id=child.pk,
            actor=guardian.user,
            channel=Channel.WEB,
        )
        client.force_login(guardian.user)
        counts.append(_count(client, reverse("portal:dashboard")))
    assert counts[0] == counts[1]


def test_staff_search_query_count_does_not_grow_with_households(client, agent):
    client.force_login(agent)
    for _ in range(5):
        make_family(children=2)
    small = _count(client, reverse("backoffice:households"))
    for _ in range(15):
        make_family(children=3)
    large = _count(client, reverse("backoffice:households"))
    searched = _count(client, reverse("backoffice:households"), q="Martin")
    assert small == large == searched
    assert small <= 9, small


def test_staff_queue_query_count_does_not_grow_with_requests(client, agent):
    client.force_login(agent)
    household, guardian = _family_with(1)
    add_child_request(household, guardian, **NO_HEALTH)
    small = _count(client, reverse("backoffice:requests"))
    for index in range(6):
        other, other_guardian = _family_with(2)
        add_child_request(other, other_guardian, first_name=f"X{index}", **NO_HEALTH)
    assert _count(client, reverse("backoffice:requests")) == small
