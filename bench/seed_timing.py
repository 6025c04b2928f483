#!/usr/bin/env python
"""Time `seed_bench` at a scale and print rows per second (QUALITY.md §4.1: ≤ 2 minutes at scale 0.2).

    .venv/bin/python bench/seed_timing.py --scale 0.2 --seed 42

Migrates the bench database first, deletes any previous bench rows (timed apart), seeds, prints a table,
writes bench/results/seed-timing-*.json. Exit code 1 when the seed takes longer than --budget seconds.
"""

import argparse
import sys
import time

from _setup import machine_info, setup_django, write_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds allowed for the seed (default 120)")
    parser.add_argument("--no-migrate", action="store_true", help="skip `migrate` (database already up to date)")
    args = parser.parse_args()

    setup_django()
    from django.core.management import call_command

    from portail.demo.bench import reset_bench, seed_bench

    if not args.no_migrate:
        call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    deleted = reset_bench()
    reset_seconds = time.perf_counter() - started
    result = seed_bench(scale=args.scale, seed=args.seed)
    rate = result.rows / result.seconds if result.seconds else 0.0

    print(
        f"seed_bench --scale {args.scale:g} --seed {args.seed}: {result.rows} rows in {result.seconds:.2f} s "
        f"= {rate:,.0f} rows/s (previous bench rows deleted in {reset_seconds:.2f} s)"
    )
    width = max(len(label) for label in result.counts)
    for label, count in sorted(result.counts.items()):
        print(f"  {label.ljust(width)}  {count:>8}")
    within = result.seconds <= args.budget
    print(("OK" if within else "TOO SLOW") + f": budget {args.budget:.0f} s")
    path = write_json(
        "seed-timing",
        {
            "kind": "seed_timing",
            "scale": args.scale,
            "seed": args.seed,
            "seconds": round(result.seconds, 3),
            "reset_seconds": round(reset_seconds, 3),
            "rows": result.rows,
            "rows_per_second": round(rate, 1),
            "counts": dict(result.counts),
            "deleted_before": sum(deleted.values()),
            "budget_seconds": args.budget,
            "within_budget": within,
            "machine": machine_info(),
        },
    )
    print(f"JSON: {path}")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
