"""The audit log: every change of money, booking or family data goes through log_action."""

from datetime import date, datetime, time
from decimal import Decimal

from django.db import models

from .models import Channel, LogEntry


def _jsonable(value):
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return value


def snapshot(instance: models.Model, fields: list[str]) -> dict:
    """The values of `fields` on `instance`, JSON-ready, for a before/after pair."""
    return {name: _jsonable(getattr(instance, name)) for name in fields}


def changed_fields(before: dict, after: dict) -> tuple[dict, dict]:
    """Keep only the keys whose value changed."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def log_action(
    *,
    actor,
    channel: str,
    action: str,
    obj: models.Model | None = None,
    household=None,
    before: dict | None = None,
    after: dict | None = None,
    message: str = "",
) -> LogEntry:
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return LogEntry.objects.create(
        actor=actor,
        channel=channel,
        action=action,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        household=household,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        message=message,
    )


__all__ = ["Channel", "log_action", "snapshot", "changed_fields"]
