"""Staff catalog pages ("Catalogue")."""

from django.urls import path

from . import views_catalog

urlpatterns = [
    path("catalogue/", views_catalog.overview, name="catalog"),
    path("catalogue/unites/<int:pk>/seances/", views_catalog.unit_sessions, name="catalog_unit_sessions"),
    path("catalogue/unites/<int:pk>/seances/generer/", views_catalog.generate, name="catalog_generate_sessions"),
    path("catalogue/seances/<int:pk>/annuler/", views_catalog.cancel, name="catalog_session_cancel"),
    path("catalogue/seances/<int:pk>/rouvrir/", views_catalog.reopen, name="catalog_session_reopen"),
    path("catalogue/<slug:kind>/ajouter/", views_catalog.add_object, name="catalog_add"),
    path("catalogue/<slug:kind>/<int:pk>/modifier/", views_catalog.edit_object, name="catalog_edit"),
]
