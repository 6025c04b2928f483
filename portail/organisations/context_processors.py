from .models import Town


def town(request):
    # Cached on the request so templates that include this several times cost one query.
    if not hasattr(request, "_portail_town"):
        request._portail_town = Town.current()
    return {"town": request._portail_town}
