from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "portail.billing"
    label = "billing"
    verbose_name = "Facturation"
