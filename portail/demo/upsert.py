"""Idempotent writes for the demo loader: create a row from its natural key, or update only the
fields that differ. A second run therefore writes nothing (no UPDATE, no auto_now bump)."""

from collections import Counter
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models


def french_label(label: str) -> str:
    """ "séances" for "catalog.Session"; other keys are returned as they are."""
    try:
        return str(apps.get_model(label)._meta.verbose_name_plural)
    except (LookupError, ValueError):
        return label


def describe_counts(counter) -> str:
    """ "séances : 730, unités : 9" from {"catalog.Session": 730, "catalog.Unit": 9}."""
    return (
        ", ".join(f"{french_label(label)} : {count}" for label, count in sorted(counter.items()) if count) or "aucune"
    )


def _current(instance: models.Model, name: str):
    """The stored value of `name`, comparing foreign keys by id (no extra query)."""
    model_field = instance._meta.get_field(name)
    if model_field.is_relation and model_field.many_to_one:
        return getattr(instance, model_field.attname)
    return getattr(instance, name)


def _wanted(instance: models.Model, name: str, value):
    model_field = instance._meta.get_field(name)
    if model_field.is_relation and model_field.many_to_one and isinstance(value, models.Model):
        return value.pk
    return value


@dataclass
class Tally:
    """What a load created and updated, per model label ("catalog.Session")."""

    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(+self.created or +self.updated)

    def upsert(self, model: type[models.Model], lookup: dict, values: dict | None = None) -> models.Model:
        values = values or {}
        instance = model.objects.filter(**lookup).order_by("pk").first()
        if instance is None:
            instance = model.objects.create(**lookup, **values)
            self.created[model._meta.label] += 1
            return instance
        changed = [name for name, value in values.items() if _current(instance, name) != _wanted(instance, name, value)]
        if changed:
            for name in changed:
                setattr(instance, name, values[name])
            instance.save(update_fields=changed)
            self.updated[model._meta.label] += 1
        return instance

    def add_created(self, label: str, count: int) -> None:
        if count:
            self.created[label] += count
