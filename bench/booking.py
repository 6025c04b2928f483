#!/usr/bin/env python
"""Booking throughput under contention on PostgreSQL, through the real HTTP stack, with the pgbench
baseline measured in the same run (QUALITY.md P1, P2, §4.2 scenario 7, Appendix).

    .venv/bin/python bench/booking.py                                  # scale 0.2, 50 clients, 4 workers
    .venv/bin/python bench/booking.py --scale 1 --clients 100 --duration 30
    .venv/bin/python bench/booking.py --keep --reuse                   # keep the database, skip seeding next time

What it does, in one run:
1. creates a scratch database (default portail_bench_booking; dropped at the end unless --keep),
   migrates it and seeds it with `seed_bench` (households, children, validated enrolments);
2. picks the hot sessions: the next --sessions "Journée" Wednesdays still open for booking in each of
   the 3 bench centres, and gives each session --fill × its demand in places (default 0.8: the last
   fifth of the requests find it full);
3. logs every enrolled family in (session rows written directly, no password hashing) and starts
   gunicorn from the venv (--workers sync workers, DEBUG off) on that database;
4. --clients threads, released together, POST /planning/basculer/ as htmx does (one cell each, child ×
   session, in a shuffled order) until every cell was tried or --duration ran out; each answer is
   200 (the place is held in the basket) or 409 "Complet"; anything else is an error;
5. recounts every hot session from the facts (holding bookings + unexpired basket lines): none may be
   over capacity, and there must be exactly one basket line per 200;
6. runs pgbench on QUALITY's hot-row booking script (BEGIN; SELECT … FOR UPDATE; INSERT; UPDATE;
   COMMIT on one row of a scratch table, -c 8 -j 2) and prints ours / pgbench (P2 target: ≥ 0.15).

Writes bench/results/booking-*.json. Exit code 1 when a session is over capacity or a request failed.
"""

import argparse
import http.client
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from glob import glob
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from _setup import ROOT, database_exists, drop_database, machine_info, recreate_database, setup_django, write_json

