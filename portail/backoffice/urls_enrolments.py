"""Staff enrolment pages ("gestion/inscriptions/…")."""

from django.urls import path

from . import views_enrolments as views

urlpatterns = [
    path("inscriptions/", views.queue, name="enrolments"),
    path("inscriptions/traiter/", views.bulk, name="enrolments_bulk"),
    path("inscriptions/liste/", views.enrolment_list, name="enrolment_list"),
    path("inscriptions/liste/export.csv", views.export_csv, name="enrolment_export_csv"),
    path("inscriptions/liste/export.xlsx", views.export_xlsx, name="enrolment_export_xlsx"),
    path("inscriptions/attente/", views.waiting_list_page, name="waiting_list"),
    path("inscriptions/attente/reordonner/", views.waiting_list_reorder, name="waiting_list_reorder"),
    path("inscriptions/attente/places/", views.waiting_list_capacity, name="waiting_list_capacity"),
    path("inscriptions/<int:enrolment_id>/", views.detail, name="enrolment_detail"),
    path("inscriptions/<int:enrolment_id>/valider/", views.validate, name="enrolment_validate"),
    path("inscriptions/<int:enrolment_id>/refuser/", views.refuse, name="enrolment_refuse"),
    path(
        "inscriptions/<int:enrolment_id>/accepter-pre-inscription/",
        views.accept_pre_enrolment,
        name="enrolment_accept_pre_enrolment",
    ),
    path("inscriptions/<int:enrolment_id>/annuler/", views.cancel, name="enrolment_cancel"),
    path("inscriptions/<int:enrolment_id>/groupe/", views.move, name="enrolment_move"),
]
