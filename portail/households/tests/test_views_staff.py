"""Staff pages: search, household page (health data gated and logged), edits, the queue."""

import pytest
from django.core import mail
from django.urls import reverse

from portail.core.audit import Channel
from portail.core.models import LogEntry
from portail.households.models import (
    AuthorizedPerson,
    ChangeRequest,
    Child,
    FamilyQuotient,
    Guardian,
    HouseholdStatus,
    RequestKind,
    RequestStatus,
)
from portail.households.services import submit_request, update_coordinates
from tests.factories import GuardianFactory, HealthRecordFactory, make_family

from .factories import NO_HEALTH, add_child_request

pytestmark = pytest.mark.django_db


def _ids(family):
    household, guardian, (child,) = family
    return household, guardian, child


STAFF_URLS = [
    ("backoffice:households", lambda h, g, c: []),
    ("backoffice:requests", lambda h, g, c: []),
    ("backoffice:household_detail", lambda h, g, c: [h.pk]),
    ("backoffice:household_edit", lambda h, g, c: [h.pk]),
    ("backoffice:household_log", lambda h, g, c: [h.pk]),
    ("backoffice:quotient_add", lambda h, g, c: [h.pk]),
    ("backoffice:child_add", lambda h, g, c: [h.pk]),
    ("backoffice:guardian_edit", lambda h, g, c: [h.pk, g.pk]),
    ("backoffice:guardian_set_payer", lambda h, g, c: [h.pk, g.pk]),
    ("backoffice:child_edit", lambda h, g, c: [h.pk, c.pk]),
    ("backoffice:health_edit", lambda h, g, c: [h.pk, c.pk]),
    ("backoffice:person_add", lambda h, g, c: [h.pk, c.pk]),
]


@pytest.mark.parametrize(("name", "args"), STAFF_URLS)
def test_staff_pages_are_forbidden_to_a_family(family_client, family, name, args):
    url = reverse(name, args=args(*_ids(family)))
    assert family_client.get(url).status_code == 403
    assert family_client.post(url, {"city": "X"}).status_code == 403


def test_staff_urls_of_another_household_are_404(client, manager, family):
    household, _, _ = family
    _, their_guardian, (their_child,) = make_family(children=1)
    client.force_login(manager)
    for name, args in [
        ("backoffice:guardian_edit", [household.pk, their_guardian.pk]),
        ("backoffice:child_edit", [household.pk, their_child.pk]),
        ("backoffice:health_edit", [household.pk, their_child.pk]),
    ]:
        assert client.get(reverse(name, args=args)).status_code == 404


# --- search ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["REF", "Zanzibar", "Philomène", "zanzibar@exemple.fr", "0677889900", "06 77 88 99 00", "Philomène Zanzibar"],
)
def test_search_finds_a_household_by_reference_names_email_or_phone(client, agent, query):
    household, guardian, (child,) = make_family(children=1)
    Guardian.objects.filter(pk=guardian.pk).update(
        last_name="Zanzibar", email="zanzibar@exemple.fr", mobile_phone="06 77 88 99 00"
    )
    Child.objects.filter(pk=child.pk).update(first_name="Philomène", last_name="Zanzibar")
    make_family(children=2)
    query = household.reference if query == "REF" else query
    client.force_login(agent)
    response = client.get(reverse("backoffice:households"), {"q": query})
    assert list(response.context["page"].object_list) == [household]


def test_search_paginates(client, agent):
    for _ in range(27):
        make_family(children=0)
    client.force_login(agent)
    first = client.get(reverse("backoffice:households"))
    assert len(first.context["page"].object_list) == 25
    second = client.get(reverse("backoffice:households"), {"page": 2})
    assert len(second.context["page"].object_list) == 2


# --- household page and health data -----------------------------------------------------------


def test_agent_without_health_permission_sees_no_health_data(client, agent, family):
    household, _, (child,) = family
    HealthRecordFactory(child=child, allergies="Arachide")
    client.force_login(agent)
    page = client.get(reverse("backoffice:household_detail", args=[household.pk])).content.decode()
    assert child.first_name in page
    assert "Arachide" not in page and "PAI alimentaire" not in page
    assert "Données de santé : accès réservé" in page
    assert not LogEntry.objects.filter(action="health_record.viewed").exists()
    assert client.get(reverse("backoffice:health_edit", args=[household.pk, child.pk])).status_code == 403


def test_manager_sees_health_data_and_each_view_is_logged(client, manager, family):
    household, _, (child,) = family
    HealthRecordFactory(child=child, allergies="Arachide")
    client.force_login(manager)
    page = client.get(reverse("backoffice:household_detail", args=[household.pk])).content.decode()
    assert "Arachide" in page and "PAI alimentaire" in page
    client.get(reverse("backoffice:household_detail", args=[household.pk]))
    views = LogEntry.objects.filter(action="health_record.viewed", object_id=str(child.pk))
    assert views.count() == 2 and {v.actor for v in views} == {manager}
    assert all(v.channel == Channel.STAFF and v.household == household for v in views)


