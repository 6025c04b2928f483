"""Family absences ("Mes absences"): declaring an absence on a booking past its cancellation
deadline, with an optional certificate; adding the certificate later; downloading it.

Every booking and absence is looked up inside request.household (another household's id is a
404, for every method); the rules (excused or pending, certificate types) are the services'.
"""

from pathlib import PurePath

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from portail.bookings import selectors, services
from portail.bookings.errors import BookingError
from portail.bookings.models import HOLDING_STATUSES, Absence, AbsenceReason, AbsenceStatus, Booking
from portail.catalog.deadlines import deadline_for_session
from portail.core.models import Channel

from .decorators import family_required

CERTIFICATE_TYPES = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"


class AbsenceForm(forms.Form):
    motif = forms.ChoiceField(label="Motif de l'absence", choices=AbsenceReason.choices, widget=forms.RadioSelect)
    precisions = forms.CharField(
        label="Précisions (facultatif)", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )
    justificatif = forms.FileField(
        label="Justificatif (facultatif)",
        required=False,
        help_text="Certificat médical par exemple : PDF, JPEG ou PNG, 5 Mo au plus.",
        widget=forms.ClearableFileInput(attrs={"accept": CERTIFICATE_TYPES}),
    )


class CertificateForm(forms.Form):
    justificatif = forms.FileField(
        label="Justificatif",
        help_text="PDF, JPEG ou PNG, 5 Mo au plus.",
        widget=forms.ClearableFileInput(attrs={"accept": CERTIFICATE_TYPES}),
    )


def _household_absences(household):
    return Absence.objects.filter(household=household).select_related(
        "booking__child", "booking__session__unit__activity"
    )


def _household_absence(household, absence_id) -> Absence:
    absence = _household_absences(household).filter(pk=absence_id).first()
    if absence is None:
        raise Http404("Absence introuvable")
    return absence


@require_GET
@family_required
def absences(request):
    items = [
        (absence, selectors.format_day(absence.booking.session.date))
        for absence in _household_absences(request.household)
    ]
    return render(
        request,
        "portal/planning/absences.html",
        {"items": items, "pending": AbsenceStatus.PENDING, "certificate_form": CertificateForm()},
    )


@family_required
def absence_new(request, booking_id):
    booking = (
        Booking.objects.filter(pk=booking_id, child__household=request.household, status__in=HOLDING_STATUSES)
        .select_related("child", "session__unit__activity__facility__town", "absence")
        .first()
    )
    if booking is None:
        raise Http404("Réservation introuvable")
    existing = getattr(booking, "absence", None)
    if existing is not None:
        messages.info(request, "Une absence est déjà déclarée pour cette séance.")
        return redirect("portal:absences")
    day = selectors.format_day(booking.session.date)
    deadline = deadline_for_session(booking.session)
    context = {"booking": booking, "day": day, "too_early": timezone.now() < deadline}
    if context["too_early"]:
        context["deadline"] = selectors.format_deadline(deadline)
        return render(request, "portal/planning/absence_new.html", context)
    form = AbsenceForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            absence = services.declare_absence(
                household=request.household,
                booking=booking,
                reason=form.cleaned_data["motif"],
                comment=form.cleaned_data["precisions"],
                certificate=form.cleaned_data["justificatif"],
                actor=request.user,
                channel=Channel.WEB,
            )
        except BookingError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(
                request,
                f"Absence de {booking.child.first_name} le {day} enregistrée : {absence.get_status_display().lower()}.",
            )
            return redirect("portal:absences")
    context["form"] = form
    return render(request, "portal/planning/absence_new.html", context)


@family_required
def absence_certificate(request, absence_id):
    absence = _household_absence(request.household, absence_id)  # scoped first: another family's id is a 404
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = CertificateForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choisissez le fichier du justificatif (PDF, JPEG ou PNG, 5 Mo au plus).")
        return redirect("portal:absences")
    try:
        absence = services.add_certificate(
            absence=absence, certificate=form.cleaned_data["justificatif"], actor=request.user, channel=Channel.WEB
        )
    except BookingError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Justificatif enregistré : {absence.get_status_display().lower()}.")
    return redirect("portal:absences")


@family_required
def absence_certificate_file(request, absence_id):
    """The family's own certificate, as an attachment (never a public media URL)."""
    absence = _household_absence(request.household, absence_id)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not absence.certificate:
        raise Http404("Aucun justificatif")
    suffix = PurePath(absence.certificate.name).suffix.lower()
    try:
        handle = absence.certificate.open("rb")
    except FileNotFoundError as missing:
        raise Http404("Justificatif introuvable") from missing
    return FileResponse(handle, as_attachment=True, filename=f"justificatif-absence-{absence.pk}{suffix}")
