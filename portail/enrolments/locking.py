"""Row locks for every write that takes or frees a place.

Take a place = lock the activity row when it has a cap, then the group row(s), recompute,
write, all in one transaction. On PostgreSQL a lock wait beyond `LOCK_TIMEOUT` becomes a
friendly "réessayez". On SQLite `select_for_update` is a no-op: the IMMEDIATE transaction mode
(config/settings.py) takes the write lock at BEGIN and serialises writers instead.
"""

from portail.catalog.models import Activity, Group
from portail.core import locking as core_locking

from .errors import error

# Tests switch this off for the negative control of the capacity race (tests/concurrency/).
LOCKING_ENABLED = True
# Test hook called between "count the places" and "write", to widen the race window
# (the equivalent of pretix's sleep-after-quota-check debug flag). Never set in production.
race_window_hook = None


def capacity_transaction():
    """transaction.atomic with a short lock timeout; a timeout becomes a BusinessError."""
    return core_locking.capacity_transaction(lambda: error("busy"))


def lock_places(activity_id, *group_ids) -> tuple[Activity, dict[int, Group]]:
    """Lock what a place depends on and return it fresh: the activity row first when it has a
    cap (then it serialises every group of the activity), then the groups sorted by id, so two
    writers always lock in the same order and never deadlock."""
    activity = Activity.objects.get(pk=activity_id)
    if activity.capacity is not None and LOCKING_ENABLED:
        activity = Activity.objects.select_for_update().get(pk=activity_id)
    ids = sorted({gid for gid in group_ids if gid is not None})
    queryset = Group.objects.filter(pk__in=ids).order_by("pk")
    if LOCKING_ENABLED:
        queryset = queryset.select_for_update()
    return activity, {group.pk: group for group in queryset}


def after_count():
    """Called between counting places and writing (no-op unless a test set race_window_hook)."""
    if race_window_hook is not None:
        race_window_hook()
