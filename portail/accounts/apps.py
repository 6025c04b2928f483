from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "portail.accounts"
    label = "accounts"
    verbose_name = "Comptes"

    def ready(self):
        from .roles import on_post_migrate

        post_migrate.connect(on_post_migrate, dispatch_uid="portail_ensure_roles")
