"""Staff tariff pages ("Tarifs"): grids per activity, detail, new version, edit of a version to come."""

from django.urls import path

from . import views_tariffs

urlpatterns = [
    path("tarifs/", views_tariffs.tariff_list, name="tariffs"),
    path("tarifs/activites/<int:activity_pk>/nouvelle/", views_tariffs.tariff_create, name="tariff_create"),
    path("tarifs/<int:pk>/", views_tariffs.tariff_detail, name="tariff_detail"),
    path("tarifs/<int:pk>/modifier/", views_tariffs.tariff_edit, name="tariff_edit"),
]
