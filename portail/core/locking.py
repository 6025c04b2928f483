"""Row locks for writes that take or free a place (enrolments, bookings).

The pattern: one transaction that locks the rows the places depend on (in a fixed order, so
two writers never deadlock), recounts from facts, then writes. On PostgreSQL a lock wait beyond
`LOCK_TIMEOUT` becomes a friendly "réessayez". On SQLite `select_for_update` is a no-op: the
IMMEDIATE transaction mode (config/settings.py) takes the write lock at BEGIN and serialises
writers instead.
"""

from contextlib import contextmanager

from django.db import OperationalError, connection, transaction

LOCK_TIMEOUT = "3s"


def is_lock_timeout(exc: OperationalError) -> bool:
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == "55P03":  # PostgreSQL lock_not_available
        return True
    return "database is locked" in str(exc).lower()  # SQLite busy timeout


@contextmanager
def capacity_transaction(busy_error):
    """transaction.atomic with a short lock timeout; a timeout raises `busy_error()`."""
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            yield
    except OperationalError as exc:
        if is_lock_timeout(exc):
            raise busy_error() from exc
        raise
