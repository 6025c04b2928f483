"""`manage.py deliver_invoice_emails`: mail the invoices not mailed yet (issued with `invoice_month --no-email`,
or whose sending failed), oldest first, PDF attached. Run it every few minutes; running it twice at once is
safe (each invoice is claimed before sending: billing.emails)."""

from django.core.management.base import BaseCommand

from portail.billing.emails import deliver_pending_invoices


class Command(BaseCommand):
    help = "Envoie par e-mail les factures qui ne l'ont pas encore été (les plus anciennes d'abord)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=100, help="Nombre maximal de factures envoyées par passage (100 par défaut)."
        )

    def handle(self, *args, **options):
        sent = deliver_pending_invoices(limit=max(1, options["limit"]))
        self.stdout.write(f"{sent} facture(s) envoyée(s) par e-mail.")
