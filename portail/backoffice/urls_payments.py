"""Staff money pages: payments and their journal ("gestion/paiements/…"), a desk payment for a
household ("gestion/foyers/<id>/encaisser/"), payment incidents and régies ("gestion/regies/…")."""

from django.urls import path

from . import views_payments as views

urlpatterns = [
    path("paiements/", views.payment_list, name="payments"),
    path("paiements/journal.csv", views.payment_export, name="payment_export"),
    path("paiements/incidents/", views.incident_list, name="payment_incidents"),
    path("paiements/incidents/<int:incident_id>/traiter/", views.incident_resolve, name="payment_incident_resolve"),
    path("paiements/<int:payment_id>/", views.payment_detail, name="payment_detail"),
    path("paiements/<int:payment_id>/recu.pdf", views.payment_receipt, name="payment_receipt"),
    path("paiements/<int:payment_id>/rembourser/", views.payment_refund, name="payment_refund"),
    path("foyers/<int:household_id>/encaisser/", views.payment_record, name="payment_record"),
    path("regies/", views.regie_list, name="regies"),
    path("regies/nouvelle/", views.regie_new, name="regie_new"),
    path("regies/<int:regie_id>/modifier/", views.regie_edit, name="regie_edit"),
]
