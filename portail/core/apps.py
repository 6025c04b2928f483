from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "portail.core"
    label = "core"
    verbose_name = "Noyau"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deploy checks)
