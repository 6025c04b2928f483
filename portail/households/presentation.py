"""How a request reads to people: a one-line summary and the "current vs proposed" rows.

Pure functions over already-loaded objects, so lists stay at a fixed number of queries.
"""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from .forms import (
    BENEFIT_FIELDS,
    CHILD_FIELDS,
    GUARDIAN_FIELDS,
    GUARDIAN_IDENTITY_FIELDS,
    HEALTH_FIELDS,
    PERSON_FIELDS,
    QUOTIENT_FIELDS,
)
from .models import (
    AuthorizedPerson,
    ChangeRequest,
    Child,
    FamilyQuotient,
    Guardian,
    HealthRecord,
    Household,
    RequestKind,
)

# Which model fields each kind of request proposes values for.
KIND_FIELDS: dict[str, list[tuple[type[models.Model], list[str]]]] = {
    RequestKind.ADD_CHILD: [(Child, CHILD_FIELDS), (HealthRecord, HEALTH_FIELDS)],
    RequestKind.UPDATE_CHILD: [(Child, CHILD_FIELDS)],
    RequestKind.UPDATE_HEALTH: [(HealthRecord, HEALTH_FIELDS)],
    RequestKind.ADD_AUTHORIZED_PERSON: [(AuthorizedPerson, PERSON_FIELDS)],
    RequestKind.UPDATE_HOUSEHOLD: [(Household, BENEFIT_FIELDS)],
    RequestKind.ADD_GUARDIAN: [(Guardian, GUARDIAN_FIELDS)],
    RequestKind.UPDATE_GUARDIAN: [(Guardian, GUARDIAN_IDENTITY_FIELDS)],
    RequestKind.QUOTIENT: [(FamilyQuotient, QUOTIENT_FIELDS)],
}
# How journal entries of the household record read to staff.
ACTION_LABELS = {
    "guardian.coordinates_updated": "Coordonnées modifiées",
    "guardian.updated": "Responsable modifié",
    "guardian.created": "Responsable ajouté",
    "guardian.payer_changed": "Payeur changé",
    "child.created": "Enfant ajouté",
    "child.updated": "Enfant modifié",
    "health_record.created": "Fiche sanitaire créée",
    "health_record.updated": "Fiche sanitaire modifiée",
    "health_record.viewed": "Fiche sanitaire consultée",
    "authorized_person.created": "Personne autorisée ajoutée",
    "authorized_person.deleted": "Personne autorisée retirée",
    "household.updated": "Foyer modifié",
    "household.signup": "Demande de création de compte",
    "household.signup_accepted": "Compte famille validé",
    "household.signup_refused": "Compte famille refusé",
    "family_quotient.created": "Quotient familial ajouté",
    "change_request.submitted": "Demande déposée",
    "change_request.cancelled": "Demande annulée",
    "change_request.accepted": "Demande acceptée",
    "change_request.refused": "Demande refusée",
    "enrolment.requested": "Demande d'inscription",
    "enrolment.validated": "Inscription validée",
    "enrolment.refused": "Inscription refusée",
    "enrolment.cancelled": "Inscription annulée",
    "enrolment.group_changed": "Changement de groupe",
    "enrolment.pre_enrolment_accepted": "Pré-inscription acceptée",
    "enrolment.offered": "Place proposée",
    "enrolment.offer_accepted": "Place acceptée",
    "enrolment.offer_declined": "Place refusée par la famille",
    "enrolment.offer_expired": "Place proposée expirée",
    "enrolment.waiting_list_reordered": "Liste d'attente réordonnée",
    "booking.created": "Réservation",
    "booking.cancelled": "Annulation de réservation",
    "absence.declared": "Absence déclarée",
    "absence.certificate": "Justificatif d'absence déposé",
    "absence.decided": "Demande d'annulation décidée",
    "absence_certificate.viewed": "Justificatif d'absence consulté",
}

CHILD_TARGET_KINDS = {RequestKind.UPDATE_CHILD, RequestKind.UPDATE_HEALTH, RequestKind.ADD_AUTHORIZED_PERSON}
GUARDIAN_TARGET_KINDS = {RequestKind.UPDATE_GUARDIAN}


def carries_health_data(change_request: ChangeRequest) -> bool:
    """Health values are sensitive: only agents with the health permission see or decide them."""
    if change_request.kind == RequestKind.UPDATE_HEALTH:
        return True
    if change_request.kind == RequestKind.ADD_CHILD:
        return any(change_request.payload.get(name) for name in HEALTH_FIELDS)
    return False


@dataclass(frozen=True)
class Row:
    label: str
    current: str
    proposed: str
    health: bool = False

    @property
    def changed(self) -> bool:
        return self.current != self.proposed


