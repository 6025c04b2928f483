from functools import wraps

from django.shortcuts import render

from portail.accounts.redirects import login_redirect
from portail.households.models import HouseholdStatus
from portail.households.selectors import household_for_user


def family_required(view=None, *, allow_pending: bool = False):
    """Family pages: a logged-in guardian whose household is active.

    Sets `request.household`. A household still awaiting validation (self sign-up) only
    reaches the pages marked allow_pending (its record and dashboard).
    """

    def decorator(view_func):
        @wraps(view_func)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return login_redirect(request)
            household = household_for_user(request.user)
            if household is None:
                return render(request, "portal/no_household.html", status=403)
            if household.status != HouseholdStatus.ACTIVE and not (
                allow_pending and household.status == HouseholdStatus.PENDING
            ):
                return render(request, "portal/household_not_active.html", {"household": household}, status=403)
            request.household = household
            return view_func(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view is not None else decorator
