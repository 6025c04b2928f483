#!/usr/bin/env python
"""Monthly invoicing of the large dataset on PostgreSQL (QUALITY.md P9: 5,000 families in ≤ 60 s on 2
cores, a bounded number of queries per family, numbers gapless, a re-run creates 0 duplicates).

    .venv/bin/python bench/invoicing.py                          # scale 1 (5,000 households), November 2026
    .venv/bin/python bench/invoicing.py --scale 0.2              # CI scale: 1,000 households
    .venv/bin/python bench/invoicing.py --keep ; .venv/bin/python bench/invoicing.py --reuse --keep
    .venv/bin/python bench/invoicing.py --sqlite var/bench-invoicing.sqlite3 --scale 0.2   # dry run, not the target

What it does, in one run:
1. creates a scratch database (default portail_bench_invoicing on --server; dropped at the end unless
   --keep), migrates it and seeds it with `seed_bench --scale` (households, children, enrolments);
2. gives every bench activity invoiced monthly (canteens, périscolaire, études) to one régie (the one
   that already collects them, else a new "Régie bench" BEN) with a demo-like tariff grid per activity
   (4 quotient brackets at 60/80/100/120 % of the unit's price, sibling discount 0/10/20 %, billed
   absences 50 %); a bench household with no invoiced enrolment gets its first child enrolled in a canteen,
   so EVERY household has something to pay;
3. books the month set-based (bulk_create): canteen 4 days a week, périscolaire evenings 2 days and
   mornings 1 day, étude 2 days (a weekly pattern drawn per child), with 3 % billed and 2 % excused absences;
   the bookings carry no decided price (empty price_trail, as before prices were decided at the tick), so
   the run prices every one of them with the tariff engine: the slowest case;
4. times `billing.invoicing.run_month` for that régie and month (e-mails off unless --emails: PDFs are the
   family engineer's and belong to a queue) and counts every SQL statement (connection.execute_wrapper);
5. checks: one invoice per household with billable items, numbers 1..N with no gap and no duplicate,
   Σ invoice totals = Σ line amounts; then times a second run, which must create 0 invoices.

Prints wall time, invoices/s, lines/s and queries per household; writes bench/results/invoicing-*.json.
Exit code 1 when a check fails.
"""

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

from _setup import ROOT, database_exists, drop_database, machine_info, recreate_database, setup_django, write_json

REGIE_CODE = "BEN"
BATCH = 5000
TARGET_SECONDS = 60.0

# --- Counting queries -----------------------------------------------------------------------------------


class QueryCounter:
    """Counts every statement of the connections it is installed on (thread-safe)."""

    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.count += 1
        return execute(sql, params, many, context)


# --- Preparing the month ----------------------------------------------------------------------------------

PATTERNS = {  # unit kind -> how many weekdays (Mon, Tue, Thu, Fri) a child books
    "repas": 4,
    "soir": 2,
    "matin": 1,
    "seance": 2,
}


def bench_regie(activities):
    """The régie that collects the bench's invoiced activities (a new one, BEN, if none does)."""
    from portail.organisations.models import Town
    from portail.payments.models import Means, Regie

    regie = Regie.objects.filter(activities__in=activities).distinct().first()
    if regie is None:
        regie, _ = Regie.objects.get_or_create(
            code=REGIE_CODE,
            defaults={
                "town": Town.current(),
                "name": "Régie bench (facturation)",
                "accepted_means": [Means.ONLINE, Means.CHEQUE, Means.CASH],
                "contact": "Régisseur du jeu de test de charge",
            },
        )
    regie.activities.add(*activities)
    return regie


