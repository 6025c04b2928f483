# Placeholder names until the household pages land (owned by the households work).
from django.urls import path

from . import views

urlpatterns = [
    path("famille/", views.home, name="family"),
    path("famille/demandes/", views.home, name="dashboard"),
]
