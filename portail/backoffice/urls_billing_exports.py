"""Staff billing exports: the month's journals (CSV/XLSX), the SEPA direct-debit file, a household's
SEPA mandates."""

from django.urls import path

from . import views_billing_exports as views

urlpatterns = [
    path("facturation/journaux/", views.billing_exports, name="billing_exports"),
    path("facturation/journaux/<slug:kind>.<slug:fmt>", views.billing_export_download, name="billing_export_download"),
    path("facturation/prelevements/", views.sepa_collection, name="sepa_collection"),
    path("foyers/<int:household_id>/mandats/", views.household_mandates, name="household_mandates"),
    path(
        "foyers/<int:household_id>/mandats/<int:mandate_id>/revoquer/",
        views.mandate_revoke,
        name="mandate_revoke",
    ),
]
