"""The "attestation d'inscription": a one-page PDF proving a child is enrolled (validated only).

The HTML is built by `certificate_html` (templates/enrolments/certificate.html) so that its
content can be checked without parsing a PDF; WeasyPrint turns it into the PDF.
"""

from django.template.loader import render_to_string
from django.utils import timezone

from portail.core.pdf import render_pdf
from portail.organisations.models import Town

from .models import EnrolmentStatus


def certificate_available(enrolment) -> bool:
    return enrolment.status == EnrolmentStatus.VALIDATED


def certificate_filename(enrolment) -> str:
    return f"attestation-{enrolment.reference or enrolment.pk}.pdf"


def certificate_html(enrolment, *, town=None, issued_on=None) -> str:
    town = town or Town.current()
    return render_to_string(
        "enrolments/certificate.html",
        {
            "town": town,
            "town_label": (town.name if town else "") or "la commune",
            "enrolment": enrolment,
            "child": enrolment.child,
            "activity": enrolment.activity,
            "facility": enrolment.activity.facility,
            "period": enrolment.period,
            "group": enrolment.group,
            "issued_on": issued_on or timezone.localdate(),
        },
    )


def certificate_pdf(enrolment, **kwargs) -> bytes:
    html = certificate_html(enrolment, **kwargs)
    return render_pdf(html)
