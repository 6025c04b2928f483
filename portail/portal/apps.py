from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portail.portal"
    label = "portal"
