from django.core.management.base import BaseCommand, CommandError

from portail.core.errors import BusinessError
from portail.demo.bench import seed_bench
from portail.demo.upsert import french_label


class Command(BaseCommand):
    help = (
        "Crée le jeu de données déterministe des tests de charge (QUALITY.md §4.1) : "
        "5 000 foyers et 8 000 enfants à l'échelle 1. Refuse de s'exécuter deux fois sans --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale", type=float, default=0.2, help="Facteur d'échelle (1 = 5 000 foyers). Défaut : 0.2."
        )
        parser.add_argument("--seed", type=int, default=42, help="Graine aléatoire (même graine = mêmes données).")
        parser.add_argument(
            "--reset", action="store_true", help="Supprime d'abord le jeu de données existant (uniquement lui)."
        )

    def handle(self, *args, scale, seed, reset, **options):
        try:
            result = seed_bench(scale=scale, seed=seed, reset=reset)
        except BusinessError as error:
            raise CommandError(str(error)) from error
        rate = result.rows / result.seconds if result.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Jeu de données créé (échelle {result.scale:g}, graine {result.seed}) : "
                f"{result.rows} lignes en {result.seconds:.1f} s ({rate:.0f} lignes/s)."
            )
        )
        for label, count in sorted(result.counts.items()):
            self.stdout.write(f"  {french_label(label)} : {count}")
        if not result.counts.get("bookings"):
            self.stdout.write(
                "  Réservations et factures : pas encore générées (voir seed_bookings dans portail/demo/bench.py)."
            )
