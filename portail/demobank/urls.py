"""The demo bank, mounted by config/urls.py at /_banque-demo/ only when settings.PAYMENT_DEMO_BANK is on.

Paths mimic the real services: …/systempay/vads-payment/, …/tpa/paiement.web, …/tpa/paiementws.web,
…/tpa/services/securite (SOAP), …/dummy/.
"""

from django.urls import path

from . import views

app_name = "demobank"
urlpatterns = [
    path("", views.index, name="index"),
    path("systempay/vads-payment/", views.systempay, name="systempay"),
    path("systempay/reponse/", views.systempay_answer, name="systempay_answer"),
    path("tpa/paiement.web", views.tipi, name="tipi"),
    path("tpa/paiementws.web", views.payfip, name="payfip"),
    path("tpa/services/securite", views.payfip_soap, name="payfip_soap"),
    path("dummy/", views.dummy, name="dummy"),
]
