"""Staff billing exports: the month's journals (CSV/XLSX), the SEPA direct-debit file, a household's
SEPA mandates."""

from django.urls import path

from . import views_billing_exports as views

urlpatterns = [
    path("facturation/journaux/", views.billing_exports, name="billing_exports"),
    path("facturation/journaux/<slug:kind>.<slug:fmt>", views.billing_export_download, name="billing_export_download"),
    path("facturation/prelevements/", views.sepa_collection, name="sepa_collection"),
    path("facturation/prelevements/fichiers/", views.debit_batches, name="debit_batches"),
    path("facturation/prelevements/fichiers/<int:batch_id>/", views.debit_batch, name="debit_batch"),
    path(
        "facturation/prelevements/fichiers/<int:batch_id>/pain008.xml", views.debit_batch_file, name="debit_batch_file"
    ),
    path(
        "facturation/prelevements/fichiers/<int:batch_id>/encaisse/",
        views.debit_batch_collect,
        name="debit_batch_collect",
    ),
    path("facturation/prelevements/<int:debit_id>/rejet/", views.debit_reject, name="debit_reject"),
    path("foyers/<int:household_id>/mandats/", views.household_mandates, name="household_mandates"),
    path(
        "foyers/<int:household_id>/mandats/<int:mandate_id>/revoquer/",
        views.mandate_revoke,
        name="mandate_revoke",
    ),
]