def _label(model, name) -> str:
    label = str(model._meta.get_field(name).verbose_name)
    return label[:1].upper() + label[1:]


def display_value(model, name: str, value, *, schools: dict | None = None) -> str:
    """A stored or proposed value as French text ("Oui", "12/05/2018", "Sans porc")."""
    field = model._meta.get_field(name)
    if isinstance(field, models.BooleanField):
        return "Oui" if value else "Non"
    if value in (None, ""):
        return "—"
    if isinstance(value, models.Model):
        return str(value)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, models.DateField):
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                return value
        return value.strftime("%d/%m/%Y")
    if isinstance(field, models.ForeignKey):
        return (schools or {}).get(value, "—")
    return str(value)


def _format_date(value) -> str:
    try:
        return dt.date.fromisoformat(str(value)).strftime("%d/%m/%Y")
    except ValueError:
        return str(value or "")


def request_summary(change_request: ChangeRequest, *, children: dict, guardians: dict) -> str:
    """One line saying what was asked, without any health value (it shows in staff lists)."""
    kind, data = change_request.kind, change_request.payload or {}
    child = children.get(change_request.target_id)
    child_name = child.full_name if child else "enfant retiré du dossier"

    def changed_labels(model):
        return ", ".join(_label(model, name).lower() for name in data if _has_field(model, name)) or "aucun champ"

    if kind == RequestKind.SIGNUP:
        payer = data.get("payer") or {}
        count = len(data.get("children") or [])
        return f"Compte famille de {payer.get('first_name', '')} {payer.get('last_name', '')} ({count} enfant(s))"
    if kind == RequestKind.ADD_CHILD:
        return (
            f"{data.get('first_name', '')} {data.get('last_name', '')}, né(e) le {_format_date(data.get('birth_date'))}"
        )
    if kind == RequestKind.UPDATE_CHILD:
        return f"{child_name} : {changed_labels(Child)}"
    if kind == RequestKind.UPDATE_HEALTH:
        return f"Fiche sanitaire de {child_name} : {changed_labels(HealthRecord)}"
    if kind == RequestKind.ADD_AUTHORIZED_PERSON:
        return f"{data.get('first_name', '')} {data.get('last_name', '')} pour {child_name}"
    if kind == RequestKind.UPDATE_HOUSEHOLD:
        scheme = display_value(Household, "benefit_scheme", data.get("benefit_scheme"))
        number = data.get("benefit_number")
        return f"Régime : {scheme}" + (f", n° {number}" if number else "")
    if kind == RequestKind.ADD_GUARDIAN:
        return f"{data.get('first_name', '')} {data.get('last_name', '')}"
    if kind == RequestKind.UPDATE_GUARDIAN:
        guardian = guardians.get(change_request.target_id)
        name = guardian.full_name if guardian else "responsable retiré du dossier"
        return f"{name} : {changed_labels(Guardian)}"
    if kind == RequestKind.QUOTIENT:
        return (
            f"QF {data.get('value', '')} du {_format_date(data.get('valid_from'))} "
            f"au {_format_date(data.get('valid_until'))}"
        )
    return ""


def _has_field(model, name) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def request_rows(change_request: ChangeRequest, *, current: dict, schools: dict | None = None) -> list[Row]:
    """Proposed values next to the current ones. `current` maps a model to its instance (or None
    for an addition). Updates list the fields asked for; additions list every field."""
    rows = []
    data = change_request.payload or {}
    for model, names in KIND_FIELDS.get(change_request.kind, []):
        instance = current.get(model)
        health = model is HealthRecord
        for name in names:
            if name not in data:
                continue
            now = getattr(instance, name) if instance is not None else None
            if isinstance(now, models.Model):
                now = now.pk
            rows.append(
                Row(
                    label=_label(model, name),
                    current=display_value(model, name, now, schools=schools) if instance is not None else "—",
                    proposed=display_value(model, name, data[name], schools=schools),
                    health=health,
                )
            )
    return rows


def signup_rows(change_request: ChangeRequest) -> list[Row]:
    """What a family typed when it signed up (payer and children), for the staff decision."""
    data = change_request.payload or {}
    rows = []
    for name, value in (data.get("payer") or {}).items():
        label = _label(Guardian, name) if _has_field(Guardian, name) else name
        rows.append(
            Row(
                label=f"Responsable – {label}",
                current="—",
                proposed=display_value(Guardian, name, value) if _has_field(Guardian, name) else str(value),
            )
        )
    for index, child in enumerate(data.get("children") or [], start=1):
        for name, value in child.items():
            label = _label(Child, name) if _has_field(Child, name) else name
            shown = display_value(Child, name, value) if _has_field(Child, name) else str(value)
            rows.append(Row(label=f"Enfant {index} – {label}", current="—", proposed=shown))
    return rows
