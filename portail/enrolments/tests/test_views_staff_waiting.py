"""Staff waiting list (reorder, raise capacity) and the catalog forms that move it: a group's
capacity changed in the catalog, the activity's enrolment policy, the demo town's policies."""

import pytest
from django.core import mail
from django.urls import reverse

from portail.accounts import roles
from portail.catalog.models import Activity
from portail.core.models import LogEntry
from portail.enrolments.models import EnrolmentStatus
from portail.enrolments.selectors import waiting_list
from tests.factories import ActivityTypeFactory, FacilityFactory, StaffFactory

from .factories import make_child, make_offer, request

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(client):
    user = StaffFactory(role=roles.MANAGER)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def full_group():
    """A group of 1 place, taken, with three children waiting (Ana, Ben, Cléo in that order)."""
    activity, period, group = make_offer(capacity=1)
    request(make_child(first_name="Titulaire"), period, group)
    waiting = [request(make_child(first_name=name), period, group) for name in ("Ana", "Ben", "Cléo")]
    assert all(e.status == EnrolmentStatus.WAITING for e in waiting)
    mail.outbox.clear()
    return activity, period, group, waiting


def _page(client, group, period):
    return client.get(reverse("backoffice:waiting_list"), {"groupe": group.pk, "periode": period.pk})


def _order(group, period):
    return [e.child.first_name for e in waiting_list(group=group, period=period)]


def test_index_lists_the_non_empty_waiting_lists(manager, full_group):
    _, period, group, _ = full_group
    response = manager.get(reverse("backoffice:waiting_list"))
    assert [(row["group_id"], row["period_id"], row["n"]) for row in response.context["lists"]] == [
        (group.pk, period.pk, 3)
    ]


def test_page_shows_ranks_arrival_places_and_offers(manager, full_group):
    _, period, group, (ana, ben, cleo) = full_group
    response = _page(manager, group, period)
    context = response.context
    assert [(e.rank, e.pk) for e in context["entries"]] == [(1, ana.pk), (2, ben.pk), (3, cleo.pk)]
    assert (context["held"], context["places_left"], context["offers"]) == (1, 0, [])
    assert context["order"] == f"{ana.pk},{ben.pk},{cleo.pk}"


def test_group_and_period_of_different_activities_are_refused(manager, full_group):
    _, period, _, _ = full_group
    _, _, other_group = make_offer()
    response = _page(manager, other_group, period)
    assert response.context["selected"] is False and response.context["form"].errors


def test_moving_an_entry_up_reorders_the_list_and_is_audited(manager, full_group):
    _, period, group, (ana, ben, cleo) = full_group
    response = manager.post(
        reverse("backoffice:waiting_list_reorder"),
        {"groupe": group.pk, "periode": period.pk, "order": f"{ana.pk},{ben.pk},{cleo.pk}", "move": f"{cleo.pk}:up"},
    )
    assert response.status_code == 302 and f"groupe={group.pk}" in response["Location"]
    assert _order(group, period) == ["Ana", "Cléo", "Ben"]
    entry = LogEntry.objects.get(action="enrolment.waiting_list_reordered")
    assert entry.actor == manager.user
    assert entry.before["order"] == [ana.pk, ben.pk, cleo.pk] and entry.after["order"] == [ana.pk, cleo.pk, ben.pk]
    assert "Liste d&#x27;attente réordonnée" in _page(manager, group, period).content.decode()


def test_moving_down_the_last_entry_keeps_the_order(manager, full_group):
    _, period, group, (ana, ben, cleo) = full_group
    manager.post(
        reverse("backoffice:waiting_list_reorder"),
        {"groupe": group.pk, "periode": period.pk, "order": f"{ana.pk},{ben.pk},{cleo.pk}", "move": f"{cleo.pk}:down"},
    )
    assert _order(group, period) == ["Ana", "Ben", "Cléo"]


def test_a_stale_order_is_refused_and_nothing_changes(manager, full_group):
    _, period, group, (ana, ben, cleo) = full_group
    response = manager.post(
        reverse("backoffice:waiting_list_reorder"),
        {"groupe": group.pk, "periode": period.pk, "order": f"{ana.pk},{ben.pk}", "move": f"{ben.pk}:up"},
        follow=True,
    )
    assert "La liste d&#x27;attente a changé entre-temps" in response.content.decode()
    assert _order(group, period) == ["Ana", "Ben", "Cléo"]
    assert not LogEntry.objects.filter(action="enrolment.waiting_list_reordered").exists()


def test_raising_capacity_makes_offers_and_says_how_many(manager, full_group, django_capture_on_commit_callbacks):
    _, period, group, (ana, ben, cleo) = full_group
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(
            reverse("backoffice:waiting_list_capacity"),
            {"groupe": group.pk, "periode": period.pk, "capacity": "3"},
            follow=True,
        )
    group.refresh_from_db()
    assert group.capacity == 3
    statuses = {e.child.first_name: e.status for e in (ana, ben, cleo) if not e.refresh_from_db()}
    assert statuses == {"Ana": "offered", "Ben": "offered", "Cléo": "waiting"}
    texts = [str(m) for m in response.context["messages"]]
    assert any("2 places proposées" in t and "Ana" in t and "Ben" in t for t in texts)
    assert LogEntry.objects.filter(action="group.capacity_changed", actor=manager.user).exists()
    assert len(mail.outbox) == 2 and all("place" in m.subject.lower() for m in mail.outbox)
    assert [e.pk for e in response.context["offers"]] == [ana.pk, ben.pk]


