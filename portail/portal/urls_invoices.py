"""Family "Factures" URLs (seeds 002–004)."""

from django.urls import path

from . import views_invoices as views

urlpatterns = [
    path("factures/", views.invoices, name="invoices"),
    path("factures/payer/", views.invoices_pay, name="invoices_pay"),
    path("factures/payer-avec-mon-credit/", views.invoices_pay_with_credit, name="invoices_pay_with_credit"),
    path("factures/releve/", views.invoice_statement, name="invoice_statement"),
    path("factures/par-inscription/", views.invoice_enrolments, name="invoice_enrolments"),
    path(
        "factures/par-inscription/<int:enrolment_id>/",
        views.invoice_enrolment_detail,
        name="invoice_enrolment_detail",
    ),
    path("factures/destinataires/", views.invoice_recipients, name="invoice_recipients"),
    path(
        "factures/destinataires/<int:recipient_id>/retirer/",
        views.invoice_recipient_remove,
        name="invoice_recipient_remove",
    ),
    path("factures/avoirs/<int:credit_note_id>/avoir.pdf", views.credit_note_pdf_download, name="credit_note_pdf"),
    path("factures/<int:invoice_id>/", views.invoice_detail, name="invoice_detail"),
    path("factures/<int:invoice_id>/facture.pdf", views.invoice_pdf_download, name="invoice_pdf"),
]
