from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("connexion/", views.login_view, name="login"),
    path("connexion/codes/", views.login_codes_view, name="login_codes"),
    path("deconnexion/", views.LogoutView.as_view(), name="logout"),
    path("inscription/", views.signup, name="signup"),
    path("activation/<str:token>/", views.activate, name="activate"),
    path("mot-de-passe/", views.PasswordChangeView.as_view(), name="password_change"),
    path("mot-de-passe/oublie/", views.PasswordResetView.as_view(), name="password_reset"),
    path("mot-de-passe/oublie/envoye/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "mot-de-passe/nouveau/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("mot-de-passe/nouveau/termine/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
