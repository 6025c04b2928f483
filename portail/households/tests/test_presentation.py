"""How requests read: summaries carry no health value; health requests are flagged."""

import pytest
from django.urls import reverse

from portail.households.models import ChangeRequest, RequestKind
from portail.households.presentation import carries_health_data, request_summary
from tests.factories import StaffFactory

from .factories import NO_HEALTH, child_payload

pytestmark = pytest.mark.django_db


def test_add_child_carries_health_data_only_when_health_fields_are_filled(family):
    household, _, _ = family
    with_health = ChangeRequest(household=household, kind=RequestKind.ADD_CHILD, payload=child_payload())
    without = ChangeRequest(household=household, kind=RequestKind.ADD_CHILD, payload=child_payload(**NO_HEALTH))
    assert carries_health_data(with_health) and not carries_health_data(without)
    assert carries_health_data(ChangeRequest(household=household, kind=RequestKind.UPDATE_HEALTH, payload={}))


def test_health_summary_names_fields_but_never_values(family):
    household, _, (child,) = family
    change_request = ChangeRequest(
        household=household, kind=RequestKind.UPDATE_HEALTH, target_id=child.pk, payload={"allergies": "Arachide"}
    )
    summary = request_summary(change_request, children={child.pk: child}, guardians={})
    assert child.first_name in summary and "allergies" in summary and "Arachide" not in summary


def test_admin_lists_households_read_only(client, family):
    admin = StaffFactory(role="Administrateur")
    client.force_login(admin)
    assert client.get(reverse("admin:households_household_changelist")).status_code == 200
    assert client.get(reverse("admin:households_changerequest_changelist")).status_code == 200
    assert client.get(reverse("admin:households_household_add")).status_code == 403
