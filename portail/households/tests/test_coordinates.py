"""Mes coordonnées: a family edits phones, address and employer at once, with an audit entry."""

import pytest
from django.urls import reverse

from portail.core.audit import Channel
from portail.core.errors import BusinessError
from portail.core.models import LogEntry
from portail.households.models import HouseholdStatus
from portail.households.services import update_coordinates
from tests.factories import GuardianFactory

pytestmark = pytest.mark.django_db

VALID = {
    "mobile_phone": "07 11 22 33 44",
    "home_phone": "",
    "employer_name": "Boulangerie Martin",
    "work_phone": "0145678901",
    "address_line1": "3 rue du Moulin",
    "address_line2": "",
    "postcode": "69003",
    "city": "Lyon",
}


def test_family_edits_coordinates_saved_with_audit_entry(family_client, family):
    household, guardian, _ = family
    response = family_client.post(reverse("portal:edit_coordinates", args=[guardian.pk]), VALID)
    assert response.status_code == 302
    guardian.refresh_from_db()
    assert guardian.mobile_phone == "07 11 22 33 44"
    assert guardian.work_phone == "01 45 67 89 01"
    assert guardian.city == "Lyon"
    entry = LogEntry.objects.get(action="guardian.coordinates_updated")
    assert entry.channel == Channel.WEB
    assert entry.actor == guardian.user
    assert entry.household == household
    assert entry.before["city"] == "Ville-sur-Test" and entry.after["city"] == "Lyon"
    assert entry.before["mobile_phone"] == "06 12 34 56 78"


def test_invalid_phone_shows_error_and_saves_nothing(family_client, family):
    _, guardian, _ = family
    response = family_client.post(
        reverse("portal:edit_coordinates", args=[guardian.pk]), {**VALID, "mobile_phone": "12345"}
    )
    assert response.status_code == 200
    assert "10 chiffres" in response.content.decode()
    guardian.refresh_from_db()
    assert guardian.mobile_phone == "06 12 34 56 78" and guardian.city == "Ville-sur-Test"
    assert not LogEntry.objects.exists()


def test_invalid_postcode_is_refused_with_a_french_message(family_client, family):
    _, guardian, _ = family
    response = family_client.post(reverse("portal:edit_coordinates", args=[guardian.pk]), {**VALID, "postcode": "6900"})
    assert "5 chiffres" in response.content.decode()
    guardian.refresh_from_db()
    assert guardian.postcode == "75001"


def test_login_email_is_shown_read_only_and_cannot_be_posted(family_client, family):
    _, guardian, _ = family
    url = reverse("portal:edit_coordinates", args=[guardian.pk])
    page = family_client.get(url).content.decode()
    assert guardian.user.email in page and "à modifier par la Mairie" in page
    assert 'name="email"' not in page
    family_client.post(url, {**VALID, "email": "pirate@example.org"})
    guardian.refresh_from_db()
    guardian.user.refresh_from_db()
    assert guardian.email != "pirate@example.org" and guardian.user.email != "pirate@example.org"


def test_service_refuses_an_email_change_from_the_family(family):
    _, guardian, _ = family
    with pytest.raises(BusinessError):
        update_coordinates(guardian=guardian, data={"email": "x@example.org"}, actor=guardian.user, channel=Channel.WEB)


def test_unchanged_coordinates_write_no_audit_entry(family):
    _, guardian, _ = family
    update_coordinates(guardian=guardian, data={"mobile_phone": "0612345678"}, actor=guardian.user, channel=Channel.WEB)
    assert not LogEntry.objects.exists()


def test_family_may_edit_the_other_guardian_of_its_household(family_client, family):
    household, _, _ = family
    other = GuardianFactory(household=household, is_payer=False, user=None)
    family_client.post(reverse("portal:edit_coordinates", args=[other.pk]), VALID)
    other.refresh_from_db()
    assert other.city == "Lyon"


def test_pending_household_cannot_edit_coordinates_yet(family_client, family):
    household, guardian, _ = family
    household.status = HouseholdStatus.PENDING
    household.save()
    response = family_client.post(reverse("portal:edit_coordinates", args=[guardian.pk]), VALID)
    assert response.status_code == 403
    guardian.refresh_from_db()
    assert guardian.city == "Ville-sur-Test"
    # …but its record and coordinates are readable.
    assert family_client.get(reverse("portal:coordinates")).status_code == 200
