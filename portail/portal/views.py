from django.http import Http404
from django.shortcuts import render

from portail.households.selectors import household_for_user

# Sections later issues will fill: shown as "bientôt", never as broken links.
COMING_SOON = {
    "messagerie": "Messagerie",
    "actualites": "Actualités",
}


def home(request):
    household = household_for_user(request.user) if request.user.is_authenticated else None
    return render(request, "portal/home.html", {"household": household})


def coming_soon(request, section):
    if section not in COMING_SOON:
        raise Http404
    return render(request, "portal/coming_soon.html", {"section_title": COMING_SOON[section]})
