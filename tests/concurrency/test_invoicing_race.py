"""Gapless invoice numbering under concurrency on real PostgreSQL (QUALITY T9, PAYMENTS.md §4).

8 workers issue the invoices of one régie and month at once, each on its own database connection and
its own slice of the households, with 10 % of the households failing mid-invoice (an exception after
the number was taken and the invoice row written: monkeypatched, never in product code). Expected:
the numbers are exactly 1..N (no gap, no duplicate), the counter says N, the failed households have
no invoice and consumed no number; a re-run (run_month) invoices exactly the failed ones and numbers
them N+1…; a further re-run creates 0 invoices. Then credit notes are issued in parallel on 5 % of the
invoices: their own series, 1..K, no gap.

Run with
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portail .venv/bin/python -m pytest tests/concurrency/test_invoicing_race.py -q -s
"""

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from portail.billing import credit_notes, invoicing
from portail.billing.models import CreditNote, DocumentCounter, Invoice, SeriesKind
from portail.billing.tests.test_invoicing import World
from portail.bookings.models import Booking, BookingStatus
from portail.catalog.models import Session
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.households.models import Child, Guardian, Household

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (set DATABASE_URL): SQLite serialises writers, so there is no race to observe",
    ),
    pytest.mark.django_db(transaction=True),
]

WORKERS = 8
HOUSEHOLDS = 400
FAILURE_EVERY = 10  # 10 % of the households fail mid-invoice
DAYS = [dt.date(2026, 11, 4), dt.date(2026, 11, 18), dt.date(2026, 11, 25)]
MONTH = dt.date(2026, 11, 1)


def seed_households(world: World, count: int) -> list[int]:
    """`count` households with one payer, one enrolled child and a booking on each of DAYS (set-based)."""
    households = Household.objects.bulk_create([Household(reference=f"R{n:06d}") for n in range(count)])
    Guardian.objects.bulk_create(
        Guardian(
            household=h,
            civility="mme",
            first_name="Camille",
            last_name=f"Course{n}",
            email=f"course{n}@example.org",
            address_line1="1 rue des Écoles",
            postcode="99999",
            city="Ville-Fleurie",
            is_payer=True,
        )
        for n, h in enumerate(households)
    )
    children = Child.objects.bulk_create(
        Child(household=h, first_name=f"Enfant{n}", last_name=f"Course{n}", birth_date="2018-05-14", sex="F")
        for n, h in enumerate(households)
    )
    enrolments = Enrolment.objects.bulk_create(
        Enrolment(
            child=child,
            activity=world.activity,
            period=world.period,
            group=world.group,
            status=EnrolmentStatus.VALIDATED,
        )
        for child in children
    )
    sessions = [Session.objects.create(unit=world.unit, date=day) for day in DAYS]
    Booking.objects.bulk_create(
        Booking(
            child=enrolment.child,
            session=session,
            enrolment=enrolment,
            status=BookingStatus.CONFIRMED,
            price_cents=world.unit.price_cents,
        )
        for enrolment in enrolments
        for session in sessions
    )
    return [h.pk for h in households]


