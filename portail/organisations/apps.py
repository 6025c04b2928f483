from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "portail.organisations"
    label = "organisations"
