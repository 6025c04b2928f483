"""System checks: the demo bank and the dummy backend must never run in production (PAYMENTS.md §1.6, §2.4)."""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import DatabaseError, transaction


@register(Tags.security)
def check_demo_bank(app_configs, **kwargs):
    """portail.E010: the demo bank (fake payments) is on while DEBUG is off."""
    if (
        getattr(settings, "PAYMENT_DEMO_BANK", False)
        and not settings.DEBUG
        and not getattr(settings, "PAYMENT_DEMO_BANK_ALLOWED_WITHOUT_DEBUG", False)
    ):
        return [
            Error(
                "La banque de démonstration (PAYMENT_DEMO_BANK) est activée alors que DEBUG est désactivé : "
                "des paiements fictifs seraient acceptés.",
                hint="Mettez PAYMENT_DEMO_BANK à False en production.",
                id="portail.E010",
            )
        ]
    return []


@register(Tags.security)
def check_dummy_backend(app_configs, **kwargs):
    """portail.E011: a régie uses the dummy backend (anyone can forge its notifications) in production."""
    if settings.DEBUG or getattr(settings, "PAYMENT_DEMO_BANK", False):
        return []
    from portail.payments.models import Backend, Regie

    try:
        with transaction.atomic():  # a savepoint: a failed query must not break an outer transaction
            names = list(Regie.objects.filter(backend=Backend.DUMMY).values_list("name", flat=True)[:5])
    except DatabaseError:  # before migrate, or no database at all
        return []
    if names:
        return [
            Error(
                "Des régies utilisent la banque fictive (dummy) alors que DEBUG est désactivé : "
                "n'importe qui pourrait simuler un paiement. Régies : " + ", ".join(names) + ".",
                hint="Choisissez PayFiP ou Systempay pour ces régies, ou « Pas de paiement en ligne ».",
                id="portail.E011",
            )
        ]
    return []
