import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from portail.accounts.models import AccessCode, Invitation
from portail.core.models import LogEntry
from tests.factories import GuardianFactory, StaffFactory, UserFactory, make_family

from .factories import logged_in_user_id, post_code_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client):
    client.force_login(StaffFactory(role="Agent d'accueil"))
    return client


def access_url(household):
    return reverse("backoffice:household_access", args=[household.pk])


def test_access_page_lists_guardians_and_children(agent_client):
    household, payer, (child,) = make_family()
    response = agent_client.get(access_url(household))
    html = response.content.decode()
    assert response.status_code == 200
    assert payer.last_name.upper() in html and child.first_name in html
    assert "mot de passe actif" in html


def test_cashier_without_the_permission_is_refused(client):
    household, _, _ = make_family()
    client.force_login(StaffFactory(role="Régisseur"))
    assert client.get(access_url(household)).status_code == 403


def test_family_cannot_reach_the_access_pages(client):
    household, payer, _ = make_family()
    client.force_login(payer.user)
    assert client.get(access_url(household)).status_code == 403
    url = reverse("backoffice:household_access_email", args=[household.pk, payer.pk])
    assert client.post(url, {"email": "moi@example.org"}).status_code == 403
    payer.user.refresh_from_db()
    assert payer.user.email != "moi@example.org"


def test_staff_send_an_invitation(agent_client, django_capture_on_commit_callbacks):
    household, _, _ = make_family()
    guardian = GuardianFactory(household=household, is_payer=False, user=None, email="second@example.org")
    url = reverse("backoffice:household_access_invite", args=[household.pk, guardian.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(url, follow=True)
    assert "Invitation envoyée à second@example.org" in response.content.decode()
    assert Invitation.objects.filter(guardian=guardian).count() == 1
    assert mail.outbox[0].to == ["second@example.org"]


def test_invitation_refused_for_a_guardian_with_a_password_shows_why(agent_client):
    household, payer, _ = make_family()
    url = reverse("backoffice:household_access_invite", args=[household.pk, payer.pk])
    response = agent_client.post(url, follow=True)
    assert "déjà un accès avec mot de passe" in response.content.decode()
    assert not Invitation.objects.exists()


def test_guardian_of_another_household_gives_404(agent_client):
    household, _, _ = make_family()
    _, other_payer, (other_child,) = make_family()
    invite = reverse("backoffice:household_access_invite", args=[household.pk, other_payer.pk])
    codes = reverse("backoffice:household_access_codes", args=[household.pk, other_child.pk])
    assert agent_client.post(invite).status_code == 404
    assert agent_client.post(codes).status_code == 404
    assert not AccessCode.objects.exists()


def test_generated_codes_are_shown_once_and_then_work(agent_client):
    household, payer, (child,) = make_family()
    url = reverse("backoffice:household_access_codes", args=[household.pk, child.pk])
    assert agent_client.get(url).status_code == 405
    response = agent_client.post(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert "ne seront plus jamais affichés" in html
    assert "no-store" in response["Cache-Control"]
    child_code, payer_code = re.findall(r'<code class="code">([A-Z0-9-]+)</code>', html)
    # Not displayed on the access page afterwards.
    access_html = agent_client.get(access_url(household)).content.decode()
    assert child_code not in access_html and payer_code not in access_html
    assert "actifs depuis le" in access_html
    family = Client()
    post_code_login(family, child_code, payer_code)
    assert logged_in_user_id(family) == str(payer.user.pk)


def test_staff_revoke_codes(agent_client):
    household, _, (child,) = make_family()
    agent_client.post(reverse("backoffice:household_access_codes", args=[household.pk, child.pk]))
    response = agent_client.post(
        reverse("backoffice:household_access_revoke", args=[household.pk, child.pk]), follow=True
    )
    assert "sont révoqués" in response.content.decode()
    assert not AccessCode.objects.active().exists()


def test_staff_change_a_guardian_login_email_and_both_addresses_are_told(
    agent_client, django_capture_on_commit_callbacks
):
    household, payer, _ = make_family(email="ancienne@example.org")
    url = reverse("backoffice:household_access_email", args=[household.pk, payer.pk])
    assert agent_client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(url, {"email": "Nouvelle@Example.org"})
    assert response["Location"] == access_url(household)
    payer.user.refresh_from_db()
    assert payer.user.email == "nouvelle@example.org"
    assert sorted(mail.outbox[0].to) == ["ancienne@example.org", "nouvelle@example.org"]
    entry = LogEntry.objects.get(action="account.email_changed")
    assert entry.before == {"email": "ancienne@example.org"} and entry.after == {"email": "nouvelle@example.org"}


def test_login_email_already_used_is_refused(agent_client):
    household, payer, _ = make_family(email="moi@example.org")
    UserFactory(email="pris@example.org")
    url = reverse("backoffice:household_access_email", args=[household.pk, payer.pk])
    response = agent_client.post(url, {"email": "pris@example.org"})
    assert response.status_code == 200
    assert "déjà utilisée" in response.content.decode()
    payer.user.refresh_from_db()
    assert payer.user.email == "moi@example.org"
