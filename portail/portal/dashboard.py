"""The family "Tableau de bord": every request of the household and its state, whatever
the area that owns it. Each area registers a source once:

    from portail.portal.dashboard import DashboardItem, register_source

    @register_source
    def enrolment_items(household) -> list[DashboardItem]: ...

A source must read its rows in a fixed number of queries (no query per item).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse

from portail.households.presentation import request_summary
from portail.households.selectors import household_requests


@dataclass(frozen=True)
class DashboardItem:
    kind_label: str  # "Ajout d'un enfant", "Inscription", "Réservation"…
    submitted_at: datetime
    status_code: str  # pending | accepted | refused | cancelled (drives the badge colour)
    status_label: str  # "En attente", "Acceptée"…
    summary: str  # what was asked, one line
    url: str = ""  # the detail page, if any
    reason: str = ""  # the refusal reason, shown with a refused item


Source = Callable[[object], list[DashboardItem]]
_SOURCES: list[Source] = []


def register_source(fn: Source) -> Source:
    """Add a source of dashboard items; usable as a decorator; registering twice is harmless."""
    if fn not in _SOURCES:
        _SOURCES.append(fn)
    return fn


def sources() -> list[Source]:
    return list(_SOURCES)


def dashboard_items(household) -> list[DashboardItem]:
    """All items of every source, newest first."""
    items = [item for source in _SOURCES for item in source(household)]
    return sorted(items, key=lambda item: item.submitted_at, reverse=True)


@register_source
def change_request_items(household) -> list[DashboardItem]:
    requests, children, guardians = household_requests(household)
    return [
        DashboardItem(
            kind_label=r.get_kind_display(),
            submitted_at=r.submitted_at,
            status_code=r.status,
            status_label=r.get_status_display(),
            summary=request_summary(r, children=children, guardians=guardians),
            url=reverse("portal:request_detail", args=[r.pk]),
            reason=r.refusal_reason,
        )
        for r in requests
    ]
