"""Family pages: Ma famille, requests, the dashboard, and household scoping."""

import pytest
from django.urls import reverse

from portail.core.audit import Channel
from portail.households.models import (
    AuthorizedPerson,
    ChangeRequest,
    Child,
    FamilyQuotient,
    HouseholdStatus,
    RequestKind,
    RequestStatus,
)
from portail.households.services import submit_request
from portail.portal import dashboard
from tests.factories import HealthRecordFactory, make_family

from .factories import add_child_request, child_payload

pytestmark = pytest.mark.django_db


def test_ma_famille_shows_the_whole_record_including_own_health_data(family_client, family):
    household, guardian, (child,) = family
    HealthRecordFactory(child=child, allergies="Arachide")
    AuthorizedPerson.objects.create(child=child, first_name="Jeanne", last_name="Durand", phone="06 11 22 33 44")
    FamilyQuotient.objects.create(household=household, value=812, valid_from="2020-01-01", valid_until="2099-12-31")
    page = family_client.get(reverse("portal:family")).content.decode()
    for text in (household.reference, guardian.last_name, child.first_name, "Arachide", "Jeanne", "812", "Payeur"):
        assert text in page
    detail = family_client.get(reverse("portal:child_detail", args=[child.pk])).content.decode()
    assert "PAI alimentaire" in detail and "Jeanne" in detail


def test_pending_household_sees_its_record_and_dashboard_but_cannot_file_requests(family_client, family):
    household, _, _ = family
    household.status = HouseholdStatus.PENDING
    household.save()
    assert family_client.get(reverse("portal:family")).status_code == 200
    assert family_client.get(reverse("portal:dashboard")).status_code == 200
    assert family_client.get(reverse("portal:request_add_child")).status_code == 403


def test_refused_household_cannot_see_its_record(family_client, family):
    household, _, _ = family
    household.status = HouseholdStatus.REFUSED
    household.save()
    assert family_client.get(reverse("portal:family")).status_code == 403


def _child_form(**overrides):
    data = {k: ("" if v is None else v) for k, v in child_payload().items()}
    data["photo_allowed"] = "on"
    data.pop("may_leave_alone")
    data.pop("has_care_plan")
    data.update(overrides)
    return data


def test_add_child_through_the_page_files_a_pending_request(family_client, family):
    household, _, _ = family
    response = family_client.post(reverse("portal:request_add_child"), _child_form(**{"demande-message": "Merci"}))
    assert response.status_code == 302 and response["Location"] == reverse("portal:dashboard")
    change_request = ChangeRequest.objects.get(household=household)
    assert change_request.kind == RequestKind.ADD_CHILD and change_request.status == RequestStatus.PENDING
    assert change_request.payload["photo_allowed"] is True and change_request.payload["may_leave_alone"] is False
    assert change_request.message == "Merci"
    assert household.children.count() == 1


def test_add_child_form_errors_save_nothing(family_client, family):
    response = family_client.post(reverse("portal:request_add_child"), _child_form(birth_date="2999-01-01"))
    assert response.status_code == 200
    assert "futur" in response.content.decode()
    assert not ChangeRequest.objects.exists()


def test_duplicate_request_shows_a_clear_message(family_client, family):
    household, guardian, _ = family
    add_child_request(household, guardian)
    response = family_client.post(reverse("portal:request_add_child"), _child_form())
    assert response.status_code == 200
    assert "déjà en attente" in response.content.decode()
    assert ChangeRequest.objects.count() == 1


def test_update_child_page_prefills_and_files_only_the_changes(family_client, family):
    _, _, (child,) = family
    url = reverse("portal:request_update_child", args=[child.pk])
    assert child.first_name in family_client.get(url).content.decode()
    data = {
        "first_name": child.first_name,
        "last_name": child.last_name,
        "birth_date": child.birth_date.isoformat(),
        "sex": child.sex,
        "school": "",
        "school_level": "CM1",
        "diet": child.diet,
    }
    family_client.post(url, data)
    assert ChangeRequest.objects.get().payload == {"school_level": "CM1"}
    child.refresh_from_db()
    assert child.school_level == "CE2"


def test_family_cancels_its_request_from_the_detail_page(family_client, family):
    household, guardian, _ = family
    change_request = add_child_request(household, guardian)
    detail = family_client.get(reverse("portal:request_detail", args=[change_request.pk])).content.decode()
    assert "Léa" in detail and "Annuler cette demande" in detail
    family_client.post(reverse("portal:request_cancel", args=[change_request.pk]))
    change_request.refresh_from_db()
    assert change_request.status == RequestStatus.CANCELLED
    assert "Annulée" in family_client.get(reverse("portal:dashboard")).content.decode()


