# Placeholder names until the staff household pages land (owned by the households work).
from django.urls import path

from . import views

urlpatterns = [
    path("foyers/", views.home, name="households"),
    path("demandes/", views.home, name="requests"),
]