def test_opening_the_health_form_is_logged(client, manager, family):
    household, _, (child,) = family
    client.force_login(manager)
    assert client.get(reverse("backoffice:health_edit", args=[household.pk, child.pk])).status_code == 200
    assert LogEntry.objects.filter(action="health_record.viewed", actor=manager, object_id=str(child.pk)).exists()


def test_household_page_shows_the_audit_log_with_channel(client, manager, family):
    household, guardian, _ = family
    update_coordinates(guardian=guardian, data={"city": "Lyon"}, actor=guardian.user, channel=Channel.WEB)
    client.force_login(manager)
    page = client.get(reverse("backoffice:household_detail", args=[household.pk])).content.decode()
    assert "par le web" in page and "Lyon" in page and "Ville-sur-Test" in page
    log = client.get(reverse("backoffice:household_log", args=[household.pk])).content.decode()
    assert "Coordonnées modifiées" in log and "par le web" in log


def test_health_changes_in_the_journal_are_hidden_without_the_health_permission(
    client, cashier, manager, family, django_capture_on_commit_callbacks
):
    household, guardian, (child,) = family
    client.force_login(manager)
    client.post(reverse("backoffice:health_edit", args=[household.pk, child.pk]), {"allergies": "Sésame"})
    assert LogEntry.objects.filter(action="health_record.created").exists()
    client.force_login(cashier)
    log = client.get(reverse("backoffice:household_log", args=[household.pk])).content.decode()
    assert "Sésame" not in log and "accès réservé" in log


def test_staff_without_audit_permission_cannot_open_the_journal(client, family):
    from tests.factories import StaffFactory

    client.force_login(StaffFactory())  # an agent with no role
    assert client.get(reverse("backoffice:household_log", args=[family[0].pk])).status_code == 403


def test_front_desk_agent_reads_the_journal(client, agent, family):
    client.force_login(agent)
    assert client.get(reverse("backoffice:household_log", args=[family[0].pk])).status_code == 200


def test_access_link_shows_only_when_the_accounts_page_exists(client, agent, family):
    from django.urls import NoReverseMatch

    client.force_login(agent)
    page = client.get(reverse("backoffice:household_detail", args=[family[0].pk])).content.decode()
    try:
        url = reverse("backoffice:household_access", args=[family[0].pk])
    except NoReverseMatch:
        assert "Accès au portail" not in page
    else:
        assert url in page


# --- staff edits ---------------------------------------------------------------------------


def test_staff_edits_a_child_with_audit_entry(client, agent, family):
    household, _, (child,) = family
    client.force_login(agent)
    url = reverse("backoffice:child_edit", args=[household.pk, child.pk])
    data = {
        "first_name": "Zoé",
        "last_name": child.last_name,
        "birth_date": "2018-05-14",
        "sex": "F",
        "school": "",
        "school_level": "CE2",
        "diet": "standard",
        "is_active": "on",
    }
    assert client.post(url, data).status_code == 302
    child.refresh_from_db()
    assert child.first_name == "Zoé"
    entry = LogEntry.objects.get(action="child.updated")
    assert entry.channel == Channel.STAFF and entry.actor == agent and entry.after == {"first_name": "Zoé"}


def test_staff_form_errors_save_nothing(client, agent, family):
    household, guardian, _ = family
    client.force_login(agent)
    url = reverse("backoffice:guardian_edit", args=[household.pk, guardian.pk])
    response = client.post(url, {"civility": "mme", "first_name": "A", "last_name": "B", "postcode": "1"})
    assert response.status_code == 200 and "5 chiffres" in response.content.decode()
    guardian.refresh_from_db()
    assert guardian.first_name == "Camille"


def test_staff_changes_the_payer(client, agent, family):
    household, payer, _ = family
    other = GuardianFactory(household=household, is_payer=False, user=None)
    client.force_login(agent)
    client.post(reverse("backoffice:guardian_set_payer", args=[household.pk, other.pk]))
    other.refresh_from_db()
    payer.refresh_from_db()
    assert other.is_payer and not payer.is_payer


def test_staff_adds_a_quotient_and_an_authorized_person_then_removes_it(client, agent, family):
    household, _, (child,) = family
    client.force_login(agent)
    client.post(
        reverse("backoffice:quotient_add", args=[household.pk]),
        {"value": "650", "valid_from": "2026-01-01", "valid_until": "2026-12-31", "source": "caf"},
    )
    assert FamilyQuotient.objects.get(household=household).value == 650
    client.post(
        reverse("backoffice:person_add", args=[household.pk, child.pk]),
        {"first_name": "Jo", "last_name": "Durand", "phone": "0611223344"},
    )
    person = AuthorizedPerson.objects.get(child=child)
    client.post(reverse("backoffice:person_delete", args=[household.pk, child.pk, person.pk]))
    assert not AuthorizedPerson.objects.exists()
    assert LogEntry.objects.filter(action="authorized_person.deleted", household=household).exists()


