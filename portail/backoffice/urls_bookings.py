"""Staff planning pages ("gestion/foyers/<id>/planning/…") and the absence queue ("gestion/absences/…")."""

from django.urls import path

from . import views_bookings as views

urlpatterns = [
    path("foyers/<int:household_id>/planning/", views.household_planning, name="household_planning"),
    path("foyers/<int:household_id>/planning/reserver/", views.planning_book, name="planning_book"),
    path(
        "foyers/<int:household_id>/planning/reservations/<int:booking_id>/annuler/",
        views.planning_cancel,
        name="planning_cancel",
    ),
    path(
        "foyers/<int:household_id>/planning/reservations/<int:booking_id>/absence/",
        views.planning_absence,
        name="planning_absence",
    ),
    path("absences/", views.absence_queue, name="absences"),
    path("absences/<int:absence_id>/decider/", views.absence_decide, name="absence_decide"),
    path("absences/<int:absence_id>/justificatif/", views.absence_certificate, name="absence_certificate"),
]
