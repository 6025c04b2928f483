"""Staff-facing URLs ("gestion"). Each area has its own module."""

from django.urls import include, path

from . import views

app_name = "backoffice"
urlpatterns = [
    path("", views.home, name="home"),
    path("", include("portail.backoffice.urls_accounts")),
    path("", include("portail.backoffice.urls_households")),
    path("", include("portail.backoffice.urls_catalog")),
    path("", include("portail.backoffice.urls_enrolments")),
    path("", include("portail.backoffice.urls_bookings")),
    path("", include("portail.backoffice.urls_payments")),
    path("", include("portail.backoffice.urls_tariffs")),
    path("", include("portail.backoffice.urls_billing_exports")),
    path("", include("portail.backoffice.urls_billing")),
]
