"""Staff pages of the household record and the queue of requests ("gestion/…")."""

from django.urls import path

from . import views_households as views

urlpatterns = [
    path("foyers/", views.households, name="households"),
    path("foyers/<int:household_id>/", views.household_detail, name="household_detail"),
    path("foyers/<int:household_id>/modifier/", views.household_edit, name="household_edit"),
    path("foyers/<int:household_id>/journal/", views.household_log, name="household_log"),
    path("foyers/<int:household_id>/quotients/ajouter/", views.quotient_add, name="quotient_add"),
    path("foyers/<int:household_id>/enfants/ajouter/", views.child_add, name="child_add"),
    path(
        "foyers/<int:household_id>/responsables/<int:guardian_id>/modifier/", views.guardian_edit, name="guardian_edit"
    ),
    path(
        "foyers/<int:household_id>/responsables/<int:guardian_id>/payeur/",
        views.guardian_set_payer,
        name="guardian_set_payer",
    ),
    path("foyers/<int:household_id>/enfants/<int:child_id>/modifier/", views.child_edit, name="child_edit"),
    path("foyers/<int:household_id>/enfants/<int:child_id>/sante/", views.health_edit, name="health_edit"),
    path("foyers/<int:household_id>/enfants/<int:child_id>/personnes/ajouter/", views.person_add, name="person_add"),
    path(
        "foyers/<int:household_id>/enfants/<int:child_id>/personnes/<int:person_id>/retirer/",
        views.person_delete,
        name="person_delete",
    ),
    path("demandes/", views.requests_queue, name="requests"),
    path("demandes/<int:request_id>/", views.request_decide, name="request_decide"),
]