def ensure_grids(activities) -> int:
    """A demo-like grid per activity that has none: 4 QF brackets, 60/80/100/120 % of the unit's price."""
    from portail.billing.models import TariffBracket, TariffGrid, TariffPrice
    from portail.catalog.models import Unit

    created = 0
    brackets = [(0, 600, 60), (600, 1000, 80), (1000, 1500, 100), (1500, None, 120)]
    for activity in activities:
        if TariffGrid.objects.filter(activity=activity).exists():
            continue
        grid = TariffGrid.objects.create(
            activity=activity,
            name=f"Tarifs 2026-2027 – {activity.name}"[:150],
            valid_from=date(2026, 9, 1),
            valid_until=date(2027, 8, 31),
            deliberation="Délibération n° 2026-042 (jeu de test)",
            sibling_discount_percents=[0, 10, 20],
            billed_absence_percent=50,
        )
        units = list(Unit.objects.filter(activity=activity))
        for low, high, percent in brackets:
            bracket = TariffBracket.objects.create(grid=grid, min_quotient=low, max_quotient=high)
            TariffPrice.objects.bulk_create(
                TariffPrice(bracket=bracket, unit=unit, price_cents=max(50, unit.price_cents * percent // 100))
                for unit in units
            )
        created += 1
    return created


def enrol_everybody(activities) -> int:
    """Enrol the first child of every bench household without an invoiced enrolment in a canteen."""
    from portail.demo import constants as C
    from portail.enrolments.models import Enrolment, EnrolmentStatus
    from portail.households.models import Child

    canteens = {a.slug: a for a in activities if a.activity_type.slug == "restauration"}
    by_school = {}
    for activity in canteens.values():
        by_school[activity.name.split("– ", 1)[-1]] = activity
    fallback = next(iter(canteens.values()))
    enrolled = set(
        Enrolment.objects.filter(activity__in=activities, status=EnrolmentStatus.VALIDATED).values_list(
            "child__household_id", flat=True
        )
    )
    first_children = {}
    for child in (
        Child.objects.filter(household__reference__startswith=C.BENCH_REFERENCE_PREFIX)
        .exclude(household_id__in=enrolled)
        .select_related("school")
        .order_by("household_id", "birth_date", "pk")
    ):
        first_children.setdefault(child.household_id, child)
    rows = []
    places = {}  # activity id -> (period, group), read once per activity
    for child in first_children.values():
        activity = by_school.get(child.school.name if child.school else "", fallback)
        if activity.pk not in places:
            places[activity.pk] = (
                activity.periods.order_by("start_date").first(),
                activity.groups.order_by("position", "pk").first(),
            )
        period, group = places[activity.pk]
        rows.append(
            Enrolment(child=child, activity=activity, period=period, group=group, status=EnrolmentStatus.VALIDATED)
        )
    Enrolment.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def book_month(activities, month: date, seed: int) -> Counter:
    """Bookings of every validated invoiced enrolment for the month, with some absences (set-based)."""
    from portail.billing.invoicing import next_month
    from portail.bookings.models import Absence, AbsenceReason, AbsenceStatus, Booking, BookingStatus
    from portail.catalog.models import Session
    from portail.demo.catalog import paris
    from portail.enrolments.models import Enrolment, EnrolmentStatus

    start, end = month, next_month(month)
    sessions = {}
    for session in Session.objects.filter(
        unit__activity__in=activities, date__gte=start, date__lt=end, is_cancelled=False
    ).select_related("unit"):
        sessions.setdefault(session.unit.activity_id, []).append(session)
    rng = random.Random(f"{seed}/invoicing")
    booked_at = paris(month.year, month.month, 1) - timedelta(days=10)
    rows = []
    for enrolment in (
        Enrolment.objects.filter(activity__in=activities, status=EnrolmentStatus.VALIDATED)
        .select_related("child")
        .order_by("pk")
    ):
        by_kind = {}
        for session in sessions.get(enrolment.activity_id, []):
            by_kind.setdefault(session.unit.kind, []).append(session)
        for kind, kind_sessions in by_kind.items():
            days = set(rng.sample([0, 1, 3, 4], PATTERNS.get(kind, 2)))
            rows += [
                Booking(
                    child_id=enrolment.child_id,
                    session=session,
                    enrolment=enrolment,
                    status=BookingStatus.CONFIRMED,
                    price_cents=session.unit.price_cents,
                    created_at=booked_at,
                )
                for session in kind_sessions
                if session.date.weekday() in days
            ]
    Booking.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
    booked = list(
        Booking.objects.filter(session__unit__activity__in=activities, session__date__gte=start, session__date__lt=end)
        .filter(absence__isnull=True)
        .values_list("pk", "child__household_id")
        .order_by("pk")
    )
    absences = []
    already = Absence.objects.filter(
        booking__session__unit__activity__in=activities,
        booking__session__date__gte=start,
        booking__session__date__lt=end,
    ).exists()
    for booking_id, household_id in [] if already else booked:
        draw = rng.random()
        if draw < 0.05:
            absences.append(
                Absence(
                    booking_id=booking_id,
                    household_id=household_id,
                    reason=AbsenceReason.ILLNESS if draw < 0.02 else AbsenceReason.FAMILY,
                    status=AbsenceStatus.EXCUSED if draw < 0.02 else AbsenceStatus.BILLED,
                )
            )
    Absence.objects.bulk_create(absences, batch_size=BATCH)
    return Counter(bookings=len(booked), absences=len(absences))


def prepare(month: date, seed: int) -> tuple:
    from django.db import transaction

    from portail.catalog.models import Activity, PaymentMode
    from portail.demo import constants as C

    started = time.perf_counter()
    with transaction.atomic():
        activities = list(
            Activity.objects.filter(
                slug__startswith=C.BENCH_SLUG_PREFIX, payment_mode=PaymentMode.INVOICED
            ).select_related("activity_type")
        )
        regie = bench_regie(activities)
        counts = Counter(grids=ensure_grids(activities), enrolments_added=enrol_everybody(activities))
        counts.update(book_month(activities, month, seed))
    return regie, counts, time.perf_counter() - started


# --- The measure ------------------------------------------------------------------------------------------


def timed_run(regie, month: date, *, emails: bool) -> tuple:
    from django.db import connection
    from django.utils import timezone

    from portail.billing import invoicing

    counter = QueryCounter()
    today = timezone.localdate()
    insert_rows = invoicing._insert_line_rows

    def counted_copy(rows):
        # On PostgreSQL the lines go in by COPY, which execute_wrapper does not see: count each one.
        if rows and connection.vendor == "postgresql":
            counter(lambda *args: None, "COPY", None, False, None)
        return insert_rows(rows)

    invoicing._insert_line_rows = counted_copy
    started = time.perf_counter()
    try:
        with connection.execute_wrapper(counter):
            run = invoicing.run_month(
                regie, month, issued_on=today, due_date=today + timedelta(days=30), actor=None, notify=emails
            )
    finally:
        invoicing._insert_line_rows = insert_rows
    return run, time.perf_counter() - started, counter.count


def checks(regie, month: date, run) -> dict:
    from django.db.models import Count, Sum

    from portail.billing import invoicing
    from portail.billing.models import Invoice, InvoiceLine

    numbers = list(Invoice.objects.filter(regie=regie).values_list("number", flat=True))
    prefix = f"F{regie.code}"
    ordinals = sorted(int(n[len(prefix) + 4 :]) for n in numbers if n.startswith(prefix))
    by_year = Counter(n[len(prefix) : len(prefix) + 4] for n in numbers)
    gapless = len(by_year) <= 1 and ordinals == list(range(1, len(ordinals) + 1))
    invoices = Invoice.objects.filter(regie=regie, month=month, run__isnull=False)
    totals = invoices.aggregate(n=Count("pk"), total=Sum("total_cents"))
    lines = InvoiceLine.objects.filter(invoice__in=invoices).aggregate(n=Count("pk"), total=Sum("amount_cents"))
    duplicates = (
        invoices.values("household").annotate(n=Count("pk")).filter(n__gt=1).count()
    )  # the constraint forbids them; counted anyway
    left = len(invoicing.candidate_household_ids(regie, month))
    return {
        "invoices": totals["n"],
        "lines": lines["n"],
        "total_cents": totals["total"] or 0,
        "lines_total_cents": lines["total"] or 0,
        "totals_equal": (totals["total"] or 0) == (lines["total"] or 0),
        "numbers_gapless": gapless,
        "numbers_first_last": (numbers and (min(numbers), max(numbers))) or None,
        "duplicate_households": duplicates,
        "households_left_uninvoiced": left,
        "errors": len(run.errors),
    }


def clear_previous(regie, month: date) -> None:
    """With --reuse: forget the previous measure (issued documents are immutable, so rows are removed
    with raw deletes, which only a scratch database may do)."""
    from django.db import connection

    from portail.billing.models import DocumentCounter, Invoice, InvoiceLine, InvoicingRun
    from portail.core.models import LogEntry
    from portail.payments.models import Allocation

    invoices = Invoice.objects.filter(regie=regie)
    for queryset in (
        Allocation.objects.filter(invoice__in=invoices),
        InvoiceLine.objects.filter(invoice__in=invoices),
        invoices,
        InvoicingRun.objects.filter(regie=regie),
        DocumentCounter.objects.filter(regie=regie),
        LogEntry.objects.filter(action__in=["invoice.issued", "invoicing_run.started", "invoicing_run.finished"]),
    ):
        queryset._raw_delete(connection.alias)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="seed_bench scale (default 1: 5,000 households)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--month", default="2026-11", help="month to invoice, YYYY-MM (default 2026-11)")
    parser.add_argument("--emails", action="store_true", help="send the invoices by e-mail during the run")
    parser.add_argument(
        "--server",
        default=os.environ.get("PORTAIL_BENCH_PG", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without database (env PORTAIL_BENCH_PG)",
    )
    parser.add_argument("--database", default="portail_bench_invoicing", help="scratch database (dropped, recreated)")
    parser.add_argument("--sqlite", help="dry run on this scratch SQLite file instead (figures not comparable)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database at the end")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database: no seed, previous run cleared")
    args = parser.parse_args()

    server_url = args.server.rstrip("/")
    if args.sqlite:
        path = Path(args.sqlite).resolve()
        if path in {(ROOT / "var" / name).resolve() for name in ("portail.sqlite3", "db.sqlite3")}:
            print("Refusing to use the development database.")
            return 2
        reuse = args.reuse and path.exists()
        if not reuse and path.exists():
            path.unlink()
        os.environ.pop("DATABASE_URL", None)
        os.environ["PORTAIL_SQLITE_PATH"] = str(path)
    else:
        reuse = args.reuse and database_exists(server_url, args.database)
        if not reuse:
            recreate_database(server_url, args.database)
        os.environ["DATABASE_URL"] = f"{server_url}/{quote(args.database)}"
    os.environ.setdefault("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from portail.billing import invoicing
    from portail.demo.bench import seed_bench

    timings = {}
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    timings["migrate_s"] = round(time.perf_counter() - started, 1)
    seed = None
    if not reuse:
        seed = seed_bench(scale=args.scale, seed=args.seed)
        timings["seed_s"] = round(seed.seconds, 1)
        print(f"seed_bench --scale {args.scale:g}: {seed.rows} rows in {seed.seconds:.1f} s")
    month = invoicing.month_start(args.month)
    regie, prepared, seconds = prepare(month, args.seed)
    timings["prepare_s"] = round(seconds, 1)
    if reuse:
        clear_previous(regie, month)
    households = len(invoicing.candidate_household_ids(regie, month))
    print(
        f"régie {regie.code}, {invoicing.month_label(month)}: {households} households to invoice; prepared in "
        f"{seconds:.1f} s ({dict(prepared)})"
    )

    load_before = os.getloadavg()
    run, wall, queries = timed_run(regie, month, emails=args.emails)
    load_after = os.getloadavg()
    facts = checks(regie, month, run)
    rerun, rerun_wall, rerun_queries = timed_run(regie, month, emails=args.emails)
    facts_after = checks(regie, month, rerun)

    per_second = run.created / wall if wall else 0.0
    per_household = queries / run.created if run.created else 0.0
    ok = (
        facts["numbers_gapless"]
        and facts["totals_equal"]
        and facts["households_left_uninvoiced"] == 0
        and not facts["duplicate_households"]
        and run.created + len(run.errors) >= households
        and rerun.created == 0
        and facts_after["invoices"] == facts["invoices"]
    )
    print()
    print(f"run_month {regie.code} {args.month} ({connection.vendor}, e-mails {'on' if args.emails else 'off'}):")
    print(
        f"  wall time          {wall:8.1f} s   (target ≤ {TARGET_SECONDS:.0f} s: {'OK' if wall <= TARGET_SECONDS else 'ABOVE'})"
    )
    print(
        f"  invoices           {run.created:8d}     {per_second:8.1f} invoices/s, {facts['lines'] / wall if wall else 0:,.0f} lines/s"
    )
    print(f"  lines              {facts['lines']:8d}     total {facts['total_cents'] / 100:,.2f} €")
    print(f"  queries            {queries:8d}     {per_household:.2f} per household")
    print(
        f"  checks             numbers gapless {facts['numbers_gapless']} {facts['numbers_first_last']}, "
        f"Σ totals = Σ lines {facts['totals_equal']}, errors {facts['errors']}, left {facts['households_left_uninvoiced']}"
    )
    print(f"  second run         {rerun.created} invoices created in {rerun_wall:.1f} s ({rerun_queries} queries)")
    print(
        f"  load average       {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"({os.cpu_count()} CPUs; other jobs on the machine slow the run)"
    )
    print("OK" if ok else "CHECK FAILED")

    path = write_json(
        "invoicing",
        {
            "kind": "invoicing",
            "args": vars(args),
            "timings": timings,
            "seed_rows": seed.rows if seed else None,
            "prepared": dict(prepared),
            "households": households,
            "seconds": round(wall, 3),
            "invoices": run.created,
            "invoices_per_second": round(per_second, 1),
            "queries": queries,
            "queries_per_household": round(per_household, 2),
            "checks": facts,
            "rerun": {"created": rerun.created, "seconds": round(rerun_wall, 3), "queries": rerun_queries},
            "load_average": {"before": load_before, "after": load_after},
            "ok": ok,
            "machine": machine_info(),
        },
    )
    print(f"JSON: {path}")
    connection.close()
    if not args.sqlite and not args.keep:
        drop_database(server_url, args.database)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