# --- queue and decisions ---------------------------------------------------------------------


def test_queue_lists_pending_requests_oldest_first_and_filters_by_kind(client, agent, family):
    household, guardian, (child,) = family
    first = add_child_request(household, guardian)
    second = submit_request(
        household=household,
        kind=RequestKind.UPDATE_CHILD,
        payload={"school_level": "CM1"},
        target_id=child.pk,
        actor=guardian.user,
        channel=Channel.WEB,
    )
    pending_household, _, _ = make_family(children=0, status=HouseholdStatus.PENDING)
    signup = ChangeRequest.objects.create(household=pending_household, kind=RequestKind.SIGNUP, payload={})
    decided = add_child_request(household, guardian, first_name="Tom")
    ChangeRequest.objects.filter(pk=decided.pk).update(status=RequestStatus.REFUSED)
    client.force_login(agent)
    page = client.get(reverse("backoffice:requests")).context["page"]
    assert list(page.object_list) == [first, second, signup]
    filtered = client.get(reverse("backoffice:requests"), {"kind": "update_child"}).context["page"]
    assert list(filtered.object_list) == [second]


def test_decide_page_shows_proposed_and_current_values(client, agent, family):
    household, guardian, (child,) = family
    change_request = submit_request(
        household=household,
        kind=RequestKind.UPDATE_CHILD,
        payload={"school_level": "CM1"},
        target_id=child.pk,
        actor=guardian.user,
        channel=Channel.WEB,
    )
    client.force_login(agent)
    response = client.get(reverse("backoffice:request_decide", args=[change_request.pk]))
    rows = response.context["rows"]
    assert [(r.label, r.current, r.proposed) for r in rows] == [("Classe", "CE2", "CM1")]


def test_refusing_without_reason_through_the_page_shows_an_error(client, agent, family):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian, **NO_HEALTH)
    client.force_login(agent)
    response = client.post(
        reverse("backoffice:request_decide", args=[change_request.pk]), {"decision": "refuse", "reason": ""}
    )
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    change_request.refresh_from_db()
    assert change_request.status == RequestStatus.PENDING


def test_refusing_through_the_page_emails_the_family_with_the_reason(
    client, agent, family, django_capture_on_commit_callbacks
):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian, **NO_HEALTH)
    client.force_login(agent)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("backoffice:request_decide", args=[change_request.pk]),
            {"decision": "refuse", "reason": "Enfant déjà inscrit"},
        )
    change_request.refresh_from_db()
    assert change_request.status == RequestStatus.REFUSED
    assert mail.outbox[0].to == [guardian.email] and "Enfant déjà inscrit" in mail.outbox[0].body


def test_health_request_is_hidden_from_an_agent_and_shown_and_logged_for_a_manager(client, agent, manager, family):
    household, guardian, (child,) = family
    change_request = submit_request(
        household=household,
        kind=RequestKind.UPDATE_HEALTH,
        payload={"allergies": "Moutarde"},
        target_id=child.pk,
        actor=guardian.user,
        channel=Channel.WEB,
    )
    client.force_login(agent)
    page = client.get(reverse("backoffice:request_decide", args=[change_request.pk])).content.decode()
    assert "Moutarde" not in page and "accès réservé" in page and 'value="accept"' not in page
    client.force_login(manager)
    page = client.get(reverse("backoffice:request_decide", args=[change_request.pk])).content.decode()
    assert "Moutarde" in page and 'value="accept"' in page
    assert LogEntry.objects.filter(action="health_record.viewed", actor=manager, object_id=str(child.pk)).exists()


def test_cashier_may_read_the_queue_but_not_decide(client, cashier, family):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian, **NO_HEALTH)
    client.force_login(cashier)
    assert client.get(reverse("backoffice:requests")).status_code == 200
    response = client.post(reverse("backoffice:request_decide", args=[change_request.pk]), {"decision": "accept"})
    assert response.status_code == 403
    change_request.refresh_from_db()
    assert change_request.status == RequestStatus.PENDING


def test_signup_request_is_decided_from_the_queue(client, agent, django_capture_on_commit_callbacks):
    household, guardian, _ = make_family(children=1, status=HouseholdStatus.PENDING)
    change_request = ChangeRequest.objects.create(
        household=household,
        kind=RequestKind.SIGNUP,
        payload={"payer": {"first_name": "Camille", "last_name": "Martin", "email": guardian.email}, "children": []},
        submitted_by=guardian.user,
    )
    client.force_login(agent)
    page = client.get(reverse("backoffice:request_decide", args=[change_request.pk])).content.decode()
    assert "Camille" in page and "activer le compte" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("backoffice:request_decide", args=[change_request.pk]), {"decision": "accept"})
    household.refresh_from_db()
    assert household.status == HouseholdStatus.ACTIVE
    assert len(mail.outbox) == 1
