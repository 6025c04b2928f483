"""The bank's server-to-server notification (IPN, PayFiP urlnotif/urlcl). No session, no CSRF: the
answer is verified by the adapter (signature, or the server-to-server status call) before anything."""

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import services


@csrf_exempt
@require_http_methods(["GET", "POST"])
def notification(request, regie_id):
    body = request.body.decode("utf-8", errors="replace") if request.method == "POST" else ""
    result = services.handle_notification(
        regie_id=regie_id,
        method=request.method,
        query_string=request.META.get("QUERY_STRING", ""),
        body=body,
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )
    # Always 200 with a short body: the bank retries on errors, and a rejected notice must not be retried.
    return HttpResponse(result.body, content_type="text/plain")
