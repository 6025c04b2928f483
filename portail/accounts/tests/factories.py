"""Helpers for the accounts tests (the shared factories live in tests/factories.py)."""

import datetime as dt

from axes.models import AccessAttempt
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD

GENERIC_ERROR = "Identifiants incorrects ou compte temporairement bloqué"


def post_email_login(client, email, password=DEFAULT_PASSWORD, **extra):
    return client.post(reverse("accounts:login"), {"email": email, "password": password, **extra})


def post_code_login(client, child_code, payer_code, **extra):
    return client.post(reverse("accounts:login_codes"), {"child_code": child_code, "payer_code": payer_code, **extra})


def move_axes_clock(minutes: int) -> None:
    """Pretend the recorded failures happened `minutes` earlier."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= dt.timedelta(minutes=minutes)
        attempt.save(update_fields=["attempt_time"])


def logged_in_user_id(client):
    return client.session.get("_auth_user_id")
