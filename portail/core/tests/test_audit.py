import pytest

from portail.core.audit import changed_fields, log_action, snapshot
from portail.core.models import Channel, LogEntry
from tests.factories import GuardianFactory, StaffFactory

pytestmark = pytest.mark.django_db


def test_log_action_records_who_channel_what_and_before_after():
    guardian = GuardianFactory(mobile_phone="0600000000")
    agent = StaffFactory()
    before = snapshot(guardian, ["mobile_phone", "city"])
    guardian.mobile_phone = "0611111111"
    after = snapshot(guardian, ["mobile_phone", "city"])
    entry = log_action(
        actor=agent,
        channel=Channel.STAFF,
        action="guardian.update",
        obj=guardian,
        household=guardian.household,
        **dict(zip(("before", "after"), changed_fields(before, after), strict=True)),
    )
    entry.refresh_from_db()
    assert entry.actor == agent
    assert entry.get_channel_display() == "la Mairie"
    assert entry.object_type == "households.Guardian" and entry.object_id == str(guardian.pk)
    assert entry.before == {"mobile_phone": "0600000000"}
    assert entry.after == {"mobile_phone": "0611111111"}
    assert LogEntry.objects.filter(household=guardian.household).count() == 1


def test_anonymous_actor_is_recorded_as_nobody():
    from django.contrib.auth.models import AnonymousUser

    entry = log_action(actor=AnonymousUser(), channel=Channel.SYSTEM, action="job.run")
    assert entry.actor is None
