"""Public catalog (no login needed)."""

from django.urls import path

from . import views_catalog

urlpatterns = [
    path("activites/", views_catalog.catalog, name="catalog"),
    path("activites/<slug:slug>/", views_catalog.activity_detail, name="activity_detail"),
]
