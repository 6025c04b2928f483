"""Family-facing URLs. Each area has its own module so parallel work does not collide."""

from django.urls import include, path

from . import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("bientot/<slug:section>/", views.coming_soon, name="coming_soon"),
    path("", include("portail.portal.urls_family")),
    path("", include("portail.portal.urls_catalog")),
    path("", include("portail.portal.urls_enrolments")),
    path("", include("portail.portal.urls_planning")),
    path("", include("portail.portal.urls_payments")),
    path("", include("portail.portal.urls_enrolment_payment")),
    path("", include("portail.portal.urls_tax_certificate")),
    path("", include("portail.portal.urls_invoices")),
]
