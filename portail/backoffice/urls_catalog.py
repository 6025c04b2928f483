# Placeholder name until the staff catalog pages land (owned by the catalog work).
from django.urls import path

from . import views

urlpatterns = [path("catalogue/", views.home, name="catalog")]
