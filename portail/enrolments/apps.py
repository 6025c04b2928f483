from django.apps import AppConfig


class EnrolmentsConfig(AppConfig):
    name = "portail.enrolments"
    label = "enrolments"
    verbose_name = "Inscriptions"

    def ready(self):
        from portail.portal.dashboard import register_source

        from .dashboard import enrolment_items

        register_source(enrolment_items)
