"""End to end: a family signs up, staff accept the SIGNUP request, the family's record is active.

The decision goes through the households area's generic service `decide_request`."""

import pytest
from django.core import mail
from django.urls import reverse

from portail.core.audit import Channel
from portail.households.models import ChangeRequest, HouseholdStatus, RequestStatus
from tests.factories import StaffFactory, TownFactory

from .factories import post_email_login
from .test_signup import PASSWORD, signup

pytestmark = pytest.mark.django_db


def test_signup_then_staff_accept_then_family_sees_an_active_record(client, django_capture_on_commit_callbacks):
    from portail.households.services import decide_request

    TownFactory(email="enfance@ville.fr")
    signup(client, django_capture_on_commit_callbacks, children=1)
    change_request = ChangeRequest.objects.get()
    household = change_request.household
    # While pending, family pages other than home and record are closed.
    client.logout()
    mail.outbox.clear()

    manager = StaffFactory(role="Gestionnaire")
    with django_capture_on_commit_callbacks(execute=True):
        decide_request(change_request=change_request, actor=manager, accept=True, channel=Channel.STAFF)

    household.refresh_from_db()
    change_request.refresh_from_db()
    assert household.status == HouseholdStatus.ACTIVE
    assert change_request.status == RequestStatus.ACCEPTED
    assert any("lea.durand@example.org" in m.to for m in mail.outbox)

    post_email_login(client, "lea.durand@example.org", PASSWORD)
    home = client.get(reverse("portal:home")).content.decode()
    assert household.reference in home
    assert "en attente de validation" not in home
    record = client.get(reverse("portal:family"))
    assert record.status_code == 200
    assert "Tom" in record.content.decode()