def in_parallel(jobs: list) -> list[str]:
    """Run each job (a callable) on its own thread and database connection, released together."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def work(job):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=60)
            job()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck"
    return errors


def numbers_of(regie, series_prefix: str) -> list[int]:
    model = Invoice if series_prefix == "F" else CreditNote
    prefix = f"{series_prefix}{regie.code}"
    return sorted(
        int(number[len(prefix) + 4 :]) for number in model.objects.filter(regie=regie).values_list("number", flat=True)
    )


# The product's batch (with 10 % failures nearly every batch of 50 fails and is retried one household at a
# time) and small batches (most succeed whole, their blocks of numbers taken in parallel).
@pytest.mark.parametrize("batch", [invoicing.BATCH, 5], ids=["batch-product", "batch-5"])
def test_parallel_invoicing_is_gapless_with_failures_and_reruns_complete_it(monkeypatch, batch):
    monkeypatch.setattr(invoicing, "BATCH", batch)
    world = World(code="RACE")
    household_ids = seed_households(world, HOUSEHOLDS)
    failing = {pk for pk in household_ids if pk % FAILURE_EVERY == 3}
    create_lines = invoicing._create_lines

    def sometimes_crash(invoice, lines):
        if invoice.household_id in failing:
            raise RuntimeError("injected failure after numbering")
        return create_lines(invoice, lines)

    monkeypatch.setattr(invoicing, "_create_lines", sometimes_crash)
    today = timezone.localdate()
    run = invoicing.start_run(world.regie, MONTH, issued_on=today, due_date=today + dt.timedelta(days=30))
    results = []
    slices = [household_ids[n::WORKERS] for n in range(WORKERS)]

    def issue(ids):
        return lambda: results.append(invoicing.issue_households(run, ids, notify=False))

    started = time.perf_counter()
    errors = in_parallel([issue(ids) for ids in slices])
    elapsed = time.perf_counter() - started
    assert errors == []
    invoicing.finish_run(run)

    expected = HOUSEHOLDS - len(failing)
    assert sum(r.created for r in results) == expected
    assert sorted(e["household_id"] for r in results for e in r.errors) == sorted(failing)
    assert numbers_of(world.regie, "F") == list(range(1, expected + 1))  # no gap, no duplicate
    year = today.year
    counter = DocumentCounter.objects.get(regie=world.regie, year=year, series=SeriesKind.INVOICE)
    assert counter.last_number == expected
    assert not Invoice.objects.filter(household_id__in=failing).exists()
    assert Booking.objects.filter(child__household_id__in=failing, invoice_line__isnull=False).count() == 0
    print(
        f"\n{WORKERS} workers: {expected} invoices in {elapsed:.2f} s ({expected / elapsed:.0f}/s), {len(failing)} failed"
    )

    # The re-run completes the month: exactly the failed households, numbered after the others.
    monkeypatch.setattr(invoicing, "_create_lines", create_lines)
    rerun = invoicing.run_month(
        world.regie, MONTH, issued_on=today, due_date=today + dt.timedelta(days=30), notify=False
    )
    assert rerun.created == len(failing) and not rerun.errors
    assert numbers_of(world.regie, "F") == list(range(1, HOUSEHOLDS + 1))
    assert Invoice.objects.filter(regie=world.regie).count() == HOUSEHOLDS
    again = invoicing.run_month(
        world.regie, MONTH, issued_on=today, due_date=today + dt.timedelta(days=30), notify=False
    )
    assert again.created == 0
    assert Invoice.objects.filter(regie=world.regie).count() == HOUSEHOLDS

    # Credit notes on 5 % of the invoices, 8 workers at once: their own series, 1..K.
    invoices = list(Invoice.objects.filter(regie=world.regie).order_by("pk")[:: 100 // 5])
    chunks = [invoices[n::WORKERS] for n in range(WORKERS)]

    def credit(chunk):
        def job():
            for invoice in chunk:
                credit_notes.issue_credit_note(invoice=invoice, amount_cents=500, reason="Erreur de tarif", actor=None)

        return job

    assert in_parallel([credit(chunk) for chunk in chunks if chunk]) == []
    assert numbers_of(world.regie, "A") == list(range(1, len(invoices) + 1))
    assert numbers_of(world.regie, "F") == list(range(1, HOUSEHOLDS + 1))  # untouched by the credit notes


def test_two_runs_of_the_same_month_do_not_overlap():
    """The month's advisory lock: a second run_month while one holds it is refused (not a duplicate)."""
    from portail.billing.errors import BillingError

    world = World(code="LOCK")
    seed_households(world, 3)
    today = timezone.localdate()
    with invoicing._exclusive_run(world.regie, MONTH):
        holder_errors = []

        def second():
            try:
                invoicing.run_month(world.regie, MONTH, issued_on=today, due_date=today, notify=False)
            except BillingError as refusal:
                holder_errors.append(refusal.code)

        assert in_parallel([second]) == []
        assert holder_errors == ["run_in_progress"]
    assert not Invoice.objects.filter(regie=world.regie).exists()
    run = invoicing.run_month(world.regie, MONTH, issued_on=today, due_date=today, notify=False)
    assert run.created == 3
