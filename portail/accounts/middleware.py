import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.messages import constants
from django.contrib.messages.storage import default_storage

from portail.accounts.redirects import login_redirect

# The session stores when it started and when it was last used; writing "last used" at most
# once a minute keeps the session table from being rewritten on every request.
STARTED_KEY = "_portail_started"
SEEN_KEY = "_portail_seen"
TOUCH_EVERY = 60
EXPIRED_MESSAGE = "Votre session a expiré, merci de vous reconnecter."


class SessionTimeoutMiddleware:
    """Log out after 30 minutes idle or 12 hours in all (ASVS L2, QUALITY S7)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            started = request.session.get(STARTED_KEY)
            seen = request.session.get(SEEN_KEY)
            if started is None or seen is None:
                request.session[STARTED_KEY] = started or now
                request.session[SEEN_KEY] = now
            elif now - seen > settings.SESSION_IDLE_TIMEOUT or now - started > settings.SESSION_ABSOLUTE_TIMEOUT:
                return self._expired(request)
            elif now - seen >= TOUCH_EVERY:
                request.session[SEEN_KEY] = now
        return self.get_response(request)

    def _expired(self, request):
        logout(request)
        # This middleware runs before MessageMiddleware, so it stores the message itself.
        storage = default_storage(request)
        storage.add(constants.INFO, EXPIRED_MESSAGE)
        response = login_redirect(request)
        storage.update(response)
        return response
