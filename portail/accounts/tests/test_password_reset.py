import re
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, TownFactory, UserFactory, make_family

from .factories import logged_in_user_id, post_email_login

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "une phrase assez longue"


def request_reset(client, email):
    return client.post(reverse("accounts:password_reset"), {"email": email})


def reset_link(message) -> str:
    return re.search(r"https?://\S+/compte/mot-de-passe/nouveau/\S+/", message.body).group(0)


def link_path(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def follow_and_set(client, link, password=NEW_PASSWORD):
    # Django swaps the token for a session marker and redirects to a "set-password" URL.
    page = client.get(link_path(link), follow=True)
    form_url = page.redirect_chain[-1][0]
    return client.post(form_url, {"new_password1": password, "new_password2": password})


def test_known_address_receives_a_french_link_to_the_site(client, settings):
    settings.SITE_URL = "https://portail.ville.fr"
    TownFactory()
    _, guardian, _ = make_family(email="parent@example.org")
    response = request_reset(client, "parent@example.org")
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["parent@example.org"]
    assert "mot de passe" in message.subject
    assert reset_link(message).startswith("https://portail.ville.fr/compte/mot-de-passe/nouveau/")
    assert "24 heures" in message.body


def test_unknown_address_gets_the_same_answer_and_no_email(client):
    known_user = UserFactory(email="connu@example.org")
    known = request_reset(client, known_user.email)
    unknown = request_reset(client, "inconnu@example.org")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert [m.to for m in mail.outbox] == [["connu@example.org"]]


def test_link_sets_a_new_password_once(client):
    _, guardian, _ = make_family(email="parent@example.org")
    request_reset(client, "parent@example.org")
    link = reset_link(mail.outbox[0])
    response = follow_and_set(client, link)
    assert response["Location"] == reverse("accounts:password_reset_complete")
    guardian.user.refresh_from_db()
    assert guardian.user.check_password(NEW_PASSWORD)
    assert not guardian.user.check_password(DEFAULT_PASSWORD)
    # The link is spent.
    second = client.get(link_path(link), follow=True)
    assert "n'est plus valable" in second.content.decode()


def test_short_password_is_refused_on_reset(client):
    _, guardian, _ = make_family(email="parent@example.org")
    request_reset(client, "parent@example.org")
    response = follow_and_set(client, reset_link(mail.outbox[0]), password="court-11car")
    assert response.status_code == 200
    guardian.user.refresh_from_db()
    assert guardian.user.check_password(DEFAULT_PASSWORD)


def test_link_expires_after_the_reset_timeout(client, monkeypatch):
    _, guardian, _ = make_family(email="parent@example.org")
    request_reset(client, "parent@example.org")
    link = reset_link(mail.outbox[0])
    later = datetime.now() + timedelta(hours=25)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
    response = client.get(link_path(link), follow=True)
    assert "n'est plus valable" in response.content.decode()


def test_reset_lifts_a_lockout(client):
    _, guardian, _ = make_family(email="parent@example.org")
    for _ in range(10):
        post_email_login(client, "parent@example.org", "wrong-password-here")
    request_reset(client, "parent@example.org")
    follow_and_set(client, reset_link(mail.outbox[0]))
    post_email_login(client, "parent@example.org", NEW_PASSWORD)
    assert logged_in_user_id(client) == str(guardian.user.pk)


def test_user_with_codes_only_receives_no_reset_email(client):
    user = UserFactory(email="codes@example.org")
    user.set_unusable_password()
    user.save()
    request_reset(client, "codes@example.org")
    assert mail.outbox == []
