"""Family "Planning" URLs (and absences). Every id is looked up in the family's own bookings, absences, enrolments."""

from django.urls import path

from . import views_absences
from . import views_planning as views

urlpatterns = [
    path("planning/", views.planning, name="planning"),
    path("planning/basculer/", views.planning_toggle, name="planning_toggle"),
    path("planning/recapitulatif/", views.planning_recap, name="planning_recap"),
    path("planning/tout-supprimer/", views.planning_clear, name="planning_clear"),
    path("planning/valider/", views.planning_confirm, name="planning_confirm"),
    path("planning/historique/", views.planning_history, name="planning_history"),
    path("planning/semaine-type/<int:enrolment_id>/", views.planning_pattern, name="planning_pattern"),
    path("planning/liste-attente/", views.planning_waitlist_join, name="planning_waitlist_join"),
    path("planning/liste-attente/mes-demandes/", views.planning_waitlist, name="planning_waitlist"),
    path(
        "planning/liste-attente/<int:entry_id>/retirer/",
        views.planning_waitlist_leave,
        name="planning_waitlist_leave",
    ),
    path("planning/absences/", views_absences.absences, name="absences"),
    path("planning/absences/declarer/<int:booking_id>/", views_absences.absence_new, name="absence_new"),
    path(
        "planning/absences/<int:absence_id>/justificatif/",
        views_absences.absence_certificate,
        name="absence_certificate",
    ),
    path(
        "planning/absences/<int:absence_id>/justificatif/fichier/",
        views_absences.absence_certificate_file,
        name="absence_certificate_file",
    ),
]
