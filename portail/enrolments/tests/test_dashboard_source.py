"""Every enrolment request appears in the household's "Tableau de bord", in one query."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portail.enrolments.dashboard import enrolment_items
from portail.enrolments.models import EnrolmentStatus
from portail.portal import dashboard
from tests.factories import make_family

from .factories import EnrolmentFactory, make_child

pytestmark = pytest.mark.django_db


def test_enrolment_source_is_registered():
    assert enrolment_items in dashboard.sources()


def test_each_enrolment_request_is_a_dashboard_item():
    household, _, (child,) = make_family(children=1)
    child.first_name = "Léa"
    child.save(update_fields=["first_name"])
    enrolment = EnrolmentFactory(
        child=child,
        status=EnrolmentStatus.REFUSED,
        refusal_reason="Dossier incomplet",
        group__name="6-11 ans",
        group__activity__name="Pommiers mercredis",
        period__name="Année 2026-2027",
    )
    EnrolmentFactory(child=make_child())  # another household's
    (item,) = enrolment_items(household)
    assert item.kind_label == "Inscription"
    assert item.summary == "Léa – Pommiers mercredis – Année 2026-2027 – 6-11 ans"
    assert item.status_code == "refused" and item.status_label == "Refusée"
    assert item.reason == "Dossier incomplet"
    assert item.url == reverse("portal:enrolment_detail", kwargs={"enrolment_id": enrolment.pk})
    assert item.submitted_at == enrolment.created_at


@pytest.mark.parametrize(
    "status, code",
    [
        (EnrolmentStatus.REQUESTED, "pending"),
        (EnrolmentStatus.PRE_ENROLMENT, "pending"),
        (EnrolmentStatus.WAITING, "pending"),
        (EnrolmentStatus.OFFERED, "pending"),
        (EnrolmentStatus.VALIDATED, "accepted"),
        (EnrolmentStatus.CANCELLED, "cancelled"),
    ],
)
def test_dashboard_badge_follows_the_enrolment_state(status, code):
    household, _, (child,) = make_family(children=1)
    EnrolmentFactory(child=child, status=status)
    (item,) = enrolment_items(household)
    assert item.status_code == code and item.reason == ""


def test_source_reads_in_one_query(django_assert_num_queries):
    household, _, (child,) = make_family(children=1)
    for _ in range(4):
        EnrolmentFactory(child=child)
    with django_assert_num_queries(1):
        assert len(enrolment_items(household)) == 4


def test_dashboard_page_lists_enrolments_at_a_constant_query_count(client):
    counts = []
    for number in (1, 5):
        household, guardian, (child,) = make_family(children=1)
        for _ in range(number):
            EnrolmentFactory(child=child, group__activity__name="Pommiers mercredis")
        client.force_login(guardian.user)
        client.get(reverse("portal:dashboard"))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("portal:dashboard"))
        assert response.content.decode().count("Pommiers mercredis") == number
        counts.append(len(queries))
    assert counts[0] == counts[1]
