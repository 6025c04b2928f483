"""Family "Attestation fiscale" (frais de garde des enfants de moins de 6 ans, PAYMENTS.md §3.6).

The family picks a year among those it paid something in, sees per régie what the attestation would
say, asks for it (issued once: asking again shows the one issued) and downloads the PDF. Every
certificate is looked up within the family's own household: another household's is a 404.
"""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from portail.billing.models import TaxCertificate
from portail.billing.tax_certificate import (
    TaxCertificateError,
    certificate_amounts,
    certificate_filename,
    certificate_pdf,
    certificate_years,
    issue_certificate,
    latest_certificates,
    year_bounds,
)
from portail.catalog.wording import format_euros
from portail.core.models import Channel
from portail.payments.models import Payment, PaymentStatus, Regie

from .decorators import family_required


def _years(household) -> list[int]:
    """Years over (before this one) in which the household paid something."""
    this_year = timezone.localdate().year
    return [year for year in certificate_years(household) if year < this_year]


def _regies_paid(household, year: int) -> list:
    start, end = year_bounds(year)
    regie_ids = Payment.objects.filter(
        household=household, status=PaymentStatus.PAID, paid_at__gte=start, paid_at__lt=end
    ).values("regie_id")
    return list(Regie.objects.filter(pk__in=regie_ids).select_related("town").order_by("name"))


def _parse_year(value, years: list[int]) -> int | None:
    try:
        year = int(value)
    except (TypeError, ValueError):
        return None
    return year if year in years else None


@require_GET
@family_required
def tax_certificates(request):
    household = request.household
    years = _years(household)
    year = _parse_year(request.GET.get("annee"), years) or (years[0] if years else None)
    blocks = []
    if year is not None:
        issued = latest_certificates(household, year)
        for regie in _regies_paid(household, year):
            certificate = issued.get(regie.pk)
            children = []
            if certificate is None:
                children = [
                    {
                        "name": amount.child_name,
                        "birth_date": amount.birth_date,
                        "paid": format_euros(amount.paid_cents),
                        "cesu": format_euros(amount.cesu_cents),
                    }
                    for amount in certificate_amounts(household, regie, year)
                ]
            blocks.append({"regie": regie, "certificate": certificate, "children": children})
    return render(
        request,
        "portal/invoices/tax_certificate.html",
        {"years": years, "year": year, "blocks": blocks, "this_year": timezone.localdate().year},
    )


@require_POST
@family_required
def tax_certificate_request(request):
    household = request.household
    years = _years(household)
    year = _parse_year(request.POST.get("annee"), years)
    if year is None:
        raise Http404("Année sans paiement")
    try:
        regie_id = int(request.POST.get("regie", ""))
    except ValueError as error:
        raise Http404("Régie introuvable") from error
    regie = next((r for r in _regies_paid(household, year) if r.pk == regie_id), None)
    if regie is None:
        raise Http404("Régie introuvable")
    back = f"{reverse('portal:tax_certificates')}?annee={year}"
    existing = latest_certificates(household, year).get(regie.pk)
    if existing is not None:
        messages.info(request, f"Votre attestation fiscale {year} est déjà établie (n° {existing.number}).")
        return redirect(back)
    try:
        certificate = issue_certificate(household, regie, year, request.user, channel=Channel.WEB)
    except TaxCertificateError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(
            request,
            f"Votre attestation fiscale {year} n° {certificate.number} est établie : téléchargez-la ci-dessous.",
        )
    return redirect(back)


@family_required
def tax_certificate_pdf(request, certificate_id):
    certificate = (
        TaxCertificate.objects.select_related("regie__town", "household")
        .filter(household=request.household, pk=certificate_id)
        .first()
    )
    if certificate is None:
        raise Http404("Attestation introuvable")
    response = HttpResponse(certificate_pdf(certificate), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{certificate_filename(certificate)}"'
    return response
