from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


def staff_required(*perms: str):
    """Staff pages: an active agent holding every permission in `perms` (roles grant them)."""

    def decorator(view_func):
        @wraps(view_func)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user.is_staff or not user.has_perms(perms):
                raise PermissionDenied
            return view_func(request, *args, **kwargs)

        return wrapper

    return decorator
