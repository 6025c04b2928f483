"""The pending-absence count of the staff navigation: one indexed COUNT, asked only by the
template for agents who may see the queue."""

from django import template

from portail.bookings.models import Absence, AbsenceStatus

register = template.Library()


@register.simple_tag
def pending_absence_count() -> int:
    return Absence.objects.filter(status=AbsenceStatus.PENDING).count()
