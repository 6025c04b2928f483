"""Pieces shared by services.py and waiting_list.py: locking an enrolment, auditing a change."""

from contextlib import contextmanager

from django.utils import timezone

from portail.core.audit import log_action, snapshot

from . import locking
from .errors import error
from .models import Enrolment

AUDIT_FIELDS = [
    "status",
    "group",
    "period",
    "refusal_reason",
    "cancellation_reason",
    "offer_expires_at",
    "waiting_position",
    "waiting_priority",
]


def audit_before(enrolment) -> dict:
    return snapshot(enrolment, AUDIT_FIELDS)


def audit(enrolment, *, actor, channel, action, before=None, message=""):
    return log_action(
        actor=actor,
        channel=channel,
        action=action,
        obj=enrolment,
        household=enrolment.child.household,
        before=before,
        after=snapshot(enrolment, AUDIT_FIELDS),
        message=message,
    )


@contextmanager
def locked_enrolment(enrolment, *extra_group_ids):
    """Inside one capacity transaction: lock the activity (if capped) and the groups, then
    re-read the enrolment under a row lock. Yields (fresh enrolment, activity, groups by id)."""
    with locking.capacity_transaction():
        activity, groups = locking.lock_places(enrolment.activity_id, enrolment.group_id, *extra_group_ids)
        queryset = Enrolment.objects.select_related("child", "child__household", "activity", "period", "group")
        if locking.LOCKING_ENABLED:
            queryset = queryset.select_for_update(of=("self",))
        fresh = queryset.get(pk=enrolment.pk)
        if fresh.group_id not in groups:  # moved by someone else meanwhile: lock its group too
            groups.update(locking.lock_places(fresh.activity_id, fresh.group_id)[1])
        fresh.activity = activity
        yield fresh, activity, groups


def require_status(enrolment, *statuses):
    if enrolment.status not in statuses:
        raise error("wrong_status", status=enrolment.get_status_display().lower())


def moment(now=None):
    return now or timezone.now()