PGBENCH_SCHEMA = "pgbench_hotrow"
# QUALITY.md, Appendix: the hot-row booking transaction every P2 ratio is computed against.
PGBENCH_SETUP = f"""
DROP SCHEMA IF EXISTS {PGBENCH_SCHEMA} CASCADE;
CREATE SCHEMA {PGBENCH_SCHEMA};
CREATE TABLE {PGBENCH_SCHEMA}.slot(id int primary key, capacity int not null, booked int not null default 0,
                                   CHECK (booked <= capacity));
CREATE TABLE {PGBENCH_SCHEMA}.booking(id bigserial primary key, slot_id int not null references {PGBENCH_SCHEMA}.slot(id),
                                      child_id int not null, created timestamptz default now(), UNIQUE(slot_id, child_id));
INSERT INTO {PGBENCH_SCHEMA}.slot SELECT g, 1000000000, 0 FROM generate_series(1, 8000) g;
"""
PGBENCH_SCRIPT = f"""\\set child random(1, 2000000000)
BEGIN;
SELECT capacity, booked FROM {PGBENCH_SCHEMA}.slot WHERE id = 1 FOR UPDATE;
INSERT INTO {PGBENCH_SCHEMA}.booking(slot_id, child_id) VALUES (1, :child);
UPDATE {PGBENCH_SCHEMA}.slot SET booked = booked + 1 WHERE id = 1;
COMMIT;
"""


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest rank (a p99 is a latency that really happened); 0 for no values."""
    if not sorted_values:
        return 0.0
    return sorted_values[max(1, math.ceil(pct / 100 * len(sorted_values))) - 1]


# --- The scenario ----------------------------------------------------------------------------------


@dataclass
class Job:
    headers: dict
    child_id: int
    session_id: int


@dataclass
class Result:
    status: int  # 0: no HTTP answer
    ms: float
    ended: float
    complet: bool = False
    error: str = ""


def hot_sessions(per_centre: int, fill: float) -> list:
    """The next `per_centre` Journée Wednesdays still open in each bench centre, with places = fill × demand."""
    from django.db.models import Count
    from django.utils import timezone

    from portail.catalog.deadlines import deadline_for_session
    from portail.catalog.models import Session
    from portail.demo import constants as C
    from portail.enrolments.models import Enrolment, EnrolmentStatus

    now = timezone.now()
    chosen = []
    candidates = (
        Session.objects.filter(
            unit__activity__slug__startswith=f"{C.BENCH_SLUG_PREFIX}mercredis-",
            unit__name="Journée",
            date__gte=timezone.localdate(),
            is_cancelled=False,
        )
        .select_related("unit__deadline_rule", "unit__activity__facility__town")
        .order_by("unit__activity__slug", "date")
    )
    taken: Counter = Counter()
    for session in candidates:
        activity_id = session.unit.activity_id
        # An hour of margin: the run must end before the first deadline passes.
        if taken[activity_id] < per_centre and deadline_for_session(session) > now + timedelta(hours=1):
            taken[activity_id] += 1
            chosen.append(session)
    demand = dict(
        Enrolment.objects.filter(activity_id__in={s.unit.activity_id for s in chosen}, status=EnrolmentStatus.VALIDATED)
        .values_list("activity_id")
        .annotate(n=Count("pk"))
    )
    for session in chosen:
        session.demand = demand.get(session.unit.activity_id, 0)
        session.capacity = max(1, math.floor(fill * session.demand))
        session.save(update_fields=["capacity"])
    return chosen


def clear_previous_run(sessions) -> None:
    """With --reuse: the hot sessions start empty again (basket lines and bookings of a previous run)."""
    from portail.bookings.models import BasketLine, Booking

    BasketLine.objects.filter(session__in=sessions).delete()
    Booking.objects.filter(session__in=sessions).delete()


def build_jobs(sessions, seed: int) -> list[Job]:
    """One job per (enrolled child, hot session of its centre), each with its family's cookies."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.middleware.csrf import CSRF_ALLOWED_CHARS
    from django.utils.crypto import get_random_string

    from portail.accounts.middleware import SEEN_KEY, STARTED_KEY
    from portail.enrolments.models import Enrolment, EnrolmentStatus
    from portail.households.models import Guardian

    activity_ids = {s.unit.activity_id for s in sessions}
    enrolments = list(
        Enrolment.objects.filter(activity_id__in=activity_ids, status=EnrolmentStatus.VALIDATED)
        .select_related("child")
        .order_by("pk")
    )
    payers = {
        g.household_id: g.user
        for g in Guardian.objects.filter(
            household_id__in={e.child.household_id for e in enrolments}, is_payer=True, user__isnull=False
        ).select_related("user")
    }
    headers_of: dict[int, dict] = {}
    now = int(time.time())
    for household_id, user in payers.items():
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store[STARTED_KEY] = store[SEEN_KEY] = now
        store.create()
        csrf = get_random_string(32, CSRF_ALLOWED_CHARS)
        headers_of[household_id] = {
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={store.session_key}; {settings.CSRF_COOKIE_NAME}={csrf}",
            "X-CSRFToken": csrf,
            "HX-Request": "true",
            "Content-Type": "application/x-www-form-urlencoded",
        }
    jobs = [
        Job(headers_of[e.child.household_id], e.child_id, s.pk)
        for s in sessions
        for e in enrolments
        if e.activity_id == s.unit.activity_id and e.child.household_id in headers_of
    ]
    random.Random(seed).shuffle(jobs)
    return jobs


# --- The server --------------------------------------------------------------------------------------


class Gunicorn:
    """gunicorn from the venv on a listening socket created here, like tests/concurrency/conftest.py."""

    def __init__(self, database_url: str, workers: int, threads: int, log_dir: Path):
        from django.conf import settings

        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(2048)
        self.host, self.port = self.listener.getsockname()
        config = log_dir / "gunicorn_conf.py"
        config.write_text(
            "def when_ready(server):\n    from django.urls import get_resolver\n    get_resolver().url_patterns\n",
            encoding="utf-8",
        )
        self.log_path = log_dir / "gunicorn.log"
        self.output = self.log_path.open("ab")
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "PORTAIL_SECURE": "0",  # plain HTTP on loopback (TLS belongs to the proxy)
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "PORTAIL_LOG_LEVEL": "ERROR",  # no warning line per 409
        }
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"fd://{self.listener.fileno()}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread" if threads > 1 else "sync",
            "--threads",
            str(threads),
            "--preload",
            "--timeout",
            "120",
            "--config",
            str(config),
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            pass_fds=(self.listener.fileno(),),
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn stopped at start-up, see {self.log_path}")
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s, see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.listener.close()
        self.output.close()


# --- The load ------------------------------------------------------------------------------------------


