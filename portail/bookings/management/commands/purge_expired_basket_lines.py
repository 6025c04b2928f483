"""Remove expired basket lines. They already stopped holding places by their timestamp; this
only keeps the table small. Run it every few minutes; running it twice at once is safe."""

from django.core.management.base import BaseCommand

from portail.bookings.services import purge_expired_lines


class Command(BaseCommand):
    help = "Supprime les modifications en cours expirées des paniers."

    def handle(self, *args, **options):
        self.stdout.write(f"{purge_expired_lines()} modification(s) expirée(s) supprimée(s).")
