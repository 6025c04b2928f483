"""Family "Paiements" URLs."""

from django.urls import path

from . import views_payments as views

urlpatterns = [
    path("paiements/", views.payments, name="payments"),
    path("paiements/payer-mes-reservations/", views.payment_basket, name="payment_basket"),
    path("paiements/payer-avec-mon-credit/", views.payment_basket_with_credit, name="payment_basket_with_credit"),
    path("paiements/retour/", views.payment_return_by_reference, name="payment_return_by_reference"),
    path("paiements/retour/<uuid:uid>/", views.payment_return, name="payment_return"),
    path("paiements/<int:payment_id>/recu.pdf", views.payment_receipt, name="payment_receipt"),
]
