from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def check_production_secret_key(app_configs, **kwargs):
    """`check --deploy` must fail when production still runs on the development key."""
    if settings.SECRET_KEY == getattr(settings, "DEV_SECRET_KEY", None):
        return [
            Error(
                "DJANGO_SECRET_KEY n'est pas défini : la clé de développement ne doit pas servir en production.",
                id="portail.E001",
            )
        ]
    return []
