"""The public catalog: what the town offers, readable without logging in."""

from django.http import Http404
from django.shortcuts import render

from portail.catalog import selectors
from portail.catalog.forms import CatalogFilterForm
from portail.enrolments.forms import places_label
from portail.enrolments.selectors import remaining_places_for_activities
from portail.households.selectors import household_for_user


def _with_places(activities) -> None:
    """Give each period of the (prefetched) activities its groups' places left, read in one
    query for the whole page: `period.group_places` = [(group, "12 places restantes")]."""
    places = remaining_places_for_activities(activities)
    for activity in activities:
        groups = list(activity.groups.all())
        for period in activity.periods.all():
            left = places.get(period.pk, {})
            period.group_places = [(group, places_label(left.get(group.pk))) for group in groups]


def _can_enrol(request) -> bool:
    """A logged-in family with an active household sees the "S'inscrire" links."""
    household = household_for_user(request.user)
    return household is not None and household.is_active


def catalog(request):
    form = CatalogFilterForm(request.GET or None)
    facility = activity_type = None
    if form.is_bound and form.is_valid():
        facility = form.cleaned_data["structure"]
        activity_type = form.cleaned_data["type"]
    sections = selectors.public_catalog(facility=facility, activity_type=activity_type)
    _with_places([a for section in sections for t in section.types for a in t.activities])
    return render(
        request,
        "portal/catalog/catalog.html",
        {
            "form": form,
            "sections": sections,
            "filtered": bool(facility or activity_type),
            "can_enrol": _can_enrol(request),
        },
    )


def activity_detail(request, slug):
    activity = selectors.published_activity(slug)
    if activity is None:
        raise Http404
    _with_places([activity])
    months = selectors.upcoming_sessions_by_month(activity=activity)
    return render(
        request,
        "portal/catalog/activity_detail.html",
        {"activity": activity, "months": months, "can_enrol": _can_enrol(request)},
    )
