"""Family "Inscriptions à payer": the cart of enrolments paid at once and its payment (seed 000)."""

from django.urls import path

from . import views_enrolments as views

urlpatterns = [
    path("inscriptions/a-payer/", views.enrolment_cart, name="enrolment_cart"),
    path("inscriptions/a-payer/retirer/", views.enrolment_cart_remove, name="enrolment_cart_remove"),
    path("inscriptions/a-payer/payer/", views.enrolment_cart_pay, name="enrolment_cart_pay"),
]
