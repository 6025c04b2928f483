from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "portail.catalog"
    label = "catalog"
