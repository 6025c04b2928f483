"""The catalog in the Django admin: every model registered, changes audited."""

import pytest
from django.urls import reverse

from portail.catalog.models import Group
from portail.core.models import LogEntry
from tests.factories import ActivityFactory, GroupFactory, StaffFactory, UnitFactory

from .factories import BookingDeadlineRuleFactory, SessionFactory

pytestmark = pytest.mark.django_db
MODELS = ["facility", "activitytype", "activity", "period", "group", "unit", "bookingdeadlinerule", "session"]


@pytest.fixture
def admin_client(client):
    admin = StaffFactory(role="Administrateur")
    client.force_login(admin)
    client.user = admin
    return client


@pytest.mark.parametrize("model", MODELS)
def test_every_catalog_model_has_admin_pages(admin_client, model):
    UnitFactory(deadline_rule=BookingDeadlineRuleFactory())
    SessionFactory()
    assert admin_client.get(reverse(f"admin:catalog_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:catalog_{model}_add")).status_code == 200


def test_activity_change_page_has_period_group_and_unit_inlines(admin_client):
    activity = ActivityFactory()
    html = admin_client.get(reverse("admin:catalog_activity_change", args=[activity.pk])).content.decode()
    for prefix in ("periods-TOTAL_FORMS", "groups-TOTAL_FORMS", "units-TOTAL_FORMS"):
        assert prefix in html


def test_admin_change_is_audited(admin_client):
    group = GroupFactory(capacity=10)
    response = admin_client.post(
        reverse("admin:catalog_group_change", args=[group.pk]),
        {
            "activity": group.activity_id,
            "name": group.name,
            "min_age": "",
            "max_age": "",
            "min_school_level": "",
            "max_school_level": "",
            "capacity": "30",
            "position": "0",
        },
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.capacity == 30
    entry = LogEntry.objects.get(action="catalog.group_changed")
    assert (entry.actor, entry.before, entry.after) == (admin_client.user, {"capacity": 10}, {"capacity": 30})


def test_admin_delete_is_audited(admin_client):
    group = GroupFactory()
    admin_client.post(reverse("admin:catalog_group_delete", args=[group.pk]), {"post": "yes"})
    assert not Group.objects.filter(pk=group.pk).exists()
    assert LogEntry.objects.filter(action="catalog.group_deleted", object_id=str(group.pk)).exists()


def test_manager_without_admin_access_is_kept_out_of_the_admin(client):
    client.force_login(StaffFactory(role="Gestionnaire"))
    response = client.get(reverse("admin:catalog_group_changelist"))
    assert response.status_code == 302
