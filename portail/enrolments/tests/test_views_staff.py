"""Staff enrolment pages: permissions, the queue (filters, single and bulk decisions, query
count) and the enrolment page (journal, validate, refuse, pre-enrolment, cancel, move)."""

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portail.accounts import roles
from portail.catalog.models import Activity
from portail.core.models import Channel, LogEntry
from portail.enrolments.models import EnrolmentStatus
from tests.factories import GroupFactory, PeriodFactory, StaffFactory, make_family

from .factories import make_child, make_offer, request

pytestmark = pytest.mark.django_db

MANUAL = Activity.ValidationMode.MANUAL


@pytest.fixture
def manager(client):
    user = StaffFactory(role=roles.MANAGER)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def pending():
    """A manual activity with one request ("?") in a group of 2 places."""
    activity, period, group = make_offer(validation_mode=MANUAL, capacity=2)
    enrolment = request(make_child(first_name="Inès"), period, group, memo="Allergie au bruit")
    mail.outbox.clear()
    return enrolment


def staff_urls(enrolment):
    detail = [enrolment.pk]
    waiting = f"?groupe={enrolment.group_id}&periode={enrolment.period_id}"
    listing = f"?activite={enrolment.activity_id}"
    gets = [
        reverse("backoffice:enrolments"),
        reverse("backoffice:enrolment_detail", args=detail),
        reverse("backoffice:enrolment_list") + listing,
        reverse("backoffice:enrolment_export_csv") + listing,
        reverse("backoffice:enrolment_export_xlsx") + listing,
        reverse("backoffice:waiting_list") + waiting,
    ]
    posts = [
        reverse("backoffice:enrolments_bulk"),
        reverse("backoffice:enrolment_validate", args=detail),
        reverse("backoffice:enrolment_refuse", args=detail),
        reverse("backoffice:enrolment_accept_pre_enrolment", args=detail),
        reverse("backoffice:enrolment_cancel", args=detail),
        reverse("backoffice:enrolment_move", args=detail),
        reverse("backoffice:waiting_list_reorder"),
        reverse("backoffice:waiting_list_capacity"),
    ]
    return gets, posts


# --- permissions ---------------------------------------------------------------------------


def test_family_users_get_403_on_every_staff_enrolment_url(client, pending):
    _, guardian, _ = make_family()
    client.force_login(guardian.user)
    gets, posts = staff_urls(pending)
    for url in gets + posts:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"reason": "x"}).status_code == 403, url
    pending.refresh_from_db()
    assert pending.status == EnrolmentStatus.REQUESTED


def test_anonymous_visitors_are_sent_to_login(client, pending):
    gets, posts = staff_urls(pending)
    for url in gets + posts:
        response = client.get(url)
        assert response.status_code == 302 and reverse("accounts:login") in response["Location"], url


def test_cashier_sees_the_enrolment_pages_but_cannot_decide(client, pending):
    client.force_login(StaffFactory(role=roles.CASHIER))
    gets, posts = staff_urls(pending)
    for url in gets:
        assert client.get(url).status_code == 200, url
    for url in posts:
        assert client.post(url, {"reason": "Complet"}).status_code == 403, url
    html = client.get(reverse("backoffice:enrolments")).content.decode()
    assert "Valider la sélection" not in html and "Inès" in html
    pending.refresh_from_db()
    assert pending.status == EnrolmentStatus.REQUESTED


def test_front_desk_agent_can_validate(client, pending):
    client.force_login(StaffFactory(role=roles.AGENT))
    client.post(reverse("backoffice:enrolment_validate", args=[pending.pk]))
    pending.refresh_from_db()
    assert pending.status == EnrolmentStatus.VALIDATED


def test_actions_refuse_get(manager, pending):
    assert manager.get(reverse("backoffice:enrolment_validate", args=[pending.pk])).status_code == 405


def test_unknown_enrolment_is_404(manager):
    assert manager.get(reverse("backoffice:enrolment_detail", args=[999999])).status_code == 404
    assert manager.post(reverse("backoffice:enrolment_validate", args=[999999])).status_code == 404


def test_staff_navigation_links_to_the_enrolments(manager):
    html = manager.get(reverse("backoffice:home")).content.decode()
    assert reverse("backoffice:enrolments") in html


# --- the queue -----------------------------------------------------------------------------


