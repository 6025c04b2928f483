from django.shortcuts import render


def lockout_response(request, credentials, *args, **kwargs):
    """Same generic message for a locked, unknown or wrong account (no account enumeration)."""
    return render(request, "accounts/login.html", {"generic_error": True}, status=200)
