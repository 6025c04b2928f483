"""Authentication backends: e-mail + password is Django's ModelBackend; this module adds the
child codes (code enfant + code payeur). django-axes (first backend) counts failures of both."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.hashers import check_password, make_password
from django.utils import timezone

from .codes import child_code_digest, normalize_code


def axes_username(request, credentials):
    """The key django-axes counts failures on: the e-mail, or the child code.

    A child code is keyed by its digest, so the axes tables never hold a code in clear.
    """
    credentials = credentials or {}
    child_code = credentials.get("child_code")
    if child_code:
        return "code:" + child_code_digest(child_code)
    value = credentials.get("username") or credentials.get("email") or ""
    return str(value).strip().lower()


class ChildCodeBackend(BaseBackend):
    """Opens a household from one child's two codes, as its payer guardian's user.

    The user is resolved at login time, so a change of payer or a guardian leaving the
    household takes effect at once. Codes never open a staff account.
    """

    def authenticate(self, request, child_code=None, payer_code=None, **kwargs):
        if not child_code or not payer_code:
            return None
        from .models import AccessCode

        payer_code = normalize_code(payer_code)
        code = (
            AccessCode.objects.active()
            .select_related("child__household")
            .filter(child_code_digest=child_code_digest(child_code))
            .first()
        )
        if code is None:
            # Same cost as a real check, so timing does not tell a valid child code apart.
            make_password(payer_code)
            return None

        def upgrade(raw):
            AccessCode.objects.filter(pk=code.pk).update(payer_code_hash=make_password(raw))

        if not check_password(payer_code, code.payer_code_hash, setter=upgrade):
            return None
        payer = code.child.household.guardians.select_related("user").filter(is_payer=True).first()
        user = payer.user if payer else None
        if user is None or not user.is_active or user.is_staff or user.is_superuser:
            return None
        AccessCode.objects.filter(pk=code.pk).update(last_used_at=timezone.now())
        return user

    def get_user(self, user_id):
        user = get_user_model()._default_manager.filter(pk=user_id).first()
        if user is None or not user.is_active or user.is_staff or user.is_superuser:
            return None
        return user
