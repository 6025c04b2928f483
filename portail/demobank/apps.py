from django.apps import AppConfig


class DemobankConfig(AppConfig):
    """The local fake bank (Systempay, TIPI, PayFiP web-service, dummy) for development and tests.

    The app is always installed (its system checks guard production); its pages are only mounted
    when settings.PAYMENT_DEMO_BANK is true.
    """

    name = "portail.demobank"
    label = "demobank"
    verbose_name = "Banque de démonstration"

    def ready(self):
        from . import checks  # noqa: F401  (registers portail.E010 and portail.E011)
