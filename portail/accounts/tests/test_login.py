import re

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, StaffFactory, UserFactory, make_family

from .factories import GENERIC_ERROR, logged_in_user_id, post_email_login

pytestmark = pytest.mark.django_db


def test_login_page_offers_email_and_child_codes_and_links(client):
    response = client.get(reverse("accounts:login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Avec mon e-mail" in html
    assert "Avec les codes de mon enfant" in html
    assert "Mot de passe oublié ?" in html and reverse("accounts:password_reset") in html
    assert "Créer mon compte famille" in html and reverse("accounts:signup") in html
    assert html.count("<h1") == 1


def test_family_logs_in_with_email_and_lands_on_portal_home(client):
    _, guardian, _ = make_family(email="parent@example.org")
    response = post_email_login(client, "Parent@Example.org ")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    assert logged_in_user_id(client) == str(guardian.user.pk)


def test_staff_use_the_same_login_and_land_on_backoffice(client):
    agent = StaffFactory(role="Agent d'accueil")
    response = post_email_login(client, agent.email)
    assert response["Location"] == reverse("backoffice:home")
    assert logged_in_user_id(client) == str(agent.pk)


def test_safe_next_is_honoured(client):
    _, guardian, _ = make_family()
    response = post_email_login(client, guardian.user.email, next="/famille/")
    assert response["Location"] == "/famille/"


def test_next_to_another_site_is_ignored(client):
    _, guardian, _ = make_family()
    response = post_email_login(client, guardian.user.email, next="https://evil.example.org/")
    assert response["Location"] == reverse("portal:home")


def test_login_page_carries_next_into_both_forms(client):
    html = client.get(reverse("accounts:login") + "?next=/famille/").content.decode()
    assert html.count('name="next" value="/famille/"') == 2


def test_wrong_password_shows_generic_message_and_does_not_log_in(client):
    _, guardian, _ = make_family()
    response = post_email_login(client, guardian.user.email, "not-the-password")
    assert response.status_code == 200
    assert GENERIC_ERROR in response.content.decode()
    assert logged_in_user_id(client) is None


def test_unknown_account_gets_the_same_message_as_a_wrong_password(client):
    _, guardian, _ = make_family()
    known = post_email_login(client, guardian.user.email, "not-the-password").content.decode()
    unknown = post_email_login(client, "nobody@example.org", "not-the-password").content.decode()
    assert GENERIC_ERROR in unknown
    strip = lambda html: html.replace(guardian.user.email, "X").replace("nobody@example.org", "X")  # noqa: E731
    # Only the CSRF token differs between the two pages.
    token = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"|"X-CSRFToken": "[^"]+"')
    assert token.sub("", strip(known)) == token.sub("", strip(unknown))


def test_inactive_user_cannot_log_in(client):
    user = UserFactory(is_active=False)
    response = post_email_login(client, user.email)
    assert GENERIC_ERROR in response.content.decode()
    assert logged_in_user_id(client) is None


def test_missing_fields_show_field_errors_without_counting_a_failure(client):
    response = client.post(reverse("accounts:login"), {"email": "", "password": ""})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert AccessAttempt.objects.count() == 0


def test_logout_is_post_only(client):
    _, guardian, _ = make_family()
    client.force_login(guardian.user)
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert logged_in_user_id(client) == str(guardian.user.pk)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert logged_in_user_id(client) is None


def test_login_sends_no_email(client):
    _, guardian, _ = make_family()
    post_email_login(client, guardian.user.email, DEFAULT_PASSWORD)
    assert mail.outbox == []