def test_queue_lists_requests_and_pre_enrolments_oldest_first_with_their_details(manager, pending):
    _, pre_period, pre_group = make_offer(pre_enrolment=True)
    pre = request(make_child(first_name="Zoé"), pre_period, pre_group)
    _, auto_period, auto_group = make_offer()
    request(make_child(first_name="Validé"), auto_period, auto_group)  # validated at once: not in the queue
    response = manager.get(reverse("backoffice:enrolments"))
    rows = response.context["rows"]
    assert [e.pk for e in rows] == [pending.pk, pre.pk]
    assert rows[0].places_left == 1  # the request holds one of the 2 places
    assert rows[1].places_left == 2  # a pre-enrolment holds none
    html = response.content.decode()
    assert "Allergie au bruit" in html and pending.child.household.reference in html
    assert reverse("backoffice:household_detail", args=[pending.child.household_id]) in html
    assert "Validé" not in html


def test_queue_filters_by_activity_period_and_group(manager, pending):
    _, other_period, other_group = make_offer(validation_mode=MANUAL)
    other = request(make_child(), other_period, other_group)
    url = reverse("backoffice:enrolments")
    assert [e.pk for e in manager.get(url, {"activite": pending.activity_id}).context["rows"]] == [pending.pk]
    assert [e.pk for e in manager.get(url, {"groupe": other_group.pk}).context["rows"]] == [other.pk]
    assert [e.pk for e in manager.get(url, {"periode": pending.period_id}).context["rows"]] == [pending.pk]
    facility = pending.activity.facility_id
    assert [e.pk for e in manager.get(url, {"structure": facility}).context["rows"]] == [pending.pk]
    # A period of another activity is reported and ignored, not silently emptied.
    response = manager.get(url, {"activite": pending.activity_id, "periode": other_period.pk})
    assert response.context["form"].errors and [e.pk for e in response.context["rows"]] == [pending.pk]


def _queue_queries(client):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("backoffice:enrolments")).status_code == 200
    return len(queries)


def test_queue_query_count_does_not_grow_with_the_requests(manager):
    _queue_queries(manager)  # the first request of a session also saves the session
    _, period, group = make_offer(validation_mode=MANUAL, capacity=50)
    _, pre_period, pre_group = make_offer(pre_enrolment=True, activity_capacity=30)
    for _ in range(2):
        request(make_child(), period, group)
        request(make_child(), pre_period, pre_group)
    few = _queue_queries(manager)
    for _ in range(8):
        request(make_child(), period, group)
        request(make_child(), pre_period, pre_group)
    assert _queue_queries(manager) == few


