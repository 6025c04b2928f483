"""Staff invoicing URLs: monthly runs ("gestion/facturation/…"), invoices and credit notes
("gestion/factures/…"), a household's invoices and one-off invoice ("gestion/foyers/<id>/factures/…")."""

from django.urls import path

from . import views_billing as views
from . import views_billing_presence

urlpatterns = [
    path("facturation/", views.run_list, name="billing_runs"),
    path("facturation/nouvelle/", views.run_new, name="billing_run_new"),
    path("facturation/apercu/", views.run_preview, name="billing_run_preview"),
    path("facturation/emettre/", views.run_issue, name="billing_run_issue"),
    path("facturation/<int:run_id>/", views.run_detail, name="billing_run_detail"),
    path("factures/", views.invoice_list, name="billing_invoices"),
    path("factures/<int:invoice_id>/", views.invoice_detail, name="billing_invoice_detail"),
    path("factures/<int:invoice_id>/avoir/", views.credit_note_new, name="billing_credit_note_new"),
    path("foyers/<int:household_id>/factures/", views.household_invoices, name="billing_household_invoices"),
    path("foyers/<int:household_id>/factures/ponctuelle/", views.one_off_invoice, name="billing_one_off_invoice"),
    path("foyers/<int:household_id>/factures/remboursement/", views.credit_refund, name="billing_credit_refund"),
    path(
        "foyers/<int:household_id>/factures/presence/", views_billing_presence.presence_new, name="billing_presence_new"
    ),
    path(
        "foyers/<int:household_id>/factures/presence/<int:item_id>/retirer/",
        views_billing_presence.presence_cancel,
        name="billing_presence_cancel",
    ),
]
