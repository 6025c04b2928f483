"""Enrolment requests in the family "Tableau de bord" (registered in EnrolmentsConfig.ready)."""

from django.urls import reverse

from portail.portal.dashboard import DashboardItem

from .models import EnrolmentStatus
from .selectors import enrolments_for_household

# Dashboard badge of each state (pending | accepted | refused | cancelled).
STATUS_CODES = {
    EnrolmentStatus.REQUESTED: "pending",
    EnrolmentStatus.PRE_ENROLMENT: "pending",
    EnrolmentStatus.WAITING: "pending",
    EnrolmentStatus.OFFERED: "pending",
    EnrolmentStatus.VALIDATED: "accepted",
    EnrolmentStatus.REFUSED: "refused",
    EnrolmentStatus.CANCELLED: "cancelled",
}


def enrolment_summary(enrolment) -> str:
    """ "Léa – Pommiers mercredis – Année 2026-2027 – 6-11 ans"."""
    return " – ".join(
        [enrolment.child.first_name, enrolment.activity.name, enrolment.period.name, enrolment.group.name]
    )


def enrolment_items(household) -> list[DashboardItem]:
    # One query: the list page's weekly-pattern prefetch is not needed here.
    enrolments = enrolments_for_household(household).prefetch_related(None)
    return [
        DashboardItem(
            kind_label="Inscription",
            submitted_at=enrolment.created_at,
            status_code=STATUS_CODES.get(enrolment.status, "pending"),
            status_label=enrolment.get_status_display(),
            summary=enrolment_summary(enrolment),
            url=reverse("portal:enrolment_detail", kwargs={"enrolment_id": enrolment.pk}),
            reason=enrolment.refusal_reason if enrolment.status == EnrolmentStatus.REFUSED else "",
        )
        for enrolment in enrolments
    ]
