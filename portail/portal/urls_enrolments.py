"""Family enrolment pages ("Inscriptions"). Every id is looked up in the family's own enrolments."""

from django.urls import path

from . import views_enrolments as views

urlpatterns = [
    path("inscriptions/", views.enrolments, name="enrolments"),
    path("inscriptions/nouvelle/", views.enrolment_new, name="enrolment_new"),
    path("inscriptions/<int:enrolment_id>/", views.enrolment_detail, name="enrolment_detail"),
    path("inscriptions/<int:enrolment_id>/annuler/", views.enrolment_cancel, name="enrolment_cancel"),
    path("inscriptions/<int:enrolment_id>/accepter/", views.enrolment_offer_accept, name="enrolment_offer_accept"),
    path("inscriptions/<int:enrolment_id>/refuser/", views.enrolment_offer_decline, name="enrolment_offer_decline"),
    path("inscriptions/<int:enrolment_id>/dupliquer/", views.enrolment_duplicate, name="enrolment_duplicate"),
    path(
        "inscriptions/<int:enrolment_id>/attestation.pdf",
        views.enrolment_certificate,
        name="enrolment_certificate",
    ),
]