def test_row_validation_is_audited_emailed_and_returns_to_the_filtered_queue(
    manager, pending, django_capture_on_commit_callbacks
):
    back = reverse("backoffice:enrolments") + f"?activite={pending.activity_id}"
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(reverse("backoffice:enrolment_validate", args=[pending.pk]), {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    pending.refresh_from_db()
    assert pending.status == EnrolmentStatus.VALIDATED and pending.decided_by == manager.user
    entry = LogEntry.objects.get(action="enrolment.validated")
    assert (entry.actor, entry.channel) == (manager.user, Channel.STAFF)
    assert [m.subject for m in mail.outbox] == [mail.outbox[0].subject] and "validée" in mail.outbox[0].subject


def test_next_pointing_elsewhere_is_ignored(manager, pending):
    response = manager.post(
        reverse("backoffice:enrolment_validate", args=[pending.pk]), {"next": "https://evil.example.org/"}
    )
    assert response["Location"] == reverse("backoffice:enrolment_detail", args=[pending.pk])


def test_row_refusal_needs_a_reason(manager, pending):
    response = manager.post(reverse("backoffice:enrolment_refuse", args=[pending.pk]), {"reason": " "}, follow=True)
    assert "Indiquez le motif du refus" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == EnrolmentStatus.REQUESTED
    assert not LogEntry.objects.filter(action="enrolment.refused").exists() and not mail.outbox


def test_row_refusal_frees_the_place_for_the_waiting_list(manager, django_capture_on_commit_callbacks):
    _, period, group = make_offer(validation_mode=MANUAL, capacity=1)
    first = request(make_child(), period, group)
    second = request(make_child(first_name="Lou"), period, group)
    assert second.status == EnrolmentStatus.WAITING
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        manager.post(reverse("backoffice:enrolment_refuse", args=[first.pk]), {"reason": "Dossier incomplet"})
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.refusal_reason) == (EnrolmentStatus.REFUSED, "Dossier incomplet")
    assert second.status == EnrolmentStatus.OFFERED
    assert LogEntry.objects.filter(action="enrolment.refused", object_id=str(first.pk), actor=manager.user).exists()
    bodies = [m.body for m in mail.outbox]
    assert any("Dossier incomplet" in body for body in bodies) and len(mail.outbox) == 2


def test_bulk_validation_reports_successes_and_failures(manager, django_capture_on_commit_callbacks):
    _, period, group = make_offer(validation_mode=MANUAL, capacity=5)
    a = request(make_child(first_name="Anna"), period, group)
    b = request(make_child(first_name="Bilal"), period, group)
    _, pre_period, pre_group = make_offer(pre_enrolment=True)
    pre = request(make_child(first_name="Chloé"), pre_period, pre_group)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(
            reverse("backoffice:enrolments_bulk"),
            {"enrolments": [a.pk, b.pk, pre.pk, 999999], "action": "valider"},
            follow=True,
        )
    for enrolment, status in ((a, "validated"), (b, "validated"), (pre, "pre_enrolment")):
        enrolment.refresh_from_db()
        assert enrolment.status == status
    texts = [str(m) for m in response.context["messages"]]
    assert any(t.startswith("2 demandes validées") and "Anna" in t and "Bilal" in t for t in texts)
    assert any("Chloé" in t and "pré-inscription" in t for t in texts)
    assert "1 demande introuvable." in texts
    assert LogEntry.objects.filter(action="enrolment.validated").count() == 2
    assert len(mail.outbox) == 2


def test_bulk_refusal_uses_one_reason_for_each(manager, django_capture_on_commit_callbacks):
    _, period, group = make_offer(validation_mode=MANUAL, capacity=5)
    a = request(make_child(), period, group)
    b = request(make_child(), period, group)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        manager.post(
            reverse("backoffice:enrolments_bulk"),
            {"enrolments": [a.pk, b.pk], "action": "refuser", "reason": "Activité annulée"},
        )
    for enrolment in (a, b):
        enrolment.refresh_from_db()
        assert (enrolment.status, enrolment.refusal_reason) == (EnrolmentStatus.REFUSED, "Activité annulée")
    assert len(mail.outbox) == 2 and all("Activité annulée" in m.body for m in mail.outbox)


def test_bulk_refusal_without_reason_changes_nothing(manager, pending):
    response = manager.post(
        reverse("backoffice:enrolments_bulk"), {"enrolments": [pending.pk], "action": "refuser"}, follow=True
    )
    assert "Indiquez le motif du refus" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == EnrolmentStatus.REQUESTED


def test_bulk_without_selection_says_so(manager):
    response = manager.post(reverse("backoffice:enrolments_bulk"), {"action": "valider"}, follow=True)
    assert "Cochez au moins une demande." in response.content.decode()


# --- the enrolment page --------------------------------------------------------------------


def test_detail_shows_the_enrolment_and_its_journal(manager, pending):
    manager.post(reverse("backoffice:enrolment_validate", args=[pending.pk]))
    response = manager.get(reverse("backoffice:enrolment_detail", args=[pending.pk]))
    html = response.content.decode()
    assert pending.reference in html and "Allergie au bruit" in html
    assert [e.action for e in response.context["journal"]] == ["enrolment.requested", "enrolment.validated"]
    assert "Inscription validée" in html and "En attente de validation → Validée" in html


def test_detail_offers_only_the_actions_that_fit_the_state(manager, pending):
    context = manager.get(reverse("backoffice:enrolment_detail", args=[pending.pk])).context
    assert (context["can_validate"], context["can_accept_pre"], context["can_refuse"]) == (True, False, True)
    manager.post(reverse("backoffice:enrolment_validate", args=[pending.pk]))
    context = manager.get(reverse("backoffice:enrolment_detail", args=[pending.pk])).context
    assert (context["can_validate"], context["can_refuse"], context["can_cancel"]) == (False, False, True)


def test_validating_twice_shows_the_service_message(manager, pending):
    url = reverse("backoffice:enrolment_validate", args=[pending.pk])
    manager.post(url)
    response = manager.post(url, follow=True)
    assert "cette action n&#x27;est pas possible" in response.content.decode()
    assert LogEntry.objects.filter(action="enrolment.validated").count() == 1


def test_accepting_a_pre_enrolment_validates_it(manager, django_capture_on_commit_callbacks):
    _, period, group = make_offer(pre_enrolment=True, validation_mode=MANUAL)
    pre = request(make_child(), period, group)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        manager.post(reverse("backoffice:enrolment_accept_pre_enrolment", args=[pre.pk]))
    pre.refresh_from_db()
    assert pre.status == EnrolmentStatus.VALIDATED
    assert LogEntry.objects.filter(action="enrolment.pre_enrolment_accepted", actor=manager.user).exists()
    assert len(mail.outbox) == 1


def test_accepting_a_pre_enrolment_in_a_full_group_puts_it_on_the_waiting_list(manager):
    _, period, group = make_offer(pre_enrolment=True, capacity=0)
    pre = request(make_child(), period, group)
    response = manager.post(reverse("backoffice:enrolment_accept_pre_enrolment", args=[pre.pk]), follow=True)
    pre.refresh_from_db()
    assert pre.status == EnrolmentStatus.WAITING
    assert "liste d&#x27;attente" in response.content.decode()


def test_cancel_needs_a_reason_then_cancels_and_offers_the_place(manager, django_capture_on_commit_callbacks):
    _, period, group = make_offer(capacity=1)
    holder = request(make_child(), period, group)
    waiting = request(make_child(), period, group)
    url = reverse("backoffice:enrolment_cancel", args=[holder.pk])
    manager.post(url, {"reason": ""})
    holder.refresh_from_db()
    assert holder.status == EnrolmentStatus.VALIDATED
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        manager.post(url, {"reason": "Déménagement"})
    holder.refresh_from_db()
    waiting.refresh_from_db()
    assert (holder.status, holder.cancellation_reason) == (EnrolmentStatus.CANCELLED, "Déménagement")
    assert waiting.status == EnrolmentStatus.OFFERED
    entry = LogEntry.objects.get(action="enrolment.cancelled")
    assert (entry.actor, entry.channel, entry.message) == (manager.user, Channel.STAFF, "Déménagement")
    assert len(mail.outbox) == 2


def test_move_to_another_group_of_the_activity(manager, pending, django_capture_on_commit_callbacks):
    other = GroupFactory(activity=pending.activity, name="Les grands", capacity=3)
    detail = manager.get(reverse("backoffice:enrolment_detail", args=[pending.pk]))
    assert list(detail.context["move_form"].fields["groupe"].queryset) == [other]
    assert "Les grands (3 places restantes)" in detail.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        manager.post(reverse("backoffice:enrolment_move", args=[pending.pk]), {"groupe": other.pk})
    pending.refresh_from_db()
    assert pending.group == other
    assert LogEntry.objects.filter(action="enrolment.group_changed", actor=manager.user).exists()
    assert len(mail.outbox) == 1


def test_move_to_a_full_group_is_refused_with_a_clear_message(manager, pending):
    full = GroupFactory(activity=pending.activity, name="Complet", capacity=0)
    response = manager.post(reverse("backoffice:enrolment_move", args=[pending.pk]), {"groupe": full.pk}, follow=True)
    assert "Le groupe « Complet » est complet." in response.content.decode()
    pending.refresh_from_db()
    assert pending.group_id != full.pk


def test_move_to_a_group_outside_the_childs_age_band_gives_the_reason(manager, pending):
    older = GroupFactory(activity=pending.activity, name="Ados", min_age=14, max_age=17)
    response = manager.post(reverse("backoffice:enrolment_move", args=[pending.pk]), {"groupe": older.pk}, follow=True)
    assert "accueille les enfants de 14 à 17 ans" in response.content.decode()
    pending.refresh_from_db()
    assert pending.group_id != older.pk


def test_move_to_a_group_of_another_activity_is_not_offered(manager, pending):
    foreign = GroupFactory(activity=PeriodFactory().activity)
    response = manager.post(
        reverse("backoffice:enrolment_move", args=[pending.pk]), {"groupe": foreign.pk}, follow=True
    )
    assert "Choisissez un autre groupe." in response.content.decode()
    pending.refresh_from_db()
    assert pending.group_id != foreign.pk
