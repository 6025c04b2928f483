"""Passwords (QUALITY S2, P4), sessions (S7), roles and the Django admin."""

import time

import pytest
from django.contrib.auth.hashers import identify_hasher, make_password
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

from portail.accounts import roles
from portail.accounts.middleware import SEEN_KEY, STARTED_KEY
from tests.factories import StaffFactory, UserFactory, make_family

pytestmark = pytest.mark.django_db


# --- Passwords -----------------------------------------------------------------------------


def test_eleven_characters_are_refused():
    with pytest.raises(ValidationError) as error:
        validate_password("jardinfleur")
    assert [e.code for e in error.value.error_list] == ["password_too_short"]


def test_twelve_characters_are_accepted():
    validate_password("jardinfleuri")


def test_no_composition_rules_lower_case_letters_only_are_fine():
    validate_password("il pleut sur la ville")
    validate_password("pommepoirebanane")


@pytest.mark.parametrize(
    "password",
    ["motdepasse123", "azertyuiop123", "Soleil123456", "portailfamille", "cantinescolaire", "Bienvenue12345"],
)
def test_common_french_passwords_are_refused(password):
    with pytest.raises(ValidationError) as error:
        validate_password(password)
    assert "password_too_common" in [e.code for e in error.value.error_list]


def test_long_passwords_are_accepted():
    validate_password("une très longue phrase de passe " * 4)


def test_passwords_are_hashed_with_argon2id_owasp_parameters():
    user = UserFactory()
    assert user.password.startswith("argon2$argon2id$")
    assert "m=19456" in user.password and "t=2" in user.password and "p=1" in user.password
    assert identify_hasher(user.password).algorithm == "argon2"


def test_old_hashes_are_upgraded_on_login(client):
    _, guardian, _ = make_family()
    guardian.user.password = make_password("correct-horse-battery-staple", hasher="pbkdf2_sha256")
    guardian.user.save()
    client.post(reverse("accounts:login"), {"email": guardian.user.email, "password": "correct-horse-battery-staple"})
    guardian.user.refresh_from_db()
    assert guardian.user.password.startswith("argon2$argon2id$")


# --- Sessions ------------------------------------------------------------------------------


def logged_in_family(client):
    _, guardian, _ = make_family()
    client.force_login(guardian.user)
    client.get(reverse("portal:home"))  # the middleware stamps the session
    return guardian.user


def shift_session(client, key, seconds):
    session = client.session
    session[key] = session[key] - seconds
    session.save()


def is_logged_in(client):
    client.get(reverse("portal:home"))
    return "_auth_user_id" in client.session


def test_session_survives_29_minutes_idle(client):
    logged_in_family(client)
    shift_session(client, SEEN_KEY, 29 * 60)
    assert is_logged_in(client)


def test_session_ends_after_30_minutes_idle(client):
    logged_in_family(client)
    shift_session(client, SEEN_KEY, 31 * 60)
    response = client.get(reverse("portal:home"), follow=True)
    assert response.redirect_chain[0][0] == reverse("accounts:login") + "?next=/"
    assert not response.context["user"].is_authenticated
    assert "session a expiré" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_htmx_call_after_timeout_sends_the_whole_page_to_login(client):
    logged_in_family(client)
    shift_session(client, SEEN_KEY, 31 * 60)
    response = client.post(
        reverse("portal:planning_toggle"),
        {"child": 1, "session": 1},
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/planning/?vue=semaine"},
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("accounts:login") + "?next=/planning/%3Fvue%3Dsemaine"


def test_htmx_call_without_session_gets_hx_redirect(client):
    response = client.post(reverse("portal:planning_toggle"), {}, headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("accounts:login"))


def test_idle_timeout_follows_the_setting(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    logged_in_family(client)
    shift_session(client, SEEN_KEY, 61)
    assert not is_logged_in(client)


def test_session_ends_after_12_hours_even_when_active(client):
    logged_in_family(client)
    session = client.session
    now = int(time.time())
    session[STARTED_KEY] = now - 12 * 3600 - 1
    session[SEEN_KEY] = now - 10
    session.save()
    assert not is_logged_in(client)


def test_session_cookie_lasts_at_most_12_hours(settings):
    assert settings.SESSION_ABSOLUTE_TIMEOUT == 12 * 3600
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert settings.SESSION_IDLE_TIMEOUT <= 30 * 60


# --- Roles and admin -----------------------------------------------------------------------


def perms_of(group_name):
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_the_four_staff_roles_exist_after_migrate():
    names = set(Group.objects.values_list("name", flat=True))
    assert {roles.AGENT, roles.MANAGER, roles.CASHIER, roles.ADMINISTRATOR} <= names


def test_only_managers_and_administrators_see_health_records():
    holders = {name for name in roles.ROLE_PERMISSIONS if "households.view_healthrecord" in perms_of(name)}
    assert holders == {roles.MANAGER, roles.ADMINISTRATOR}


def test_family_access_is_managed_by_agents_managers_and_administrators():
    holders = {name for name in roles.ROLE_PERMISSIONS if "accounts.manage_family_access" in perms_of(name)}
    assert holders == {roles.AGENT, roles.MANAGER, roles.ADMINISTRATOR}


def test_only_administrators_have_the_admin_permission():
    holders = {name for name in roles.ROLE_PERMISSIONS if "accounts.access_admin" in perms_of(name)}
    assert holders == {roles.ADMINISTRATOR}


def test_every_role_can_read_households():
    for name in roles.ROLE_PERMISSIONS:
        assert "households.view_household" in perms_of(name)


def test_agent_is_sent_to_the_admin_login(client):
    client.force_login(StaffFactory(role=roles.AGENT))
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_administrator_reaches_the_admin(client):
    client.force_login(StaffFactory(role=roles.ADMINISTRATOR))
    assert client.get("/admin/").status_code == 200


def test_family_is_sent_to_the_admin_login(client):
    _, guardian, _ = make_family()
    client.force_login(guardian.user)
    assert client.get("/admin/").status_code == 302
