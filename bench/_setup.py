"""Shared start-up of the bench scripts: Django settings, the database to use, machine facts, JSON output.

Unless DATABASE_URL or PORTAIL_SQLITE_PATH is set, the scripts use var/bench.sqlite3, never the
development database.
"""

import json
import os
import platform
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def setup_django() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("PORTAIL_SQLITE_PATH", str(ROOT / "var" / "bench.sqlite3"))
    import django

    django.setup()


def machine_info() -> dict:
    import django
    from django.conf import settings
    from django.db import connection

    connection.ensure_connection()
    if connection.vendor == "postgresql":
        version = connection.cursor().connection.info.server_version  # e.g. 150018
        db_version = f"{version // 10000}.{version % 100}"
    elif connection.vendor == "sqlite":
        import sqlite3

        db_version = sqlite3.sqlite_version
    else:
        db_version = ""
    return {
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": connection.vendor,
        "database_version": db_version,
        "debug": settings.DEBUG,
    }


def write_json(kind: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{kind}-{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


# --- The scratch PostgreSQL database of a benchmark ---------------------------------------------


def admin_connect(server_url: str):
    import psycopg

    parts = urlsplit(server_url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname="postgres",
        autocommit=True,
    )


def database_exists(server_url: str, name: str) -> bool:
    with admin_connect(server_url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def recreate_database(server_url: str, name: str) -> None:
    with admin_connect(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(server_url: str, name: str) -> None:
    with admin_connect(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
