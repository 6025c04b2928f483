"""Sending a visitor to the login form, including from an htmx call."""

from urllib.parse import urlsplit

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse


def login_redirect(request):
    """A redirect to the login form that comes back here afterwards.

    An htmx call (a planning tick after the session timed out) gets `HX-Redirect` instead, so
    the whole page goes to the login form rather than the form being swapped into a cell; it
    comes back to the page the family was on, not to the fragment URL.
    """
    if request.headers.get("HX-Request") != "true":
        return redirect_to_login(request.get_full_path())
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    back_to = current.path + (f"?{current.query}" if current.query else "") if current.path else "/"
    response = HttpResponse(status=204)
    response["HX-Redirect"] = redirect_to_login(back_to)["Location"]
    return response
