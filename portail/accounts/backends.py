"""Authentication backends. The accounts work completes ChildCodeBackend (code enfant + code payeur)."""

from django.contrib.auth.backends import BaseBackend


def axes_username(request, credentials):
    """The key django-axes counts failures on: the e-mail, or the child code."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email") or credentials.get("child_code") or ""
    return str(value).strip().lower()


class ChildCodeBackend(BaseBackend):
    def authenticate(self, request, child_code=None, payer_code=None, **kwargs):
        return None
