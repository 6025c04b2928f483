"""`manage.py invoice_month ENF 2026-11`: issue the month's invoices of a régie (or --preview them).

Idempotent: households already invoiced for the month are skipped, so re-running after a crash or
after fixing a tariff completes the month and creates nothing twice. Prints the counts.
`--no-email` issues without sending (large towns); `--send-emails` then sends what was not sent.
"""

import time
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portail.billing import invoicing
from portail.billing.errors import BillingError
from portail.catalog.wording import format_euros
from portail.core.models import Channel
from portail.payments.models import Regie

DEFAULT_DUE_DAYS = 30


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as bad:
        raise CommandError(f"Date invalide : {value!r} (AAAA-MM-JJ attendu).") from bad


class Command(BaseCommand):
    help = "Facture un mois pour une régie (activités facturées chaque mois)."

    def add_arguments(self, parser):
        parser.add_argument("regie", help="Code de la régie, par exemple ENF.")
        parser.add_argument("month", help="Mois facturé, AAAA-MM (par exemple 2026-11).")
        parser.add_argument("--issued-on", help="Date d'émission AAAA-MM-JJ (par défaut : aujourd'hui).")
        parser.add_argument(
            "--due-date", help=f"Date limite de paiement AAAA-MM-JJ (par défaut : émission + {DEFAULT_DUE_DAYS} jours)."
        )
        parser.add_argument("--preview", action="store_true", help="Afficher ce qui serait facturé, sans rien émettre.")
        parser.add_argument(
            "--no-email", action="store_true", help="Ne pas envoyer les factures par e-mail pendant l'émission."
        )
        parser.add_argument(
            "--send-emails",
            action="store_true",
            help="Seulement envoyer les e-mails des factures du mois qui ne l'ont pas encore été (après --no-email).",
        )

    def handle(self, *args, **options):
        regie = Regie.objects.select_related("town").filter(code=options["regie"]).first()
        if regie is None:
            raise CommandError(f"Aucune régie de code {options['regie']!r}.")
        try:
            month = invoicing.month_start(options["month"])
        except BillingError as refusal:
            raise CommandError(refusal.message) from refusal
        label = invoicing.month_label(month)
        started = time.perf_counter()

        if options["send_emails"]:
            from portail.billing.emails import deliver_invoice_issued
            from portail.billing.models import Invoice

            pending = Invoice.objects.filter(regie=regie, month=month, emailed_at__isnull=True).order_by("number")
            sent = sum(1 for pk in pending.values_list("pk", flat=True) if deliver_invoice_issued(pk))
            self.stdout.write(f"{sent} facture(s) de {label} envoyée(s) par e-mail.")
            return

        if options["preview"]:
            preview = invoicing.preview_month(regie, month)
            self.stdout.write(
                f"Aperçu {regie.name}, {label} : {preview.invoices_count} facture(s), {preview.lines_count} ligne(s), "
                f"{format_euros(preview.total_cents)} ; {len(preview.blocked)} foyer(s) bloqué(s) par "
                f"{len(preview.errors)} erreur(s) ; {preview.already_invoiced} foyer(s) déjà facturé(s) ; "
                f"{len(preview.warnings)} avertissement(s)."
            )
            for error in preview.errors[:50]:
                self.stdout.write(f"  ERREUR {error['household']} : {error['message']}")
            return

        issued_on = _date(options["issued_on"]) if options["issued_on"] else timezone.localdate()
        due_date = _date(options["due_date"]) if options["due_date"] else issued_on + timedelta(days=DEFAULT_DUE_DAYS)
        try:
            run = invoicing.run_month(
                regie,
                month,
                issued_on=issued_on,
                due_date=due_date,
                actor=None,
                channel=Channel.SYSTEM,
                notify=not options["no_email"],
            )
        except BillingError as refusal:
            raise CommandError(refusal.message) from refusal
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Facturation {regie.name}, {label} (n° {run.pk}, {run.get_status_display().lower()}) : "
            f"{run.created} facture(s) émise(s) pour {format_euros(run.created_total_cents)}, "
            f"{run.skipped} déjà facturée(s), {len(run.errors)} erreur(s), en {seconds:.1f} s."
        )
        for error in run.errors[:50]:
            self.stdout.write(f"  ERREUR {error.get('household', '')} : {error.get('message', '')}")