def test_family_request_accepted_by_staff_shows_as_accepted_in_its_dashboard(
    client, family, manager, django_capture_on_commit_callbacks
):
    household, guardian, _ = family
    client.force_login(guardian.user)
    client.post(reverse("portal:request_add_child"), _child_form())
    change_request = ChangeRequest.objects.get(household=household)
    assert "En attente" in client.get(reverse("portal:dashboard")).content.decode()

    client.force_login(manager)
    queue = client.get(reverse("backoffice:requests")).content.decode()
    assert household.reference in queue
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("backoffice:request_decide", args=[change_request.pk]), {"decision": "accept"})
    assert response.status_code == 302
    assert Child.objects.filter(household=household, first_name="Léa").exists()

    client.force_login(guardian.user)
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert "Acceptée" in page and "badge-accepted" in page
    assert "Léa" in client.get(reverse("portal:family")).content.decode()


def test_dashboard_shows_refusal_reason(family_client, family, manager, django_capture_on_commit_callbacks):
    from portail.households.services import decide_request

    household, guardian, _ = family
    change_request = add_child_request(household, guardian)
    with django_capture_on_commit_callbacks(execute=True):
        decide_request(
            change_request=change_request, actor=manager, accept=False, reason="Pièce manquante", channel="staff"
        )
    page = family_client.get(reverse("portal:dashboard")).content.decode()
    assert "Refusée" in page and "Pièce manquante" in page


def test_dashboard_collects_items_from_registered_sources(family_client, family):
    from django.utils import timezone

    def fake_source(household):
        return [dashboard.DashboardItem("Inscription", timezone.now(), "pending", "En attente", "Mercredis 2026", "")]

    dashboard.register_source(fake_source)
    dashboard.register_source(fake_source)  # idempotent
    try:
        assert dashboard.sources().count(fake_source) == 1
        page = family_client.get(reverse("portal:dashboard")).content.decode()
        assert "Mercredis 2026" in page
    finally:
        dashboard._SOURCES.remove(fake_source)


# --- household scoping: every family URL with an id, another household's id -> 404 ----------------

ID_URLS = [
    ("portal:child_detail", "child"),
    ("portal:request_update_child", "child"),
    ("portal:request_update_health", "child"),
    ("portal:request_add_person", "child"),
    ("portal:edit_coordinates", "guardian"),
    ("portal:request_update_guardian", "guardian"),
    ("portal:request_detail", "request"),
    ("portal:request_cancel", "request"),
]


@pytest.mark.parametrize(("name", "kind"), ID_URLS)
def test_another_households_ids_are_404(family_client, family, name, kind):
    their_household, their_guardian, (their_child,) = make_family(children=1)
    their_request = submit_request(
        household=their_household,
        kind=RequestKind.UPDATE_HOUSEHOLD,
        payload={"benefit_scheme": "msa", "benefit_number": "1"},
        actor=their_guardian.user,
        channel=Channel.WEB,
    )
    target = {"child": their_child, "guardian": their_guardian, "request": their_request}[kind]
    url = reverse(name, args=[target.pk])
    assert family_client.get(url).status_code == 404
    assert family_client.post(url, {"school_level": "CM1", "city": "X"}).status_code == 404
    their_request.refresh_from_db()
    assert their_request.status == RequestStatus.PENDING
    assert ChangeRequest.objects.filter(household=family[0]).count() == 0


def test_id_url_list_covers_every_family_url_with_an_id():
    from tests.urlwalk import routes

    mine = {r.name for r in routes("portal") if {"child_id", "guardian_id", "request_id"} & set(r.kwargs)}
    assert mine == {name for name, _ in ID_URLS}


def test_child_age_is_shown_and_new_enrolment_link_preselects_the_child(family_client, family):
    import datetime

    from django.utils import timezone

    _, _, (child,) = family
    today = timezone.localdate()
    child.birth_date = datetime.date(today.year - 7, 1, 1) if today.month > 1 or today.day > 1 else today
    child.save()
    expected_age = child.age_on(today)
    enrol_url = f"{reverse('portal:enrolment_new')}?enfant={child.pk}"
    for url in (reverse("portal:family"), reverse("portal:child_detail", args=[child.pk])):
        page = family_client.get(url).content.decode()
        assert f"({expected_age} ans)" in page
        assert enrol_url in page


def test_main_navigation_links_to_enrolments(family_client):
    page = family_client.get(reverse("portal:home")).content.decode()
    assert f'href="{reverse("portal:enrolments")}"' in page
