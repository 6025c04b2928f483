"""Family "Attestation fiscale" URLs (frais de garde des enfants de moins de 6 ans)."""

from django.urls import path

from . import views_tax_certificate as views

urlpatterns = [
    path("factures/attestation-fiscale/", views.tax_certificates, name="tax_certificates"),
    path("factures/attestation-fiscale/demander/", views.tax_certificate_request, name="tax_certificate_request"),
    path(
        "factures/attestation-fiscale/<int:certificate_id>/attestation.pdf",
        views.tax_certificate_pdf,
        name="tax_certificate_pdf",
    ),
]
