"""Writes on the household record: direct edits, requests (demandes) and staff decisions.

Every change of family data leaves an audit entry (who, channel, before/after). Values are
validated by the forms of forms.py, whether they come from a page, a stored request payload
or another module: one rule, one place.
"""

import datetime as dt
import json

from django.db import models, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from portail.core.audit import Channel, changed_fields, log_action, snapshot
from portail.core.errors import BusinessError
from portail.core.models import LogEntry

from . import emails
from .forms import (
    AuthorizedPersonForm,
    ChildForm,
    CoordinatesForm,
    FamilyQuotientForm,
    GuardianForm,
    GuardianIdentityForm,
    HealthRecordForm,
    HouseholdBenefitForm,
    StaffChildForm,
    StaffHouseholdForm,
)
from .models import (
    AuthorizedPerson,
    ChangeRequest,
    Child,
    FamilyQuotient,
    Guardian,
    HealthRecord,
    Household,
    HouseholdStatus,
    RequestKind,
    RequestStatus,
)
from .presentation import CHILD_TARGET_KINDS, GUARDIAN_TARGET_KINDS, carries_health_data, request_summary

HEALTH_PERMISSION = "households.change_healthrecord"
UPDATE_KINDS = {
    RequestKind.UPDATE_CHILD,
    RequestKind.UPDATE_HEALTH,
    RequestKind.UPDATE_HOUSEHOLD,
    RequestKind.UPDATE_GUARDIAN,
}
NO_CHANGE_MESSAGE = "Vous n'avez modifié aucune information."


# --- validation helpers -----------------------------------------------------------------


