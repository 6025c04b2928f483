"""Changes to the catalog by staff. Session generation and cancellation live in calendar.py."""

from django.db import models, transaction

from portail.core.audit import Channel, changed_fields, log_action, snapshot

from .calendar import cancel_session, generate_sessions, reopen_session


def audited_fields(model: type[models.Model]) -> list[str]:
    """The editable columns of a catalog model, compared before/after in the audit log."""
    return [f.name for f in model._meta.concrete_fields if f.editable and not f.primary_key]


def save_catalog_instance(*, instance: models.Model, actor, channel: str = Channel.STAFF, save=None) -> models.Model:
    """Save a catalog object (via `save`, default instance.save) and write its audit entry."""
    model = type(instance)
    fields = audited_fields(model)
    label = model._meta.model_name
    with transaction.atomic():
        created = instance.pk is None or instance._state.adding
        # The new values are already on the instance: read the old ones from the database.
        before = {} if created else snapshot(model.objects.select_for_update().get(pk=instance.pk), fields)
        (save or instance.save)()
        after = snapshot(instance, fields)
        if created:
            log_action(actor=actor, channel=channel, action=f"catalog.{label}_created", obj=instance, after=after)
        else:
            before, after = changed_fields(before, after)
            if after:
                log_action(
                    actor=actor,
                    channel=channel,
                    action=f"catalog.{label}_changed",
                    obj=instance,
                    before=before,
                    after=after,
                )
    return instance


def save_catalog_object(*, form, actor, channel: str = Channel.STAFF) -> models.Model:
    """Save a validated staff ModelForm of a catalog object, with its audit entry."""
    return save_catalog_instance(instance=form.instance, actor=actor, channel=channel, save=form.save)


def log_catalog_deletion(*, obj: models.Model, actor, channel: str = Channel.STAFF) -> None:
    log_action(
        actor=actor,
        channel=channel,
        action=f"catalog.{obj._meta.model_name}_deleted",
        obj=obj,
        before=snapshot(obj, audited_fields(type(obj))),
    )


__all__ = [
    "save_catalog_instance",
    "save_catalog_object",
    "log_catalog_deletion",
    "generate_sessions",
    "cancel_session",
    "reopen_session",
]
