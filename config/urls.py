from django.conf import settings
from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Portail Famille – administration"
admin.site.site_title = "Portail Famille"

urlpatterns = [
    path("", include("portail.portal.urls")),
    path("compte/", include("portail.accounts.urls")),
    path("gestion/", include("portail.backoffice.urls")),
    path("paiements/banque/", include("portail.payments.urls")),
    path("admin/", admin.site.urls),
]
if settings.PAYMENT_DEMO_BANK:
    urlpatterns.insert(0, path("_banque-demo/", include("portail.demobank.urls")))


def _admin_for_administrators_only(request):
    """The Django admin is for configuration by administrators, not every agent."""
    user = request.user
    return user.is_active and user.is_staff and user.has_perm("accounts.access_admin")


admin.site.has_permission = _admin_for_administrators_only
