"""Staff pages for families' access to the portal (owned by the accounts work)."""

from django.urls import path

from . import views_accounts as views

urlpatterns = [
    path("foyers/<int:household_id>/acces/", views.household_access, name="household_access"),
    path(
        "foyers/<int:household_id>/acces/responsables/<int:guardian_id>/inviter/",
        views.invite,
        name="household_access_invite",
    ),
    path(
        "foyers/<int:household_id>/acces/responsables/<int:guardian_id>/email/",
        views.login_email,
        name="household_access_email",
    ),
    path(
        "foyers/<int:household_id>/acces/enfants/<int:child_id>/codes/",
        views.issue_codes,
        name="household_access_codes",
    ),
    path(
        "foyers/<int:household_id>/acces/enfants/<int:child_id>/codes/revoquer/",
        views.revoke_codes,
        name="household_access_revoke",
    ),
]
