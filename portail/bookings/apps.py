from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "portail.bookings"
    label = "bookings"
    verbose_name = "Planning et réservations"
