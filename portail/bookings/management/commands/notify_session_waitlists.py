"""Tell waiting families that a place freed up on a full session, and expire the waiting lists of
sessions past their deadline. Run it every 5 minutes; running it twice at once is safe (each
session is handled under its row lock, and an entry already told is not told again)."""

from django.core.management.base import BaseCommand

from portail.bookings.services import notify_session_waitlists


class Command(BaseCommand):
    help = "Prévient par e-mail les familles en liste d'attente d'une séance quand une place se libère."

    def handle(self, *args, **options):
        run = notify_session_waitlists()
        self.stdout.write(
            f"{len(run.notified)} famille(s) prévenue(s), {run.expired} inscription(s) expirée(s), "
            f"{run.booked} inscription(s) close(s) après réservation, {run.requeued} remise(s) en attente."
        )
