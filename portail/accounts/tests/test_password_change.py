import pytest
from django.urls import reverse

from portail.accounts.services import issue_access_codes
from portail.core.audit import Channel
from tests.factories import DEFAULT_PASSWORD, ChildFactory, GuardianFactory, HouseholdFactory, make_family

from .factories import logged_in_user_id, post_code_login

pytestmark = pytest.mark.django_db
NEW = "un nouveau mot de passe"


def test_family_changes_its_password_and_stays_logged_in(client):
    _, guardian, _ = make_family()
    client.force_login(guardian.user)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": DEFAULT_PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )
    assert response["Location"] == reverse("portal:home")
    guardian.user.refresh_from_db()
    assert guardian.user.check_password(NEW)
    assert logged_in_user_id(client) == str(guardian.user.pk)


def test_password_change_needs_the_current_password(client):
    _, guardian, _ = make_family()
    client.force_login(guardian.user)
    client.post(
        reverse("accounts:password_change"), {"old_password": "wrong", "new_password1": NEW, "new_password2": NEW}
    )
    guardian.user.refresh_from_db()
    assert guardian.user.check_password(DEFAULT_PASSWORD)


def test_codes_only_family_is_told_to_ask_for_an_invitation(client):
    household = HouseholdFactory()
    GuardianFactory(household=household, user=None, email="")
    child = ChildFactory(household=household)
    post_code_login(client, *issue_access_codes(child=child, actor=None, channel=Channel.SYSTEM))
    html = client.get(reverse("accounts:password_change")).content.decode()
    assert "demandez une invitation" in html
    assert 'name="old_password"' not in html


def test_password_change_requires_login(client):
    response = client.get(reverse("accounts:password_change"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]
