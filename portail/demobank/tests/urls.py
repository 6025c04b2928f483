"""Test-only URLconf: the demo bank at /_banque-demo/ plus tiny stand-ins for the portal's
notification and return views (the real ones belong to the payments app)."""

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from portail.demobank.transport import post_in_process

# Every request the stand-in views received, oldest first (cleared by the tests' fixture).
received: list[dict] = []


@csrf_exempt
def notify(request, regie_id=None):
    received.append(
        {
            "view": "notify",
            "regie_id": regie_id,
            "method": request.method,
            "path": request.path,
            "query_string": request.META.get("QUERY_STRING", ""),
            "body": request.body.decode(),
            "content_type": request.content_type,
            "host": request.get_host(),
            "remote_addr": request.META.get("REMOTE_ADDR"),
        }
    )
    return HttpResponse("OK", content_type="text/plain")


def back(request):
    received.append({"view": "return", "method": request.method, "query_string": request.META.get("QUERY_STRING", "")})
    return HttpResponse("retour")


@csrf_exempt
def relay(request):
    """A view that itself calls another view in-process (nested request)."""
    response = post_in_process("http://testserver/test-notify/", {"nested": "1"})
    return HttpResponse(f"relayed {response.status_code} {response.text}")


def boom(request):
    raise RuntimeError("boom")


urlpatterns = [
    path("_banque-demo/", include("portail.demobank.urls")),
    path("test-notify/", notify, name="test_notify"),
    path("test-notify/<int:regie_id>/", notify, name="test_notify_regie"),
    path("test-return/", back, name="test_return"),
    path("test-relay/", relay, name="test_relay"),
    path("test-boom/", boom, name="test_boom"),
]
