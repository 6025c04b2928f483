from django.urls import path

from . import views

app_name = "payments"
urlpatterns = [
    path("notification/<int:regie_id>/", views.notification, name="notification"),
]
