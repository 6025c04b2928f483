"""Pass unanswered waiting-list offers on to the next family. Run it every few minutes (cron or
the periodic-job runner); running it twice or on several machines at once is safe."""

from django.core.management.base import BaseCommand

from portail.enrolments.waiting_list import expire_offers


class Command(BaseCommand):
    help = "Annule les places proposées dont le délai de réponse est dépassé et les propose aux suivants."

    def handle(self, *args, **options):
        expired = expire_offers()
        self.stdout.write(f"{len(expired)} proposition(s) expirée(s).")
