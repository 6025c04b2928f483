"""Capacity race on real PostgreSQL (ARCHITECTURE rules 3-5, QUALITY P1/T1).

100 households each ask for a place in a group of 10 with automatic validation, all at once,
each request on its own database connection. With the group lock: exactly 10 validated and 90
on the waiting list in arrival order, in every one of 10 repetitions. The negative control runs
the same scenario with the lock switched off and a 5 ms pause between "count" and "write"
(pretix's sleep-after-quota-check idea): it must overbook at least once, which proves the test
can see a race at all.

Connections: one per worker thread. PostgreSQL's default max_connections is 100, so the worker
count is what the server has free (up to 100); the barrier releases all workers together and
they share the 100 requests. Run with
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portail .venv/bin/python -m pytest tests/concurrency -q -s
"""

import os
import queue
import threading
import time

import pytest
from django.core import mail
from django.db import connection

from portail.catalog.models import Activity
from portail.core.errors import BusinessError
from portail.core.models import Channel
from portail.enrolments import locking
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.enrolments.selectors import waiting_list, waiting_rank
from portail.enrolments.services import request_enrolment
from portail.households.models import Child, Guardian, Household
from tests.factories import ActivityFactory, GroupFactory, PeriodFactory

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (set DATABASE_URL): SQLite serialises writers, so there is no race to observe",
    ),
    pytest.mark.django_db(transaction=True),
]

FAMILIES = 100
PLACES = 10
REPETITIONS = 10


def free_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
        )
        limit = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM pg_stat_activity")
        used = cursor.fetchone()[0]
    return limit - used


def worker_count() -> int:
    # Keep a margin of 10 connections for other sessions (and other test runs on the server),
    # and at most RACE_MAX_WORKERS (default 40): one Python process plays every client, so past
    # that the GIL, not PostgreSQL, sets the pace and queued requests would hit the 3 s lock timeout.
    cap = int(os.environ.get("RACE_MAX_WORKERS", "40"))
    return max(8, min(FAMILIES, cap, free_connections() - 10))


def make_children() -> list[Child]:
    """100 active households with one payer guardian (with e-mail) and one child, in 3 queries."""
    households = Household.objects.bulk_create([Household(reference=f"R{n:06d}") for n in range(FAMILIES)])
    Guardian.objects.bulk_create(
        Guardian(
            household=h,
            civility="mme",
            first_name="Camille",
            last_name=f"Course{n}",
            email=f"course{n}@example.org",
            is_payer=True,
        )
        for n, h in enumerate(households)
    )
    Child.objects.bulk_create(
        Child(household=h, first_name=f"Enfant{n}", last_name=f"Course{n}", birth_date="2018-05-14", sex="F")
        for n, h in enumerate(households)
    )
    return list(Child.objects.select_related("household").order_by("pk"))


def fresh_group():
    activity = ActivityFactory(validation_mode=Activity.ValidationMode.AUTO)
    period = PeriodFactory(activity=activity)
    group = GroupFactory(activity=activity, capacity=PLACES)
    return period, group


def race(children, period, group, workers) -> list[str]:
    """Release `workers` threads at once; they share the requests. Returns the error messages."""
    jobs = queue.SimpleQueue()
    for child in children:
        jobs.put(child)
    barrier = threading.Barrier(workers)
    errors = []

    def work():
        try:
            connection.ensure_connection()  # this thread's own connection, opened before the start
            barrier.wait(timeout=60)
            while True:
                try:
                    child = jobs.get_nowait()
                except queue.Empty:
                    return
                try:
                    request_enrolment(child=child, period=period, group=group, actor=None, channel=Channel.WEB)
                except BusinessError as exc:
                    errors.append(exc.message)
        except Exception as exc:  # noqa: BLE001 - reported by the test, not swallowed
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck"
    return errors


def outcome(period, group) -> dict[str, int]:
    rows = Enrolment.objects.filter(group=group, period=period).values_list("status", flat=True)
    return {status: list(rows).count(status) for status in (EnrolmentStatus.VALIDATED, EnrolmentStatus.WAITING)}


def test_group_lock_never_overbooks_and_keeps_arrival_order():
    children = make_children()
    workers = worker_count()
    figures = []
    for repetition in range(REPETITIONS):
        period, group = fresh_group()
        mail.outbox.clear()
        started = time.perf_counter()
        errors = race(children, period, group, workers)
        elapsed = time.perf_counter() - started
        assert errors == [], f"repetition {repetition}: {errors[:3]}"
        counts = outcome(period, group)
        figures.append((counts[EnrolmentStatus.VALIDATED], counts[EnrolmentStatus.WAITING], round(elapsed, 2)))
        assert counts == {EnrolmentStatus.VALIDATED: PLACES, EnrolmentStatus.WAITING: FAMILIES - PLACES}, repetition

        # Arrival order = the order the lock was obtained: ids and timestamps agree, every
        # validated request arrived before every waiting one, and ranks follow arrival.
        rows = list(Enrolment.objects.filter(group=group, period=period).order_by("created_at", "id"))
        assert [e.pk for e in rows] == sorted(e.pk for e in rows), repetition
        assert {e.status for e in rows[:PLACES]} == {EnrolmentStatus.VALIDATED}, repetition
        waiting = [e for e in rows if e.status == EnrolmentStatus.WAITING]
        assert [e.pk for e in waiting_list(group=group, period=period)] == [e.pk for e in waiting], repetition
        assert [waiting_rank(e) for e in waiting[:3]] + [waiting_rank(waiting[-1])] == [1, 2, 3, FAMILIES - PLACES]
        assert len(mail.outbox) == FAMILIES  # one e-mail per request, sent after commit
    print(f"\nlocked: {workers} connections, (validated, waiting, seconds) per repetition: {figures}")


def test_negative_control_without_the_lock_overbooks(monkeypatch):
    monkeypatch.setattr(locking, "LOCKING_ENABLED", False)
    monkeypatch.setattr(locking, "race_window_hook", lambda: time.sleep(0.005))
    children = make_children()
    workers = worker_count()
    validated_per_run = []
    for _ in range(REPETITIONS):
        period, group = fresh_group()
        race(children, period, group, workers)
        validated_per_run.append(outcome(period, group)[EnrolmentStatus.VALIDATED])
    print(f"\nunlocked: {workers} connections, validated per repetition (capacity {PLACES}): {validated_per_run}")
    assert any(count > PLACES for count in validated_per_run), validated_per_run
