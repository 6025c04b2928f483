"""Reads scoped to one household. Every family view gets its household from here, so
another household's ids are a 404 by construction. Lists prefetch once (no N+1)."""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from portail.core.models import LogEntry

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
from .validators import normalize_phone


def guardian_addresses(household_id) -> list[str]:
    """Where the household's e-mails go: every guardian's address, the payer's first."""
    return list(
        Guardian.objects.filter(household_id=household_id)
        .exclude(email="")
        .order_by("-is_payer", "pk")
        .values_list("email", flat=True)
    )


def household_for_user(user) -> Household | None:
    """The household the logged-in guardian belongs to, or None (staff, or no household)."""
    if not user.is_authenticated:
        return None
    guardian = Guardian.objects.select_related("household").filter(user=user).first()
    return guardian.household if guardian else None


def get_child(household: Household, child_id: int):
    child = household.children.filter(pk=child_id).first()
    if child is None:
        raise Http404("Enfant introuvable")
    return child


def get_guardian(household: Household, guardian_id: int):
    guardian = household.guardians.filter(pk=guardian_id).first()
    if guardian is None:
        raise Http404("Responsable introuvable")
    return guardian


def get_change_request(household: Household, request_id: int) -> ChangeRequest:
    change_request = household.change_requests.filter(pk=request_id).first()
    if change_request is None:
        raise Http404("Demande introuvable")
    return change_request


def health_record_of(child: Child) -> HealthRecord | None:
    """The child's health record if it has one (no query when select_related)."""
    try:
        return child.health_record
    except HealthRecord.DoesNotExist:
        return None


def _children_queryset() -> QuerySet:
    return (
        Child.objects.select_related("school", "health_record")
        .prefetch_related(Prefetch("authorized_persons", queryset=AuthorizedPerson.objects.order_by("last_name")))
        .order_by("birth_date", "first_name")
    )


def current_quotient(household: Household, day=None) -> FamilyQuotient | None:
    day = day or timezone.localdate()
    return household.quotients.filter(valid_from__lte=day, valid_until__gte=day).order_by("-valid_from").first()


@dataclass
class FamilyRecord:
    household: Household
    guardians: list
    children: list
    current_quotient: FamilyQuotient | None
    pending_requests: int = 0
    today: object = field(default=None)


def family_record(household: Household) -> FamilyRecord:
    """Everything "Ma famille" shows, in a fixed number of queries whatever the family size.
    Each child carries `.age`, `.health` (record or None) and its authorized persons."""
    today = timezone.localdate()
    children = list(_children_queryset().filter(household=household, is_active=True))
    for child in children:
        child.age = child.age_on(today)
        child.health = health_record_of(child)
    return FamilyRecord(
        household=household,
        guardians=list(household.guardians.select_related("user").order_by("-is_payer", "last_name", "first_name")),
        children=children,
        current_quotient=current_quotient(household, today),
        pending_requests=household.change_requests.filter(status=RequestStatus.PENDING).count(),
        today=today,
    )


def child_with_record(household: Household, child_id: int) -> Child:
    """One child of the household with school, health record and authorized persons; 404 otherwise."""
    child = _children_queryset().filter(household=household, pk=child_id).first()
    if child is None:
        raise Http404("Enfant introuvable")
    child.age = child.age_on(timezone.localdate())
    child.health = health_record_of(child)
    return child


def request_targets(household: Household) -> tuple[dict, dict]:
    """The household's children and guardians by id: what request summaries name."""
    children = {c.pk: c for c in Child.objects.filter(household=household)}
    guardians = {g.pk: g for g in Guardian.objects.filter(household=household)}
    return children, guardians


def household_requests(household: Household) -> tuple[list, dict, dict]:
    """The household's requests (newest first) and the children/guardians they refer to."""
    requests = list(household.change_requests.order_by("-submitted_at", "-id"))
    return (requests, *request_targets(household))


def request_current_objects(change_request: ChangeRequest) -> dict:
    """What a request would change, as it is now: {model: instance or None}."""
    household_id, target_id = change_request.household_id, change_request.target_id
    kind = change_request.kind
    if kind == RequestKind.UPDATE_CHILD:
        return {Child: Child.objects.select_related("school").filter(household_id=household_id, pk=target_id).first()}
    if kind == RequestKind.UPDATE_HEALTH:
        return {HealthRecord: HealthRecord.objects.filter(child__household_id=household_id, child_id=target_id).first()}
    if kind == RequestKind.UPDATE_GUARDIAN:
        return {Guardian: Guardian.objects.filter(household_id=household_id, pk=target_id).first()}
    if kind == RequestKind.UPDATE_HOUSEHOLD:
        return {Household: Household.objects.filter(pk=household_id).first()}
    return {}


