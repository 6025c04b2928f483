"""Requests (demandes): filed by a family, accepted or refused by staff."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from portail.core.audit import Channel
from portail.core.errors import BusinessError
from portail.core.models import LogEntry
from portail.households.models import (
    AuthorizedPerson,
    BenefitScheme,
    ChangeRequest,
    Child,
    Guardian,
    HealthRecord,
    HouseholdStatus,
    RequestKind,
    RequestStatus,
)
from portail.households.services import cancel_request, decide_request, submit_request
from tests.factories import ChildFactory, HealthRecordFactory, make_family

from .factories import add_child_request

pytestmark = pytest.mark.django_db


def _submit(family, kind, payload, target=None):
    household, guardian, _ = family
    return submit_request(
        household=household,
        kind=kind,
        payload=payload,
        target_id=target.pk if target is not None else None,
        actor=guardian.user,
        channel=Channel.WEB,
    )


def _accept(change_request, actor, capture):
    with capture(execute=True):
        return decide_request(change_request=change_request, actor=actor, accept=True, channel=Channel.STAFF)


# --- filing -------------------------------------------------------------------------------


def test_add_child_request_is_pending_and_creates_nothing(family):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian)
    assert change_request.status == RequestStatus.PENDING
    assert change_request.payload["birth_date"] == "2019-03-02"
    assert change_request.payload["allergies"] == "Kiwi"
    assert change_request.submitted_by == guardian.user
    assert household.children.count() == 1
    assert not Child.objects.filter(first_name="Léa").exists()
    assert LogEntry.objects.filter(action="change_request.submitted", household=household).exists()


def test_request_with_a_future_birth_date_is_refused(family):
    household, guardian, _ = family
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    with pytest.raises(BusinessError) as error:
        add_child_request(household, guardian, birth_date=tomorrow)
    assert "futur" in error.value.message
    assert not ChangeRequest.objects.exists()


def test_request_with_an_unknown_field_is_refused(family):
    with pytest.raises(BusinessError):
        _submit(family, RequestKind.UPDATE_HOUSEHOLD, {"staff_notes": "hack"})


def test_second_pending_request_of_same_kind_on_same_target_is_refused(family):
    _, _, (child,) = family
    _submit(family, RequestKind.UPDATE_CHILD, {"school_level": "CM1"}, target=child)
    with pytest.raises(BusinessError) as error:
        _submit(family, RequestKind.UPDATE_CHILD, {"diet": "no_meat"}, target=child)
    assert "déjà en attente" in error.value.message
    assert ChangeRequest.objects.count() == 1


def test_same_child_cannot_be_asked_twice_but_two_children_can(family):
    household, guardian, _ = family
    add_child_request(household, guardian)
    with pytest.raises(BusinessError):
        add_child_request(household, guardian)
    add_child_request(household, guardian, first_name="Tom", sex="M")
    assert ChangeRequest.objects.filter(kind=RequestKind.ADD_CHILD).count() == 2


def test_once_decided_the_same_request_can_be_filed_again(family, manager, django_capture_on_commit_callbacks):
    _, _, (child,) = family
    first = _submit(family, RequestKind.UPDATE_CHILD, {"school_level": "CM1"}, target=child)
    with django_capture_on_commit_callbacks(execute=True):
        decide_request(change_request=first, actor=manager, accept=False, reason="Classe à confirmer", channel="staff")
    _submit(family, RequestKind.UPDATE_CHILD, {"school_level": "CM1"}, target=child)


def test_update_request_keeps_only_changed_fields(family):
    _, _, (child,) = family
    change_request = _submit(
        family, RequestKind.UPDATE_CHILD, {"first_name": child.first_name, "school_level": "CM1"}, target=child
    )
    assert change_request.payload == {"school_level": "CM1"}


def test_update_request_without_any_change_is_refused(family):
    _, _, (child,) = family
    with pytest.raises(BusinessError) as error:
        _submit(family, RequestKind.UPDATE_CHILD, {"school_level": child.school_level}, target=child)
    assert "aucune information" in error.value.message


def test_request_about_another_households_child_is_refused(family):
    _, _, (their_child,) = make_family(children=1)
    with pytest.raises(BusinessError):
        _submit(family, RequestKind.UPDATE_CHILD, {"school_level": "CM1"}, target=their_child)


def test_pending_household_cannot_file_requests(family):
    household, guardian, _ = family
    household.status = HouseholdStatus.PENDING
    household.save()
    with pytest.raises(BusinessError):
        add_child_request(household, guardian)


def test_benefit_number_is_required_for_caf(family):
    with pytest.raises(BusinessError) as error:
        _submit(family, RequestKind.UPDATE_HOUSEHOLD, {"benefit_scheme": "caf", "benefit_number": ""})
    assert "numéro d'allocataire" in error.value.message


# --- cancelling -------------------------------------------------------------------------


def test_family_cancels_its_pending_request(family):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian)
    cancel_request(change_request=change_request, actor=guardian.user, channel=Channel.WEB)
    change_request.refresh_from_db()
    assert change_request.status == RequestStatus.CANCELLED
    with pytest.raises(BusinessError):
        cancel_request(change_request=change_request, actor=guardian.user, channel=Channel.WEB)


# --- deciding ----------------------------------------------------------------------------


def test_staff_accepts_add_child_child_and_health_record_exist_with_audit(
    family, manager, django_capture_on_commit_callbacks
):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian)
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    child = Child.objects.get(household=household, first_name="Léa")
    assert child.birth_date == dt.date(2019, 3, 2) and child.diet == "no_pork" and child.photo_allowed
    assert child.is_active
    assert child.health_record.allergies == "Kiwi"
    assert child.health_record.doctor_phone == "01 23 45 67 89"
    change_request.refresh_from_db()
    assert change_request.status == RequestStatus.ACCEPTED
    assert change_request.decided_by == manager and change_request.decided_at
    created = LogEntry.objects.get(action="child.created")
    assert created.actor == manager and created.channel == Channel.STAFF and created.household == household
    assert created.after["first_name"] == "Léa"
    assert LogEntry.objects.filter(action="health_record.created", household=household).exists()
    assert LogEntry.objects.filter(action="change_request.accepted").exists()


def test_accepting_emails_the_payer(family, manager, django_capture_on_commit_callbacks):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian)
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [guardian.email]
    assert mail.outbox[0].subject == "Votre demande a été acceptée : Ajout d'un enfant"
    assert "Léa" in mail.outbox[0].body


def test_decision_email_waits_for_the_commit(family, manager, django_capture_on_commit_callbacks):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        decide_request(change_request=change_request, actor=manager, accept=True, channel=Channel.STAFF)
    assert len(callbacks) == 1 and mail.outbox == []


def test_refusing_without_reason_raises_and_changes_nothing(family, manager):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian)
    with pytest.raises(BusinessError) as error:
        decide_request(change_request=change_request, actor=manager, accept=False, reason="  ", channel="staff")
    assert "motif" in error.value.message
    change_request.refresh_from_db()
    assert change_request.status == RequestStatus.PENDING


def test_refused_request_keeps_record_unchanged_and_emails_the_reason(
    family, manager, django_capture_on_commit_callbacks
):
    household, guardian, (child,) = family
    change_request = _submit(family, RequestKind.UPDATE_CHILD, {"school_level": "CM1"}, target=child)
    with django_capture_on_commit_callbacks(execute=True):
        decide_request(
            change_request=change_request, actor=manager, accept=False, reason="Justificatif manquant", channel="staff"
        )
    child.refresh_from_db()
    assert child.school_level == "CE2"
    change_request.refresh_from_db()
    assert change_request.status == RequestStatus.REFUSED
    assert change_request.refusal_reason == "Justificatif manquant"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [guardian.email]
    assert "Justificatif manquant" in mail.outbox[0].body


def test_email_goes_to_the_submitter_when_the_payer_has_none(family, manager, django_capture_on_commit_callbacks):
    household, guardian, _ = family
    Guardian.objects.filter(pk=guardian.pk).update(email="")
    change_request = add_child_request(household, guardian)
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    assert mail.outbox[0].to == [guardian.user.email]


def test_deciding_a_request_twice_raises(family, manager, django_capture_on_commit_callbacks):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian)
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    with pytest.raises(BusinessError):
        decide_request(change_request=change_request, actor=manager, accept=True, channel="staff")
    with pytest.raises(BusinessError):
        decide_request(change_request=change_request, actor=manager, accept=False, reason="non", channel="staff")
    assert Child.objects.filter(first_name="Léa").count() == 1


def test_deciding_a_cancelled_request_raises(family, manager):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian)
    cancel_request(change_request=change_request, actor=guardian.user, channel=Channel.WEB)
    with pytest.raises(BusinessError):
        decide_request(change_request=change_request, actor=manager, accept=True, channel="staff")
    assert not Child.objects.filter(first_name="Léa").exists()


def test_accepting_update_child_applies_changes_with_before_after(family, manager, django_capture_on_commit_callbacks):
    _, _, (child,) = family
    change_request = _submit(
        family, RequestKind.UPDATE_CHILD, {"school_level": "CM1", "may_leave_alone": True}, target=child
    )
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    child.refresh_from_db()
    assert child.school_level == "CM1" and child.may_leave_alone
    entry = LogEntry.objects.get(action="child.updated")
    assert entry.before == {"school_level": "CE2", "may_leave_alone": False}
    assert entry.after == {"school_level": "CM1", "may_leave_alone": True}


def test_accepting_update_health_creates_the_record_when_missing(family, manager, django_capture_on_commit_callbacks):
    _, _, (child,) = family
    change_request = _submit(
        family,
        RequestKind.UPDATE_HEALTH,
        {"allergies": "Lait", "has_care_plan": True, "care_plan_details": "PAI lait"},
        target=child,
    )
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    record = HealthRecord.objects.get(child=child)
    assert record.allergies == "Lait" and record.has_care_plan


def test_accepting_update_health_changes_the_existing_record(family, manager, django_capture_on_commit_callbacks):
    _, _, (child,) = family
    HealthRecordFactory(child=child)
    change_request = _submit(family, RequestKind.UPDATE_HEALTH, {"treatment": "Ventoline"}, target=child)
    assert change_request.payload == {"treatment": "Ventoline"}
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    record = HealthRecord.objects.get(child=child)
    assert record.treatment == "Ventoline" and record.allergies == "Arachide"
    entry = LogEntry.objects.get(action="health_record.updated")
    assert entry.before == {"treatment": ""} and entry.after == {"treatment": "Ventoline"}


def test_health_request_needs_an_agent_with_the_health_permission(family, agent):
    _, _, (child,) = family
    change_request = _submit(family, RequestKind.UPDATE_HEALTH, {"allergies": "Lait"}, target=child)
    with pytest.raises(BusinessError) as error:
        decide_request(change_request=change_request, actor=agent, accept=True, channel="staff")
    assert "santé" in error.value.message
    assert not HealthRecord.objects.filter(child=child).exists()


def test_accepting_add_authorized_person(family, manager, django_capture_on_commit_callbacks):
    _, _, (child,) = family
    change_request = _submit(
        family,
        RequestKind.ADD_AUTHORIZED_PERSON,
        {"first_name": "Jeanne", "last_name": "Durand", "phone": "0611223344", "relationship": "Grand-mère"},
        target=child,
    )
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    person = AuthorizedPerson.objects.get(child=child)
    assert person.phone == "06 11 22 33 44"
    assert LogEntry.objects.filter(action="authorized_person.created").exists()


def test_accepting_benefit_change(family, manager, django_capture_on_commit_callbacks):
    household, _, _ = family
    change_request = _submit(family, RequestKind.UPDATE_HOUSEHOLD, {"benefit_scheme": "msa", "benefit_number": "98 76"})
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    household.refresh_from_db()
    assert household.benefit_scheme == BenefitScheme.MSA and household.benefit_number == "9876"


def test_accepting_add_guardian_creates_a_non_payer(family, manager, django_capture_on_commit_callbacks):
    household, payer, _ = family
    change_request = _submit(
        family,
        RequestKind.ADD_GUARDIAN,
        {"civility": "m", "first_name": "Paul", "last_name": "Martin", "mobile_phone": "0699887766", "postcode": ""},
    )
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    paul = Guardian.objects.get(household=household, first_name="Paul")
    assert not paul.is_payer and paul.user is None
    payer.refresh_from_db()
    assert payer.is_payer


def test_accepting_update_guardian_identity(family, manager, django_capture_on_commit_callbacks):
    _, guardian, _ = family
    change_request = _submit(family, RequestKind.UPDATE_GUARDIAN, {"last_name": "Martin-Durand"}, target=guardian)
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    guardian.refresh_from_db()
    assert guardian.last_name == "Martin-Durand"


def test_accepting_a_request_whose_child_was_removed_fails_and_stays_pending(family, manager):
    household, _, _ = family
    other = ChildFactory(household=household)
    change_request = _submit(family, RequestKind.UPDATE_CHILD, {"school_level": "CM1"}, target=other)
    other.delete()
    with pytest.raises(BusinessError):
        decide_request(change_request=change_request, actor=manager, accept=True, channel="staff")
    change_request.refresh_from_db()
    assert change_request.status == RequestStatus.PENDING


# --- sign-up -------------------------------------------------------------------------------


def _signup(family):
    household, guardian, _ = family
    household.status = HouseholdStatus.PENDING
    household.save()
    return ChangeRequest.objects.create(
        household=household,
        kind=RequestKind.SIGNUP,
        payload={"payer": {"first_name": "Camille", "last_name": "Martin"}, "children": []},
        submitted_by=guardian.user,
    )


def test_accepting_a_signup_activates_the_household(family, manager, django_capture_on_commit_callbacks):
    household, guardian, _ = family
    change_request = _signup(family)
    _accept(change_request, manager, django_capture_on_commit_callbacks)
    household.refresh_from_db()
    assert household.status == HouseholdStatus.ACTIVE and household.decided_at
    assert mail.outbox[0].to == [guardian.email] and "validé" in mail.outbox[0].subject
    assert LogEntry.objects.filter(action="household.signup_accepted", household=household).exists()


def test_refusing_a_signup_marks_the_household_refused_with_reason(family, manager, django_capture_on_commit_callbacks):
    household, _, _ = family
    change_request = _signup(family)
    with django_capture_on_commit_callbacks(execute=True):
        decide_request(
            change_request=change_request, actor=manager, accept=False, reason="Hors commune", channel="staff"
        )
    household.refresh_from_db()
    assert household.status == HouseholdStatus.REFUSED
    assert household.refusal_reason == "Hors commune" and household.decided_at
    assert "Hors commune" in mail.outbox[0].body


def test_submit_request_records_a_signup_for_a_pending_household(family):
    household, guardian, _ = family
    household.status = HouseholdStatus.PENDING
    household.save()
    change_request = _submit(family, RequestKind.SIGNUP, {"payer": {"first_name": "Camille"}, "children": []})
    assert change_request.kind == RequestKind.SIGNUP and change_request.status == RequestStatus.PENDING
    with pytest.raises(BusinessError):
        cancel_request(change_request=change_request, actor=guardian.user, channel=Channel.WEB)
