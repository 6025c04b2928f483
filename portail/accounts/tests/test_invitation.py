import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from portail.accounts.models import Invitation
from portail.accounts.services import accept_invitation, invite_guardian, issue_access_codes
from portail.core.audit import Channel
from portail.core.errors import BusinessError
from portail.core.models import LogEntry
from tests.factories import ChildFactory, GuardianFactory, HouseholdFactory, StaffFactory, TownFactory, UserFactory

from .factories import logged_in_user_id, post_email_login

pytestmark = pytest.mark.django_db
PASSWORD = "ma phrase de passe secrète"


@pytest.fixture
def agent():
    return StaffFactory(role="Agent d'accueil")


@pytest.fixture
def guardian():
    """A guardian the town knows, with no login yet."""
    return GuardianFactory(user=None, email="Nouvelle.Maman@Example.org", first_name="Inès")


def invite(guardian, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return invite_guardian(guardian=guardian, actor=agent, channel=Channel.STAFF)


def activation_path(message) -> str:
    url = re.search(r"https?://\S+/compte/activation/\S+/", message.body).group(0)
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_invitation_creates_a_login_without_password_and_mails_an_expiring_link(
    guardian, agent, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://portail.ville.fr"
    TownFactory(invitation_validity_days=7)
    invitation = invite(guardian, agent, django_capture_on_commit_callbacks)
    guardian.refresh_from_db()
    assert guardian.user.email == "nouvelle.maman@example.org"
    assert not guardian.user.has_usable_password()
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    assert invitation.token_digest != invitation.raw_token
    (message,) = mail.outbox
    assert message.to == ["nouvelle.maman@example.org"]
    assert "Inès" in message.body
    assert f"https://portail.ville.fr/compte/activation/{invitation.raw_token}/" in message.body
    entry = LogEntry.objects.get(action="invitation.sent")
    assert (
        entry.actor == agent and entry.household == guardian.household and invitation.raw_token not in str(entry.after)
    )


def test_validity_follows_the_town_setting(guardian, agent, django_capture_on_commit_callbacks):
    TownFactory(invitation_validity_days=3)
    invitation = invite(guardian, agent, django_capture_on_commit_callbacks)
    assert invitation.expires_at - invitation.created_at == timedelta(days=3)


def test_guardian_sets_a_password_and_is_logged_in(client, guardian, agent, django_capture_on_commit_callbacks):
    invite(guardian, agent, django_capture_on_commit_callbacks)
    path = activation_path(mail.outbox[0])
    page = client.get(path)
    assert page.status_code == 200 and "nouvelle.maman@example.org" in page.content.decode()
    response = client.post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert response["Location"] == reverse("portal:home")
    guardian.refresh_from_db()
    assert logged_in_user_id(client) == str(guardian.user.pk)
    assert guardian.user.check_password(PASSWORD)
    assert Invitation.objects.get().accepted_at is not None
    assert LogEntry.objects.filter(action="invitation.accepted", actor=guardian.user).exists()
    # And can log in with e-mail + password from now on.
    client.logout()
    post_email_login(client, "nouvelle.maman@example.org", PASSWORD)
    assert logged_in_user_id(client) == str(guardian.user.pk)


def test_link_works_only_once(client, guardian, agent, django_capture_on_commit_callbacks):
    invite(guardian, agent, django_capture_on_commit_callbacks)
    path = activation_path(mail.outbox[0])
    client.post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    client.logout()
    assert client.get(path).status_code == 410
    response = client.post(path, {"new_password1": "autre phrase de passe", "new_password2": "autre phrase de passe"})
    assert response.status_code == 410
    guardian.refresh_from_db()
    assert guardian.user.check_password(PASSWORD)


def test_expired_link_is_refused(client, guardian, agent, django_capture_on_commit_callbacks):
    invite(guardian, agent, django_capture_on_commit_callbacks)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    path = activation_path(mail.outbox[0])
    assert client.get(path).status_code == 410
    client.post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    guardian.refresh_from_db()
    assert not guardian.user.has_usable_password()
    assert logged_in_user_id(client) is None


@pytest.mark.parametrize("password", ["onze-caract", "motdepasse123", "azertyuiop123"])
def test_weak_passwords_are_refused_on_activation(
    client, guardian, agent, django_capture_on_commit_callbacks, password
):
    invite(guardian, agent, django_capture_on_commit_callbacks)
    response = client.post(activation_path(mail.outbox[0]), {"new_password1": password, "new_password2": password})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    guardian.refresh_from_db()
    assert not guardian.user.has_usable_password()
    assert Invitation.objects.get().accepted_at is None


def test_a_new_invitation_replaces_the_previous_link(client, guardian, agent, django_capture_on_commit_callbacks):
    invite(guardian, agent, django_capture_on_commit_callbacks)
    invite(guardian, agent, django_capture_on_commit_callbacks)
    first, second = (activation_path(m) for m in mail.outbox)
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200


def test_guardian_who_already_has_a_password_is_not_invited(agent):
    guardian = GuardianFactory()  # with a user and a password
    with pytest.raises(BusinessError, match="déjà un accès"):
        invite_guardian(guardian=guardian, actor=agent, channel=Channel.STAFF)
    assert not Invitation.objects.exists()


def test_guardian_without_email_is_not_invited(agent):
    guardian = GuardianFactory(user=None, email="")
    with pytest.raises(BusinessError, match="adresse e-mail"):
        invite_guardian(guardian=guardian, actor=agent, channel=Channel.STAFF)


def test_guardian_whose_email_belongs_to_another_account_is_not_invited(agent):
    UserFactory(email="pris@example.org")
    guardian = GuardianFactory(user=None, email="pris@example.org")
    with pytest.raises(BusinessError, match="déjà utilisée"):
        invite_guardian(guardian=guardian, actor=agent, channel=Channel.STAFF)
    guardian.refresh_from_db()
    assert guardian.user is None


def test_a_codes_only_account_is_reused_by_the_invitation(client, agent, django_capture_on_commit_callbacks):
    household = HouseholdFactory()
    payer = GuardianFactory(household=household, user=None, email="")
    child = ChildFactory(household=household)
    issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    payer.refresh_from_db()
    code_user = payer.user
    payer.email = "plus.tard@example.org"
    payer.save()
    invite(payer, agent, django_capture_on_commit_callbacks)
    payer.refresh_from_db()
    assert payer.user == code_user
    assert payer.user.email == "plus.tard@example.org"


def test_accepting_a_bad_token_is_refused():
    with pytest.raises(BusinessError):
        accept_invitation(token="nope", password=PASSWORD)