def post(host, port, path, job: Job) -> Result:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(
            "POST", path, body=urlencode({"child": job.child_id, "session": job.session_id}), headers=job.headers
        )
        response = conn.getresponse()
        body = response.read()
        ended = time.perf_counter()
        complet = response.status == 409 and b"complet" in body.lower()
        return Result(response.status, (ended - started) * 1000, ended, complet=complet)
    except Exception as exc:  # noqa: BLE001 - counted as an error
        ended = time.perf_counter()
        return Result(0, (ended - started) * 1000, ended, error=repr(exc))
    finally:
        conn.close()


def run_load(server: Gunicorn, path: str, jobs: list[Job], clients: int, duration: float) -> tuple[list[Result], float]:
    """`clients` threads released together share the jobs; returns the results and the wall time."""
    pending = list(reversed(jobs))
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    results: list[Result] = []
    stop_at = [0.0]

    def work():
        mine = []
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            with lock:
                if not pending:
                    break
                job = pending.pop()
            mine.append(post(server.host, server.port, path, job))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    stop_at[0] = started + (duration if duration > 0 else 10**9)
    barrier.wait()
    for thread in threads:
        thread.join()
    ended = max((r.ended for r in results), default=started)
    return results, ended - started


def warm_up(server: Gunicorn, jobs: list[Job], workers: int) -> None:
    """Every worker opens its database connection before the clock starts: parallel GETs of the home page."""

    def get():
        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        try:
            conn.request("GET", "/", headers={"Cookie": jobs[0].headers["Cookie"]})
            conn.getresponse().read()
        finally:
            conn.close()

    for _ in range(2):
        threads = [threading.Thread(target=get) for _ in range(2 * workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


# --- CPU accounting (Linux /proc): what one request costs, whatever else the machine is doing ------------


def cpu_seconds(pids) -> float:
    """utime + stime of these processes, in seconds (0 for a process that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def worker_pids(master_pid: int) -> list[int]:
    pids = []
    for stat in glob("/proc/[0-9]*/stat"):
        try:
            if int(Path(stat).read_text().rsplit(")", 1)[1].split()[1]) == master_pid:
                pids.append(int(stat.split("/")[2]))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def backend_pids() -> list[int]:
    """PostgreSQL backends of the other clients of this database (the gunicorn workers' connections)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        return [row[0] for row in cursor.fetchall()]


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far (/proc/stat)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


# --- The facts and pgbench --------------------------------------------------------------------------------


def recount(sessions) -> list[dict]:
    from django.db.models import Count
    from django.utils import timezone

    from portail.bookings.models import HOLDING_STATUSES, BasketLine, Booking, LineKind

    now = timezone.now()
    ids = [s.pk for s in sessions]
    booked = dict(
        Booking.objects.filter(session__in=ids, status__in=HOLDING_STATUSES)
        .values_list("session")
        .annotate(n=Count("pk"))
    )
    held = dict(
        BasketLine.objects.filter(session__in=ids, kind=LineKind.ADD, expires_at__gt=now)
        .values_list("session")
        .annotate(n=Count("pk"))
    )
    return [
        {
            "session": s.pk,
            "activity": s.unit.activity.slug,
            "date": s.date.isoformat(),
            "demand": s.demand,
            "capacity": s.capacity,
            "taken": booked.get(s.pk, 0) + held.get(s.pk, 0),
            "lines": held.get(s.pk, 0),
        }
        for s in sessions
    ]


def find_pgbench() -> str | None:
    return shutil.which("pgbench") or next(iter(sorted(glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)), None)


def run_pgbench(server_url: str, database: str, clients: int, seconds: int, work_dir: Path) -> dict:
    from django.db import connection

    binary = find_pgbench()
    if binary is None:
        return {"error": "pgbench not found"}
    with connection.cursor() as cursor:
        cursor.execute(PGBENCH_SETUP)
    script = work_dir / "hot_forupdate.sql"
    script.write_text(PGBENCH_SCRIPT, encoding="utf-8")
    parts = urlsplit(server_url)
    env = {**os.environ, **({"PGPASSWORD": parts.password} if parts.password else {})}
    command = [
        binary,
        "-n",
        "-c",
        str(clients),
        "-j",
        str(min(2, clients)),
        "-T",
        str(seconds),
        "-f",
        str(script),
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
        database,
    ]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {PGBENCH_SCHEMA} CASCADE")
    tps = latency = None
    for line in completed.stdout.splitlines():
        if line.startswith("tps = "):
            tps = float(line.split()[2])
        elif line.startswith("latency average = "):
            latency = float(line.split()[3])
    return {
        "command": " ".join(command[:-9]) + f" -f hot_forupdate.sql {database}",
        "clients": clients,
        "seconds": seconds,
        "tps": tps,
        "latency_ms": latency,
        "error": "" if tps else (completed.stderr or completed.stdout)[-500:],
    }


# --- Main ---------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.2, help="seed_bench scale (default 0.2: 1,000 households)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--clients", type=int, default=50, help="concurrent HTTP clients (default 50)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (> 1: gthread workers)")
    parser.add_argument("--sessions", type=int, default=6, help="hot Wednesdays per centre (default 6, 3 centres)")
    parser.add_argument("--fill", type=float, default=0.8, help="places per hot session / its demand (default 0.8)")
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (default: all cells)")
    parser.add_argument("--requests", type=int, default=0, help="at most this many requests (default: all cells)")
    parser.add_argument("--pgbench-clients", type=int, default=8)
    parser.add_argument("--pgbench-seconds", type=int, default=15)
    parser.add_argument(
        "--server",
        default=os.environ.get("PORTAIL_BENCH_PG", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without database (env PORTAIL_BENCH_PG)",
    )
    parser.add_argument("--database", default="portail_bench_booking", help="scratch database (dropped, recreated)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database at the end")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database: no drop, no seed")
    args = parser.parse_args()

    server_url = args.server.rstrip("/")
    database_url = f"{server_url}/{quote(args.database)}"
    reuse = args.reuse and database_exists(server_url, args.database)
    if not reuse:
        recreate_database(server_url, args.database)
    os.environ["DATABASE_URL"] = database_url
    setup_django()
    from django.core.management import call_command
    from django.db import connection
    from django.urls import reverse

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

    sessions = hot_sessions(args.sessions, args.fill)
    if not sessions:
        print("No hot session: the bench centres have no Wednesday left to book (or no enrolment).")
        return 2
    clear_previous_run(sessions)
    jobs = build_jobs(sessions, args.seed)
    if args.requests:
        jobs = jobs[: args.requests]
    toggle = reverse("portal:planning_toggle")
    print(
        f"{len(sessions)} hot sessions ({len({s.unit.activity_id for s in sessions})} centres × {args.sessions} "
        f"Wednesdays from {min(s.date for s in sessions)}), places {sorted({s.capacity for s in sessions})} for "
        f"demands {sorted({s.demand for s in sessions})}; {len(jobs)} cells to tick by {args.clients} clients"
    )

    work_dir = Path(tempfile.mkdtemp(prefix="bench-booking-"))
    server = Gunicorn(database_url, args.workers, args.threads, work_dir)
    try:
        server.wait_until_serving()
        warm_up(server, jobs, args.workers)
        workers, backends = worker_pids(server.process.pid), backend_pids()
        cpu_before = cpu_seconds(workers), cpu_seconds(backends), time.process_time(), machine_busy()
        load_before = os.getloadavg()[0]
        results, seconds = run_load(server, toggle, jobs, args.clients, args.duration)
        busy_after = machine_busy()
        cpu = {
            "gunicorn_s": cpu_seconds(workers) - cpu_before[0],
            "postgres_s": cpu_seconds(backends) - cpu_before[1],
            "clients_s": time.process_time() - cpu_before[2],
        }
        busy, total = (a - b for a, b in zip(busy_after, cpu_before[3], strict=True))
        cpu["machine_busy"] = busy / total if total else None
        cpu["loadavg_before"] = load_before
    finally:
        server.stop()

    statuses = Counter(r.status for r in results)
    refused = sum(1 for r in results if r.complet)
    ok = statuses.get(200, 0)
    errors = [r for r in results if r.status != 200 and not r.complet]
    latencies = sorted(r.ms for r in results)
    facts = recount(sessions)
    over = [f for f in facts if f["taken"] > f["capacity"]]
    lines = sum(f["lines"] for f in facts)

    pgbench = run_pgbench(server_url, args.database, args.pgbench_clients, args.pgbench_seconds, work_dir)
    rps = len(results) / seconds if seconds else 0.0
    bps = ok / seconds if seconds else 0.0
    ratio = rps / pgbench["tps"] if pgbench.get("tps") else None
    ratio_ok = bps / pgbench["tps"] if pgbench.get("tps") else None

    print()
    print(f"booking POST /planning/basculer/: {len(results)} requests in {seconds:.1f} s by {args.clients} clients")
    print(f"  throughput        {rps:8.1f} requests/s   ({bps:.1f} bookings/s: places held)")
    print(f"  answers           200 × {ok}, 409 complet × {refused}, errors × {len(errors)} {dict(statuses)}")
    print(
        f"  latency (ms)      p50 {percentile(latencies, 50):.0f}   p95 {percentile(latencies, 95):.0f}   "
        f"p99 {percentile(latencies, 99):.0f}   max {latencies[-1] if latencies else 0:.0f}   "
        f"mean {statistics.fmean(latencies) if latencies else 0:.0f}"
    )
    per_request = {k: 1000 * cpu[k] / len(results) if results else 0 for k in ("gunicorn_s", "postgres_s", "clients_s")}
    print(
        f"  CPU per request   {per_request['gunicorn_s']:.1f} ms Django (gunicorn workers) + "
        f"{per_request['postgres_s']:.1f} ms PostgreSQL + {per_request['clients_s']:.1f} ms load generator; "
        f"machine busy {100 * (cpu['machine_busy'] or 0):.0f} % (load average before: {cpu['loadavg_before']:.2f})"
    )
    cpu_ms = per_request["gunicorn_s"] + per_request["postgres_s"]
    ceiling = (os.cpu_count() or 1) * 1000 / cpu_ms if cpu_ms else 0.0
    print(
        f"  CPU-bound ceiling {ceiling:8.1f} requests/s on {os.cpu_count()} cores (Django + PostgreSQL CPU per request, "
        "the figure least disturbed by other jobs on the machine)"
    )
    print(
        f"  invariants        over capacity: {len(over)} of {len(facts)} sessions; "
        f"basket lines {lines} for {ok} × 200 {'(equal)' if lines == ok else '(DIFFERENT)'}; "
        f"full sessions {sum(1 for f in facts if f['taken'] == f['capacity'])}"
    )
    if pgbench.get("tps"):
        print(
            f"pgbench hot-row booking (-c {args.pgbench_clients}, {args.pgbench_seconds} s): "
            f"{pgbench['tps']:.0f} tps, {pgbench['latency_ms']:.2f} ms"
        )
        print(
            f"ratio ours / pgbench: {ratio:.3f} (requests), {ratio_ok:.3f} (bookings only), "
            f"{ceiling / pgbench['tps']:.3f} (CPU-bound ceiling)   target ≥ 0.15: "
            + ("OK" if ratio >= 0.15 else "BELOW")
        )
    else:
        print(f"pgbench: {pgbench.get('error')}")
    for error in errors[:5]:
        print(f"  error: HTTP {error.status} {error.error}")

    path = write_json(
        "booking",
        {
            "kind": "booking",
            "args": vars(args),
            "timings": timings,
            "seed_rows": seed.rows if seed else None,
            "requests": len(results),
            "seconds": round(seconds, 3),
            "requests_per_second": round(rps, 1),
            "bookings_per_second": round(bps, 1),
            "statuses": {str(k): v for k, v in statuses.items()},
            "complet": refused,
            "errors": len(errors),
            "error_samples": [f"{e.status} {e.error}" for e in errors[:10]],
            "latency_ms": {
                "p50": round(percentile(latencies, 50), 1),
                "p95": round(percentile(latencies, 95), 1),
                "p99": round(percentile(latencies, 99), 1),
                "max": round(latencies[-1], 1) if latencies else 0,
            },
            "cpu": {
                **{k: round(v, 3) if isinstance(v, float) else v for k, v in cpu.items()},
                "ms_per_request": {k: round(v, 2) for k, v in per_request.items()},
            },
            "sessions": facts,
            "over_capacity": len(over),
            "lines_equal_200": lines == ok,
            "pgbench": pgbench,
            "ceiling_requests_per_second": round(ceiling, 1),
            "ratio_ceiling": round(ceiling / pgbench["tps"], 4) if pgbench.get("tps") else None,
            "ratio_requests": round(ratio, 4) if ratio else None,
            "ratio_bookings": round(ratio_ok, 4) if ratio_ok else None,
            "machine": machine_info(),
        },
    )
    print(f"JSON: {path}")
    connection.close()
    if not args.keep:
        drop_database(server_url, args.database)
    shutil.rmtree(work_dir, ignore_errors=True)
    return 1 if over or errors or lines != ok else 0


if __name__ == "__main__":
    sys.exit(main())