def test_capacity_below_the_places_held_is_refused(manager, full_group):
    _, period, group, _ = full_group
    response = manager.post(
        reverse("backoffice:waiting_list_capacity"),
        {"groupe": group.pk, "periode": period.pk, "capacity": "0"},
        follow=True,
    )
    assert "la capacité ne peut pas être inférieure" in response.content.decode()
    group.refresh_from_db()
    assert group.capacity == 1


def test_front_desk_agent_reorders_but_cannot_change_capacity(client, full_group):
    _, period, group, (ana, ben, cleo) = full_group
    client.force_login(StaffFactory(role=roles.AGENT))
    assert _page(client, group, period).context["can_raise"] is False
    response = client.post(
        reverse("backoffice:waiting_list_capacity"), {"groupe": group.pk, "periode": period.pk, "capacity": "5"}
    )
    assert response.status_code == 403
    client.post(
        reverse("backoffice:waiting_list_reorder"),
        {"groupe": group.pk, "periode": period.pk, "order": f"{ana.pk},{ben.pk},{cleo.pk}", "move": f"{ben.pk}:up"},
    )
    assert _order(group, period) == ["Ben", "Ana", "Cléo"]


# --- catalog forms -------------------------------------------------------------------------


def _group_data(group, capacity):
    return {"activity": group.activity_id, "name": group.name, "capacity": capacity, "position": "0"}


def test_catalog_capacity_raise_moves_the_waiting_list(manager, full_group, django_capture_on_commit_callbacks):
    _, period, group, (ana, ben, _) = full_group
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(
            reverse("backoffice:catalog_edit", args=["groupes", group.pk]), _group_data(group, "2"), follow=True
        )
    ana.refresh_from_db()
    ben.refresh_from_db()
    assert (ana.status, ben.status) == (EnrolmentStatus.OFFERED, EnrolmentStatus.WAITING)
    assert "1 place proposée" in response.content.decode()
    assert LogEntry.objects.get(action="catalog.group_changed").after == {"capacity": 2}
    assert LogEntry.objects.filter(action="group.capacity_changed").exists()
    assert len(mail.outbox) == 1


def test_catalog_capacity_without_limit_offers_every_waiting_place(manager, full_group):
    _, period, group, waiting = full_group
    manager.post(reverse("backoffice:catalog_edit", args=["groupes", group.pk]), _group_data(group, ""))
    group.refresh_from_db()
    assert group.capacity is None
    assert all(e.status == EnrolmentStatus.OFFERED for e in waiting if not e.refresh_from_db())


def test_catalog_capacity_below_the_places_held_is_a_form_error(manager, full_group):
    _, _, group, _ = full_group
    response = manager.post(reverse("backoffice:catalog_edit", args=["groupes", group.pk]), _group_data(group, "0"))
    assert response.status_code == 200
    assert "capacity" in response.context["form"].errors
    group.refresh_from_db()
    assert group.capacity == 1
    assert not LogEntry.objects.filter(action__in=["catalog.group_changed", "group.capacity_changed"]).exists()


def _activity_data(activity, **changes):
    return {
        "facility": activity.facility_id,
        "activity_type": activity.activity_type_id,
        "name": activity.name,
        "slug": activity.slug,
        "payment_mode": activity.payment_mode,
        "is_published": "on",
        "position": "0",
        "validation_mode": activity.validation_mode,
        "capacity": "" if activity.capacity is None else activity.capacity,
        "offer_delay_hours": activity.offer_delay_hours,
        "waiting_list_priority": activity.waiting_list_priority,
        **changes,
    }


def test_staff_set_the_enrolment_policy_of_an_activity(manager):
    data = {
        "facility": FacilityFactory().pk,
        "activity_type": ActivityTypeFactory().pk,
        "name": "Stage poney",
        "slug": "stage-poney",
        "payment_mode": "invoiced",
        "position": "0",
        "validation_mode": "auto",
        "requires_pre_enrolment": "on",
        "capacity": "20",
        "offer_delay_hours": "24",
        "waiting_list_priority": "siblings_first",
    }
    response = manager.post(reverse("backoffice:catalog_add", args=["activites"]), data)
    assert response.status_code == 302
    activity = Activity.objects.get(slug="stage-poney")
    assert (
        activity.validation_mode,
        activity.requires_pre_enrolment,
        activity.capacity,
        activity.offer_delay_hours,
        activity.waiting_list_priority,
    ) == ("auto", True, 20, 24, "siblings_first")
    response = manager.post(
        reverse("backoffice:catalog_add", args=["activites"]), {**data, "slug": "x", "offer_delay_hours": "0"}
    )
    assert "offer_delay_hours" in response.context["form"].errors


def test_raising_the_activity_cap_offers_the_freed_places(manager):
    activity, period, group = make_offer(capacity=5, activity_capacity=1)
    request(make_child(), period, group)
    waiting = request(make_child(), period, group)
    assert waiting.status == EnrolmentStatus.WAITING
    manager.post(
        reverse("backoffice:catalog_edit", args=["activites", activity.pk]), _activity_data(activity, capacity="2")
    )
    waiting.refresh_from_db()
    assert waiting.status == EnrolmentStatus.OFFERED


# --- demo town ----------------------------------------------------------------------------


def test_demo_activities_have_their_enrolment_policy():
    from portail.demo.catalog import ensure_catalog
    from portail.demo.upsert import Tally

    ensure_catalog(Tally())
    modes = dict(Activity.objects.values_list("slug", "validation_mode"))
    assert modes == {
        "pommiers-mercredis-2026-2027": "manual",
        "pommiers-vacances-2026-2027": "manual",
        "ecole-municipale-des-sports-2026-2027": "auto",
        "accueil-periscolaire-2026-2027": "auto",
        "restauration-scolaire-2026-2027": "auto",
    }
    again = Tally()
    ensure_catalog(again)
    assert not again.updated
