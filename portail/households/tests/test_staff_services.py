"""Staff edits of the record: validated like the family's, logged as "par la Mairie"."""

import datetime as dt

import pytest

from portail.core.audit import Channel
from portail.core.errors import BusinessError
from portail.core.models import LogEntry
from portail.households.models import FamilyQuotient, Guardian, HealthRecord
from portail.households.services import (
    record_health_access,
    set_payer,
    staff_add_child,
    staff_add_quotient,
    staff_update_child,
    staff_update_guardian,
    staff_update_health_record,
    staff_update_household,
)
from tests.factories import GuardianFactory

pytestmark = pytest.mark.django_db


def test_staff_update_child_logs_before_after_as_staff(family, agent):
    _, _, (child,) = family
    staff_update_child(obj=child, data={"diet": "vegetarian"}, actor=agent)
    child.refresh_from_db()
    assert child.diet == "vegetarian"
    entry = LogEntry.objects.get(action="child.updated")
    assert entry.channel == Channel.STAFF and entry.actor == agent
    assert entry.before == {"diet": "standard"} and entry.after == {"diet": "vegetarian"}


def test_staff_update_rejects_a_future_birth_date(family, agent):
    _, _, (child,) = family
    with pytest.raises(BusinessError):
        staff_update_child(obj=child, data={"birth_date": dt.date.today() + dt.timedelta(days=3)}, actor=agent)
    child.refresh_from_db()
    assert child.birth_date == dt.date(2018, 5, 14)


def test_staff_update_guardian_and_household(family, agent):
    household, guardian, _ = family
    staff_update_guardian(obj=guardian, data={"employer_name": "Mairie"}, actor=agent)
    staff_update_household(obj=household, data={"staff_notes": "Dossier complet"}, actor=agent)
    guardian.refresh_from_db()
    household.refresh_from_db()
    assert guardian.employer_name == "Mairie" and household.staff_notes == "Dossier complet"
    assert LogEntry.objects.filter(household=household, channel=Channel.STAFF).count() == 2


def test_health_record_update_needs_the_health_permission(family, agent, manager):
    _, _, (child,) = family
    with pytest.raises(BusinessError):
        staff_update_health_record(obj=HealthRecord(child=child), data={"allergies": "Oeuf"}, actor=agent)
    assert not HealthRecord.objects.exists()
    staff_update_health_record(obj=HealthRecord(child=child), data={"allergies": "Oeuf"}, actor=manager)
    assert HealthRecord.objects.get(child=child).allergies == "Oeuf"
    assert LogEntry.objects.filter(action="health_record.created").exists()


def test_staff_add_child_with_health_data_needs_the_permission(family, agent, manager):
    household, _, _ = family
    data = {"first_name": "Nina", "last_name": "Martin", "birth_date": "2020-01-01", "sex": "F"}
    with pytest.raises(BusinessError):
        staff_add_child(household=household, data={**data, "allergies": "Gluten"}, actor=agent)
    child = staff_add_child(household=household, data=data, actor=agent)
    assert child.is_active and child.household == household
    assert HealthRecord.objects.filter(child=child).exists()


def test_set_payer_moves_the_payer_with_an_audit_entry(family, agent):
    household, payer, _ = family
    other = GuardianFactory(household=household, is_payer=False, user=None)
    set_payer(guardian=other, actor=agent)
    assert list(Guardian.objects.filter(household=household, is_payer=True)) == [other]
    entry = LogEntry.objects.get(action="guardian.payer_changed")
    assert entry.before["payer"] == payer.full_name and entry.after["payer"] == other.full_name


def test_quotient_with_end_before_start_is_refused(family, agent):
    household, _, _ = family
    with pytest.raises(BusinessError) as error:
        staff_add_quotient(
            household=household,
            data={"value": 700, "valid_from": "2026-09-01", "valid_until": "2026-01-01"},
            actor=agent,
        )
    assert "fin de validité" in error.value.message
    staff_add_quotient(
        household=household, data={"value": 700, "valid_from": "2026-01-01", "valid_until": "2026-12-31"}, actor=agent
    )
    assert FamilyQuotient.objects.get(household=household).value == 700
    assert LogEntry.objects.filter(action="family_quotient.created").exists()


def test_record_health_access_logs_who_read_which_child(family, manager):
    household, _, (child,) = family
    record_health_access(child=child, actor=manager)
    entry = LogEntry.objects.get(action="health_record.viewed")
    assert entry.actor == manager and entry.object_id == str(child.pk) and entry.household == household
