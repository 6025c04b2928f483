"""`manage.py issue_tax_certificates [--year 2026] [--regie ENF] [--no-email]`: the January job.

Issues the attestation fiscale of the year just ended (by default) for every household that paid
eligible childcare, and e-mails it. Idempotent: households that already have theirs are skipped.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portail.billing.tax_certificate import TaxCertificateError, issue_year_certificates
from portail.payments.models import Regie


class Command(BaseCommand):
    help = "Établit les attestations fiscales d'une année (en janvier, pour l'année écoulée)."

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, help="Année des paiements (par défaut : l'année écoulée).")
        parser.add_argument("--regie", help="Code d'une seule régie (par défaut : toutes).")
        parser.add_argument("--no-email", action="store_true", help="Ne pas envoyer les attestations par e-mail.")

    def handle(self, *args, **options):
        year = options["year"] or timezone.localdate().year - 1
        regie = None
        if options["regie"]:
            regie = Regie.objects.filter(code=options["regie"]).first()
            if regie is None:
                raise CommandError(f"Aucune régie de code {options['regie']!r}.")
        try:
            result = issue_year_certificates(year, regie=regie, notify=not options["no_email"])
        except TaxCertificateError as refusal:
            raise CommandError(refusal.message) from refusal
        self.stdout.write(
            f"Attestations fiscales {year} : {len(result.issued)} établie(s), "
            f"{result.already} déjà établie(s), {len(result.failed)} en erreur."
        )
        for household_id, regie_code, message in result.failed:
            self.stdout.write(f"  foyer {household_id}, régie {regie_code} : {message}")
