# Placeholder name until the public catalog lands (owned by the catalog work).
from django.urls import path

from . import views

urlpatterns = [path("activites/", views.home, name="catalog")]
