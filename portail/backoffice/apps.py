from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "portail.backoffice"
    label = "backoffice"