def to_json(value):
    """A cleaned form value as stored in a request payload (dates as ISO strings, objects as ids)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value


def form_payload(form) -> dict:
    """The cleaned values of a valid form, JSON-safe, ready for submit_request."""
    return {name: to_json(form.cleaned_data.get(name)) for name in form._meta.fields}


def _errors_text(form) -> str:
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        parts.extend(f"{label} : {error}" if label else str(error) for error in errors)
    return " ".join(parts)


def _validated(form_class, *, instance, data: dict):
    """Bind `data` over the instance's current values and validate; BusinessError when invalid.

    Snapshot the instance before calling: validation writes the values onto it."""
    fields = form_class._meta.fields
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise BusinessError(f"Ces informations ne peuvent pas être modifiées ici : {', '.join(unknown)}.")
    # Missing keys keep the current value (or the model default for a new object).
    current = model_to_dict(instance, fields)
    form = form_class(data={**current, **data}, instance=instance)
    if not form.is_valid():
        raise BusinessError(_errors_text(form))
    return form


def _save_changes(*, obj, form_class, data, actor, channel, action, household) -> models.Model:
    """Validate and save the changed fields of `obj` (fresh and locked), with an audit entry."""
    if obj.pk:
        obj = type(obj).objects.select_for_update().get(pk=obj.pk)
    fields = form_class._meta.fields
    created = obj.pk is None
    before = snapshot(obj, fields)
    obj = _validated(form_class, instance=obj, data=data).save(commit=False)
    before, after = changed_fields(before, snapshot(obj, fields))
    if not after and not created:
        return obj
    obj.save()
    action = action.replace(".updated", ".created") if created else action
    log_action(actor=actor, channel=channel, action=action, obj=obj, household=household, before=before, after=after)
    return obj


def _create(*, form_class, instance, data, actor, channel, action, household) -> models.Model:
    obj = _validated(form_class, instance=instance, data=data).save()
    log_action(
        actor=actor,
        channel=channel,
        action=action,
        obj=obj,
        household=household,
        after=snapshot(obj, form_class._meta.fields),
    )
    return obj


def _health_record_of(child: Child) -> HealthRecord:
    return HealthRecord.objects.filter(child=child).first() or HealthRecord(child=child)


def _child_of(household, child_id) -> Child:
    child = Child.objects.filter(household=household, pk=child_id).first() if child_id else None
    if child is None:
        raise BusinessError("L'enfant concerné ne fait pas partie de ce foyer.")
    return child


def _guardian_of(household, guardian_id) -> Guardian:
    guardian = Guardian.objects.filter(household=household, pk=guardian_id).first() if guardian_id else None
    if guardian is None:
        raise BusinessError("Le responsable concerné ne fait pas partie de ce foyer.")
    return guardian


def _require_health_permission(actor) -> None:
    if actor is None or not actor.has_perm(HEALTH_PERMISSION):
        raise BusinessError(
            "Cette demande contient des données de santé : elle doit être traitée par un agent habilité."
        )


# --- direct edits by the family -----------------------------------------------------------


def update_coordinates(*, guardian: Guardian, data: dict, actor, channel) -> Guardian:
    """Phones, address and employer of a guardian, saved at once ("Mes coordonnées").

    The login e-mail is not a coordinate: only the Mairie changes it."""
    with transaction.atomic():
        return _save_changes(
            obj=guardian,
            form_class=CoordinatesForm,
            data=data,
            actor=actor,
            channel=channel,
            action="guardian.coordinates_updated",
            household=guardian.household,
        )


# --- requests --------------------------------------------------------------------------


def _proposed_changes(kind, *, household, target, payload: dict) -> dict:
    """Validate a payload; for an update keep only the values that differ from the record."""
    if kind == RequestKind.ADD_CHILD:
        child_data = {k: v for k, v in payload.items() if k in ChildForm._meta.fields}
        health_data = {k: v for k, v in payload.items() if k not in ChildForm._meta.fields}
        child = _validated(ChildForm, instance=Child(household=household), data=child_data)
        health = _validated(HealthRecordForm, instance=HealthRecord(), data=health_data)
        return {**form_payload(child), **form_payload(health)}
    form_class, instance = {
        RequestKind.UPDATE_CHILD: lambda: (ChildForm, target),
        RequestKind.UPDATE_HEALTH: lambda: (HealthRecordForm, _health_record_of(target)),
        RequestKind.ADD_AUTHORIZED_PERSON: lambda: (AuthorizedPersonForm, AuthorizedPerson(child=target)),
        RequestKind.UPDATE_HOUSEHOLD: lambda: (HouseholdBenefitForm, household),
        RequestKind.ADD_GUARDIAN: lambda: (GuardianForm, Guardian(household=household)),
        RequestKind.UPDATE_GUARDIAN: lambda: (GuardianIdentityForm, target),
        RequestKind.QUOTIENT: lambda: (FamilyQuotientForm, FamilyQuotient(household=household)),
    }[kind]()
    before = snapshot(instance, form_class._meta.fields)
    proposed = form_payload(_validated(form_class, instance=instance, data=payload))
    if kind not in UPDATE_KINDS:
        return proposed
    changes = {k: v for k, v in proposed.items() if before.get(k) != v}
    if not changes:
        raise BusinessError(NO_CHANGE_MESSAGE)
    return changes


def _same_person(a: dict, b: dict, keys) -> bool:
    return all(str(a.get(k) or "").strip().casefold() == str(b.get(k) or "").strip().casefold() for k in keys)


def _check_not_pending_twice(household, kind, target_id, payload) -> None:
    """One pending request per kind and target. For an addition the target is the person
    added: two different children may be asked for at once, the same child twice may not."""
    pending = ChangeRequest.objects.filter(household=household, kind=kind, status=RequestStatus.PENDING)
    if kind == RequestKind.ADD_CHILD:
        duplicate = any(_same_person(r.payload, payload, ("first_name", "birth_date")) for r in pending)
    elif kind in (RequestKind.ADD_GUARDIAN, RequestKind.ADD_AUTHORIZED_PERSON):
        duplicate = any(
            _same_person(r.payload, payload, ("first_name", "last_name")) for r in pending.filter(target_id=target_id)
        )
    else:
        duplicate = pending.filter(target_id=target_id).exists()
    if duplicate:
        raise BusinessError(
            f"Une demande « {RequestKind(kind).label} » est déjà en attente pour "
            f"{'ce foyer' if target_id is None else 'cette personne'}. Attendez la réponse de la Mairie, "
            "ou annulez-la depuis votre tableau de bord pour en déposer une nouvelle."
        )


def submit_request(
    *,
    household: Household,
    kind: str,
    payload: dict,
    target_id: int | None = None,
    message: str = "",
    actor,
    channel,
) -> ChangeRequest:
    """File a request staff will accept or refuse. Nothing of the record changes yet."""
    try:
        kind = RequestKind(kind)
    except ValueError as error:
        raise BusinessError("Type de demande inconnu.") from error
    with transaction.atomic():
        # Lock the household: two identical requests filed at once cannot both pass the check.
        household = Household.objects.select_for_update().get(pk=household.pk)
        if kind == RequestKind.SIGNUP:
            if household.status != HouseholdStatus.PENDING:
                raise BusinessError("Ce foyer n'est pas en attente de validation.")
            try:
                payload = json.loads(json.dumps(payload))
            except (TypeError, ValueError) as error:
                raise BusinessError("Les informations de la demande sont illisibles.") from error
            target_id = None
        else:
            if household.status != HouseholdStatus.ACTIVE:
                raise BusinessError("Votre compte famille doit être validé par la Mairie avant toute demande.")
            target = None
            if kind in CHILD_TARGET_KINDS:
                target = _child_of(household, target_id)
            elif kind in GUARDIAN_TARGET_KINDS:
                target = _guardian_of(household, target_id)
            else:
                target_id = None
            payload = _proposed_changes(kind, household=household, target=target, payload=payload or {})
        _check_not_pending_twice(household, kind, target_id, payload)
        change_request = ChangeRequest.objects.create(
            household=household,
            kind=kind,
            target_id=target_id,
            payload=payload,
            message=(message or "").strip(),
            submitted_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        # The payload stays on the request; the log keeps no health value.
        log_action(
            actor=actor,
            channel=channel,
            action="change_request.submitted",
            obj=change_request,
            household=household,
        )
    return change_request


def cancel_request(*, change_request: ChangeRequest, actor, channel) -> ChangeRequest:
    """A family withdraws one of its pending requests."""
    with transaction.atomic():
        change_request = ChangeRequest.objects.select_for_update().get(pk=change_request.pk)
        if change_request.kind == RequestKind.SIGNUP:
            raise BusinessError("Une demande de création de compte ne peut pas être annulée.")
        if change_request.status != RequestStatus.PENDING:
            raise BusinessError("Cette demande a déjà été traitée : elle ne peut plus être annulée.")
        change_request.status = RequestStatus.CANCELLED
        change_request.decided_at = timezone.now()
        change_request.decided_by = actor if getattr(actor, "is_authenticated", False) else None
        change_request.save(update_fields=["status", "decided_at", "decided_by"])
        log_action(
            actor=actor,
            channel=channel,
            action="change_request.cancelled",
            obj=change_request,
            household=change_request.household,
        )
    return change_request


def _apply(change_request: ChangeRequest, *, actor, channel) -> None:
    """Write an accepted request's payload onto the record (inside the decision's transaction)."""
    household, data, kind = change_request.household, change_request.payload, change_request.kind
    common = {"actor": actor, "channel": channel, "household": household}
    if kind == RequestKind.ADD_CHILD:
        create_child(household=household, data=data, **{k: v for k, v in common.items() if k != "household"})
    elif kind == RequestKind.UPDATE_CHILD:
        child = _child_of(household, change_request.target_id)
        _save_changes(obj=child, form_class=ChildForm, data=data, action="child.updated", **common)
    elif kind == RequestKind.UPDATE_HEALTH:
        child = _child_of(household, change_request.target_id)
        record = _health_record_of(child)
        _save_changes(obj=record, form_class=HealthRecordForm, data=data, action="health_record.updated", **common)
    elif kind == RequestKind.ADD_AUTHORIZED_PERSON:
        child = _child_of(household, change_request.target_id)
        _create(
            form_class=AuthorizedPersonForm,
            instance=AuthorizedPerson(child=child),
            data=data,
            action="authorized_person.created",
            **common,
        )
    elif kind == RequestKind.UPDATE_HOUSEHOLD:
        _save_changes(obj=household, form_class=HouseholdBenefitForm, data=data, action="household.updated", **common)
    elif kind == RequestKind.ADD_GUARDIAN:
        _create(
            form_class=GuardianForm,
            instance=Guardian(household=household, is_payer=False),
            data=data,
            action="guardian.created",
            **common,
        )
    elif kind == RequestKind.UPDATE_GUARDIAN:
        guardian = _guardian_of(household, change_request.target_id)
        _save_changes(obj=guardian, form_class=GuardianIdentityForm, data=data, action="guardian.updated", **common)
    elif kind == RequestKind.QUOTIENT:
        _create(
            form_class=FamilyQuotientForm,
            instance=FamilyQuotient(household=household),
            data=data,
            action="family_quotient.created",
            **common,
        )


def _decide_signup(change_request: ChangeRequest, *, accept: bool, reason: str, actor, channel) -> None:
    household = Household.objects.select_for_update().get(pk=change_request.household_id)
    if household.status != HouseholdStatus.PENDING:
        raise BusinessError("Ce foyer n'est plus en attente de validation.")
    fields = ["status", "decided_at", "refusal_reason"]
    before = snapshot(household, fields)
    household.status = HouseholdStatus.ACTIVE if accept else HouseholdStatus.REFUSED
    household.decided_at = timezone.now()
    household.refusal_reason = "" if accept else reason
    household.save(update_fields=fields)
    change_request.household = household
    log_action(
        actor=actor,
        channel=channel,
        action="household.signup_accepted" if accept else "household.signup_refused",
        obj=household,
        household=household,
        before=before,
        after=snapshot(household, fields),
        message=reason,
    )


def decide_request(*, change_request: ChangeRequest, actor, accept: bool, reason: str = "", channel) -> ChangeRequest:
    """Accept (apply the payload) or refuse (with a reason) a pending request; e-mail the family."""
    reason = (reason or "").strip()
    if not accept and not reason:
        raise BusinessError("Indiquez le motif du refus : il sera envoyé à la famille.")
    with transaction.atomic():
        change_request = (
            ChangeRequest.objects.select_for_update(of=("self",))
            .select_related("household", "submitted_by")
            .get(pk=change_request.pk)
        )
        if change_request.status != RequestStatus.PENDING:
            raise BusinessError(
                f"Cette demande a déjà été traitée (état : {change_request.get_status_display().lower()})."
            )
        if carries_health_data(change_request):
            _require_health_permission(actor)
        if change_request.kind == RequestKind.SIGNUP:
            _decide_signup(change_request, accept=accept, reason=reason, actor=actor, channel=channel)
        elif accept:
            _apply(change_request, actor=actor, channel=channel)
        change_request.status = RequestStatus.ACCEPTED if accept else RequestStatus.REFUSED
        change_request.decided_by = actor if getattr(actor, "is_authenticated", False) else None
        change_request.decided_at = timezone.now()
        change_request.refusal_reason = "" if accept else reason
        change_request.save(update_fields=["status", "decided_by", "decided_at", "refusal_reason"])
        log_action(
            actor=actor,
            channel=channel,
            action="change_request.accepted" if accept else "change_request.refused",
            obj=change_request,
            household=change_request.household,
            message=reason,
        )
        household = change_request.household
        summary = request_summary(
            change_request,
            children={c.pk: c for c in household.children.all()},
            guardians={g.pk: g for g in household.guardians.all()},
        )
        emails.send_decision(change_request, summary=summary)
    return change_request


# --- staff edits ---------------------------------------------------------------------------


def create_child(*, household: Household, data: dict, actor, channel) -> Child:
    """A new child and its health record (values of ChildForm and HealthRecordForm, flat)."""
    child_fields = set(StaffChildForm._meta.fields)
    common = {"actor": actor, "channel": channel, "household": household}
    child = _create(
        form_class=StaffChildForm,
        instance=Child(household=household),
        data={k: v for k, v in data.items() if k in child_fields},
        action="child.created",
        **common,
    )
    _create(
        form_class=HealthRecordForm,
        instance=HealthRecord(child=child),
        data={k: v for k, v in data.items() if k not in child_fields},
        action="health_record.created",
        **common,
    )
    return child


def staff_add_child(*, household: Household, data: dict, actor) -> Child:
    if any(data.get(name) for name in HealthRecordForm._meta.fields):
        _require_health_permission(actor)
    with transaction.atomic():
        return create_child(household=household, data=data, actor=actor, channel=Channel.STAFF)


def _staff_save(obj, form_class, data, actor, action, household):
    with transaction.atomic():
        return _save_changes(
            obj=obj,
            form_class=form_class,
            data=data,
            actor=actor,
            channel=Channel.STAFF,
            action=action,
            household=household,
        )


def staff_update_household(*, obj: Household, data: dict, actor) -> Household:
    return _staff_save(obj, StaffHouseholdForm, data, actor, "household.updated", obj)


def staff_update_guardian(*, obj: Guardian, data: dict, actor) -> Guardian:
    return _staff_save(obj, GuardianForm, data, actor, "guardian.updated", obj.household)


def staff_update_child(*, obj: Child, data: dict, actor) -> Child:
    return _staff_save(obj, StaffChildForm, data, actor, "child.updated", obj.household)


def staff_update_health_record(*, obj: HealthRecord, data: dict, actor) -> HealthRecord:
    """`obj` may be unsaved (HealthRecord(child=child)) when the child has none yet."""
    _require_health_permission(actor)
    return _staff_save(obj, HealthRecordForm, data, actor, "health_record.updated", obj.child.household)


def staff_add_authorized_person(*, child: Child, data: dict, actor) -> AuthorizedPerson:
    with transaction.atomic():
        return _create(
            form_class=AuthorizedPersonForm,
            instance=AuthorizedPerson(child=child),
            data=data,
            actor=actor,
            channel=Channel.STAFF,
            action="authorized_person.created",
            household=child.household,
        )


def staff_remove_authorized_person(*, person: AuthorizedPerson, actor) -> None:
    with transaction.atomic():
        household = person.child.household
        log_action(
            actor=actor,
            channel=Channel.STAFF,
            action="authorized_person.deleted",
            obj=person,
            household=household,
            before=snapshot(person, AuthorizedPersonForm._meta.fields),
        )
        person.delete()


def staff_add_quotient(*, household: Household, data: dict, actor) -> FamilyQuotient:
    with transaction.atomic():
        return _create(
            form_class=FamilyQuotientForm,
            instance=FamilyQuotient(household=household),
            data=data,
            actor=actor,
            channel=Channel.STAFF,
            action="family_quotient.created",
            household=household,
        )


def set_payer(*, guardian: Guardian, actor, channel=Channel.STAFF) -> Guardian:
    """Make `guardian` the one who is billed; the previous payer stops being it."""
    with transaction.atomic():
        guardians = list(Guardian.objects.select_for_update().filter(household_id=guardian.household_id))
        previous = next((g for g in guardians if g.is_payer), None)
        if previous and previous.pk == guardian.pk:
            return previous
        # Unset first: the database allows one payer per household at any time.
        Guardian.objects.filter(household_id=guardian.household_id, is_payer=True).update(is_payer=False)
        Guardian.objects.filter(pk=guardian.pk).update(is_payer=True)
        guardian.refresh_from_db()
        log_action(
            actor=actor,
            channel=channel,
            action="guardian.payer_changed",
            obj=guardian,
            household=guardian.household,
            before={"payer": previous.full_name if previous else None},
            after={"payer": guardian.full_name},
        )
    return guardian


def record_health_access(*, child: Child, actor) -> None:
    """Every staff read of a health record is logged (CNIL: access to health data)."""
    record_health_accesses(children=[child], actor=actor)


def record_health_accesses(*, children, actor) -> None:
    """One log line per child whose health record a staff page shows, in one insert."""
    now_actor = actor if getattr(actor, "is_authenticated", False) else None
    LogEntry.objects.bulk_create(
        [
            LogEntry(
                actor=now_actor,
                channel=Channel.STAFF,
                action="health_record.viewed",
                object_type=Child._meta.label,
                object_id=str(child.pk),
                object_repr=str(child)[:200],
                household_id=child.household_id,
            )
            for child in children
        ]
    )
