"""Online payments the bank has not settled by the end of their hold: ask PayFiP again (web-service),
otherwise expire them and release the places they held, exactly once. Run it every minute; running
it twice at once is safe (each attempt is settled under its row lock)."""

from django.core.management.base import BaseCommand

from portail.payments.services import reconcile_payments


class Command(BaseCommand):
    help = "Rapproche les paiements en ligne en attente : relance PayFiP, expire les autres et libère les places."

    def handle(self, *args, **options):
        report = reconcile_payments()
        self.stdout.write(
            f"{report.checked} paiement(s) vérifié(s) : {report.paid} payé(s), {report.expired} expiré(s), "
            f"{report.still_pending} encore en cours."
        )
