#!/usr/bin/env python
"""Server-time latency (p50/p95/p99) and queries per request of the key pages, on a seeded database.

    .venv/bin/python bench/seed_timing.py --scale 0.2      # once: seeds var/bench.sqlite3
    .venv/bin/python bench/pages.py --iterations 50

Runs in-process with Django's test Client (no network, no web server): the time measured is the
middleware + view + template time of one request. Family pages are opened as the payer of a bench
household (force_login, no password hashing), staff pages as the demo Gestionnaire, the catalog anonymously.
A page whose URL name does not exist yet is skipped. Writes bench/results/pages-*.json.
"""

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from _setup import machine_info, setup_django, write_json

FAMILY, STAFF, ANONYMOUS = "famille", "agent", "anonyme"


@dataclass
class Page:
    name: str
    url_name: str
    role: str
    args: list = field(default_factory=list)
    query: dict = field(default_factory=dict)


def percentile(sorted_ms: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: a p99 is a latency that really happened)."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_ms)))
    return sorted_ms[rank - 1]


def pick_subjects():
    """A bench household with two children (deterministic for a given seed), its payer, and the Gestionnaire."""
    from django.db.models import Count

    from portail.accounts.models import User
    from portail.demo import constants as C
    from portail.households.models import Guardian, Household

    household = (
        Household.objects.filter(reference__startswith=C.BENCH_REFERENCE_PREFIX)
        .annotate(n=Count("children"))
        .filter(n=2)
        .order_by("reference")
        .first()
    )
    if household is None:
        return None
    payer = Guardian.objects.select_related("user").get(household=household, is_payer=True)
    staff = User.objects.get(email=f"gestionnaire@{C.DEMO_DOMAIN}")
    return household, payer, staff


def build_pages(household, payer) -> list[Page]:
    child = household.children.order_by("pk").first()
    reference_prefix = household.reference[:-2]  # a prefix that matches about a hundred households
    return [
        Page("Accueil famille", "portal:home", FAMILY),
        Page("Ma famille", "portal:family", FAMILY),
        Page("Fiche enfant", "portal:child_detail", FAMILY, [child.pk]),
        Page("Tableau de bord (demandes)", "portal:dashboard", FAMILY),
        Page("Catalogue public", "portal:catalog", ANONYMOUS),
        Page("Activité (mercredis)", "portal:activity_detail", ANONYMOUS, ["pommiers-mercredis-2026-2027"]),
        Page("Gestion – accueil", "backoffice:home", STAFF),
        Page("Gestion – foyers ?q=nom", "backoffice:households", STAFF, query={"q": payer.last_name}),
        Page("Gestion – foyers ?q=référence", "backoffice:households", STAFF, query={"q": reference_prefix}),
        Page("Gestion – fiche foyer", "backoffice:household_detail", STAFF, [household.pk]),
        Page("Gestion – demandes", "backoffice:requests", STAFF),
        Page("Gestion – catalogue", "backoffice:catalog", STAFF),
    ]


def measure(client, url: str, iterations: int, warmup: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Queries are counted on a separate request: capturing them would slow the timed ones.
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, secure=True)
    query_count = len(queries)  # read now: the next request clears the connection's query log
    for _ in range(warmup):
        client.get(url, secure=True)
    timings = []
    for _ in range(iterations):
        started = time.perf_counter()
        response = client.get(url, secure=True)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "status": response.status_code,
        "queries": query_count,
        "p50_ms": round(percentile(timings, 50), 2),
        "p95_ms": round(percentile(timings, 95), 2),
        "p99_ms": round(percentile(timings, 99), 2),
        "max_ms": round(timings[-1], 2),
        "mean_ms": round(statistics.fmean(timings), 2),
    }


def dataset_summary() -> dict:
    from portail.catalog.models import Activity, Session
    from portail.demo import constants as C
    from portail.households.models import Child, Household

    bench = Household.objects.filter(reference__startswith=C.BENCH_REFERENCE_PREFIX)
    return {
        "bench_households": bench.count(),
        "bench_children": Child.objects.filter(household__in=bench).count(),
        "activities": Activity.objects.count(),
        "sessions": Session.objects.count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", help="measure only the pages whose name contains this text")
    args = parser.parse_args()

    setup_django()
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    subjects = pick_subjects()
    if subjects is None:
        print("Aucun foyer de test de charge : lancez d'abord `bench/seed_timing.py` (ou `manage.py seed_bench`).")
        return 2
    household, payer, staff = subjects
    clients = {ANONYMOUS: Client(), FAMILY: Client(), STAFF: Client()}
    clients[FAMILY].force_login(payer.user)
    clients[STAFF].force_login(staff)

    results, skipped = [], []
    for page in build_pages(household, payer):
        if args.only and args.only.lower() not in page.name.lower():
            continue
        try:
            url = reverse(page.url_name, args=page.args)
        except (NoReverseMatch, ImportError, AttributeError) as error:
            skipped.append({"name": page.name, "url_name": page.url_name, "reason": f"{type(error).__name__}: {error}"})
            continue
        if page.query:
            url += "?" + urlencode(page.query)
        row = {"name": page.name, "url_name": page.url_name, "url": url, "role": page.role}
        row.update(measure(clients[page.role], url, args.iterations, args.warmup))
        results.append(row)

    header = f"{'page':34} {'rôle':8} {'HTTP':>4} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'requêtes':>8}"
    print(f"{args.iterations} requêtes par page, temps serveur en ms (foyer {household.reference})")
    print(header)
    print("-" * len(header))
    for row in results:
        print(
            f"{row['name'][:34]:34} {row['role']:8} {row['status']:>4} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} "
            f"{row['p99_ms']:>8.1f} {row['max_ms']:>8.1f} {row['queries']:>8}"
        )
    for row in skipped:
        print(f"{row['name'][:34]:34} ignorée ({row['url_name']} n'existe pas encore)")
    path = write_json(
        "pages",
        {
            "kind": "pages",
            "iterations": args.iterations,
            "warmup": args.warmup,
            "household": household.reference,
            "dataset": dataset_summary(),
            "pages": results,
            "skipped": skipped,
            "machine": machine_info(),
        },
    )
    print(f"JSON : {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
