from django.apps import AppConfig


class EnrolmentsConfig(AppConfig):
    name = "portail.enrolments"
    label = "enrolments"
    verbose_name = "Inscriptions"
