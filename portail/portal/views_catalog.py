"""The public catalog: what the town offers, readable without logging in."""

from django.http import Http404
from django.shortcuts import render

from portail.catalog import selectors
from portail.catalog.forms import CatalogFilterForm


def catalog(request):
    form = CatalogFilterForm(request.GET or None)
    facility = activity_type = None
    if form.is_bound and form.is_valid():
        facility = form.cleaned_data["structure"]
        activity_type = form.cleaned_data["type"]
    sections = selectors.public_catalog(facility=facility, activity_type=activity_type)
    return render(
        request,
        "portal/catalog/catalog.html",
        {"form": form, "sections": sections, "filtered": bool(facility or activity_type)},
    )


def activity_detail(request, slug):
    activity = selectors.published_activity(slug)
    if activity is None:
        raise Http404
    months = selectors.upcoming_sessions_by_month(activity=activity)
    return render(request, "portal/catalog/activity_detail.html", {"activity": activity, "months": months})
