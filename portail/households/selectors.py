"""Reads scoped to one household. Every family view gets its household from here, so
another household's ids are a 404 by construction."""

from django.http import Http404

from .models import Guardian, Household, HouseholdStatus


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


__all__ = ["household_for_user", "get_child", "get_guardian", "HouseholdStatus"]
