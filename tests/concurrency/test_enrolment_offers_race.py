"""Other enrolment races on real PostgreSQL: the offer-expiry job run twice at once (QUALITY
T1c: a place is passed on exactly once), and one child requested twice at once (the database
constraint turns the loser into a friendly message, never a second live enrolment)."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from portail.catalog.models import Activity
from portail.core.errors import BusinessError
from portail.core.models import Channel, LogEntry
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.enrolments.services import cancel_enrolment, request_enrolment
from portail.enrolments.waiting_list import expire_offers
from tests.factories import ActivityFactory, ChildFactory, GroupFactory, PeriodFactory

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL)"),
    pytest.mark.django_db(transaction=True),
]


def run_together(functions) -> list:
    """Run each function in its own thread and connection, released together; return results."""
    barrier = threading.Barrier(len(functions))
    results = [None] * len(functions)

    def work(index, function):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            results[index] = function()
        except BusinessError as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_expiry_job_run_twice_at_once_passes_each_offer_on_exactly_once():
    activity = ActivityFactory(validation_mode=Activity.ValidationMode.AUTO, offer_delay_hours=1)
    period = PeriodFactory(activity=activity)
    groups = [GroupFactory(activity=activity, capacity=1) for _ in range(5)]
    earlier = timezone.now() - dt.timedelta(hours=3)
    for group in groups:  # per group: one holder and two waiting; the holder leaves → an offer
        holder, *_ = [
            request_enrolment(
                child=ChildFactory(), period=period, group=group, actor=None, channel=Channel.WEB, now=earlier
            )
            for _ in range(3)
        ]
        cancel_enrolment(enrolment=holder, actor=None, channel=Channel.WEB, now=earlier)
    assert Enrolment.objects.filter(status=EnrolmentStatus.OFFERED).count() == 5

    first, second = run_together([expire_offers, expire_offers])

    assert sorted(first + second) == sorted(set(first + second))  # no offer expired twice
    assert len(first + second) == 5
    assert LogEntry.objects.filter(action="enrolment.offer_expired").count() == 5
    for group in groups:
        statuses = sorted(Enrolment.objects.filter(group=group).values_list("status", flat=True))
        assert statuses == sorted([EnrolmentStatus.CANCELLED, EnrolmentStatus.CANCELLED, EnrolmentStatus.OFFERED])


def test_same_child_requested_twice_at_once_gets_one_live_enrolment():
    activity = ActivityFactory(validation_mode=Activity.ValidationMode.AUTO)
    period = PeriodFactory(activity=activity)
    groups = [GroupFactory(activity=activity, capacity=10) for _ in range(8)]
    child = ChildFactory()

    results = run_together(
        [
            lambda g=g: request_enrolment(child=child, period=period, group=g, actor=None, channel=Channel.WEB)
            for g in groups
        ]
    )

    assert Enrolment.objects.filter(child=child).count() == 1
    refused = [r for r in results if isinstance(r, BusinessError)]
    assert len(refused) == 7
    assert {r.code for r in refused} == {"already_enrolled"}