# --- staff -----------------------------------------------------------------------------

_PHONE_LIKE = re.compile(r"^\+?[\d\s.\-]{4,}$")


def _term_filter(term: str) -> Q:
    q = (
        Q(reference__icontains=term)
        | Q(benefit_number__icontains=term)
        | Q(guardians__first_name__icontains=term)
        | Q(guardians__last_name__icontains=term)
        | Q(guardians__email__icontains=term)
        | Q(guardians__user__email__icontains=term)
        | Q(children__first_name__icontains=term)
        | Q(children__last_name__icontains=term)
    )
    if _PHONE_LIKE.match(term):
        # Stored phones are normalised ("06 12 34 56 78"): match a whole number in any spelling.
        variants = {term}
        try:
            variants.add(normalize_phone(term))
        except ValidationError:  # a partial number is searched as typed
            pass
        for variant in variants:
            for name in ("mobile_phone", "home_phone", "work_phone"):
                q |= Q(**{f"guardians__{name}__icontains": variant})
    return q


def search_households(query: str = "", status: str = "") -> QuerySet:
    """Households matching every word of `query` (reference, guardian or child name, e-mail, phone).

    Ids are matched first, then loaded with guardians and children prefetched: one query for the
    page, one per prefetch, whatever the number of rows."""
    ids = Household.objects.all()
    if status:
        ids = ids.filter(status=status)
    query = (query or "").strip()
    if query:
        terms = [query] if _PHONE_LIKE.match(query) else query.split()
        for term in terms:
            ids = ids.filter(pk__in=Household.objects.filter(_term_filter(term)).values("pk"))
    return ids.order_by("reference").prefetch_related(
        Prefetch("guardians", queryset=Guardian.objects.order_by("-is_payer", "last_name")),
        Prefetch("children", queryset=Child.objects.order_by("birth_date")),
    )


def staff_household(household_id: int) -> Household:
    household = Household.objects.filter(pk=household_id).first()
    if household is None:
        raise Http404("Foyer introuvable")
    return household


def staff_household_record(household: Household) -> dict:
    """The whole record for the staff page (children of any state, all quotients)."""
    today = timezone.localdate()
    children = list(_children_queryset().filter(household=household))
    for child in children:
        child.age = child.age_on(today)
        child.health = health_record_of(child)
    return {
        "guardians": list(household.guardians.select_related("user").order_by("-is_payer", "last_name")),
        "children": children,
        "quotients": list(household.quotients.order_by("-valid_from")),
        "current_quotient": current_quotient(household, today),
        "pending_requests": list(
            household.change_requests.filter(status=RequestStatus.PENDING).order_by("submitted_at")
        ),
    }


def staff_child(household: Household, child_id: int) -> Child:
    child = Child.objects.filter(household=household, pk=child_id).select_related("household").first()
    if child is None:
        raise Http404("Enfant introuvable")
    return child


def staff_guardian(household: Household, guardian_id: int) -> Guardian:
    guardian = Guardian.objects.filter(household=household, pk=guardian_id).select_related("household").first()
    if guardian is None:
        raise Http404("Responsable introuvable")
    return guardian


def pending_requests(kind: str = "") -> QuerySet:
    """The staff queue: pending requests, oldest first, with what the summaries need."""
    qs = ChangeRequest.objects.filter(status=RequestStatus.PENDING)
    if kind:
        qs = qs.filter(kind=kind)
    return (
        qs.select_related("household", "submitted_by")
        .prefetch_related("household__children", "household__guardians")
        .order_by("submitted_at", "id")
    )


def staff_change_request(request_id: int) -> ChangeRequest:
    change_request = ChangeRequest.objects.select_related("household", "submitted_by").filter(pk=request_id).first()
    if change_request is None:
        raise Http404("Demande introuvable")
    return change_request


def household_log(household: Household) -> QuerySet:
    return LogEntry.objects.filter(household=household).select_related("actor").order_by("-created_at", "-id")


__all__ = [
    "household_for_user",
    "get_child",
    "get_guardian",
    "get_change_request",
    "family_record",
    "child_with_record",
    "household_requests",
    "search_households",
    "pending_requests",
    "household_log",
    "HouseholdStatus",
    "RequestKind",
]
