"""Family pages of the household record ("Ma famille", "Mes coordonnées", "Tableau de bord")."""

from django.urls import path

from . import views_family as views

urlpatterns = [
    path("famille/", views.family, name="family"),
    path("famille/coordonnees/", views.coordinates, name="coordinates"),
    path("famille/responsables/<int:guardian_id>/coordonnees/", views.edit_coordinates, name="edit_coordinates"),
    path(
        "famille/responsables/<int:guardian_id>/modifier/",
        views.request_update_guardian,
        name="request_update_guardian",
    ),
    path("famille/responsables/ajouter/", views.request_add_guardian, name="request_add_guardian"),
    path("famille/foyer/allocataire/", views.request_update_household, name="request_update_household"),
    path("famille/enfants/ajouter/", views.request_add_child, name="request_add_child"),
    path("famille/enfants/<int:child_id>/", views.child_detail, name="child_detail"),
    path("famille/enfants/<int:child_id>/modifier/", views.request_update_child, name="request_update_child"),
    path("famille/enfants/<int:child_id>/sante/", views.request_update_health, name="request_update_health"),
    path("famille/enfants/<int:child_id>/personnes/ajouter/", views.request_add_person, name="request_add_person"),
    path("famille/demandes/", views.dashboard, name="dashboard"),
    path("famille/demandes/<int:request_id>/", views.request_detail, name="request_detail"),
    path("famille/demandes/<int:request_id>/annuler/", views.request_cancel, name="request_cancel"),
]
