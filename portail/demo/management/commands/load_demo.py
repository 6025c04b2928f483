from django.core.management.base import BaseCommand

from portail.demo import constants as C
from portail.demo.loader import load_demo
from portail.demo.upsert import describe_counts


class Command(BaseCommand):
    help = "Charge la commune de démonstration Ville-Fleurie (idempotent : peut être relancée sans doublon)."

    def handle(self, *args, **options):
        result = load_demo()
        tally = result.tally
        out = self.stdout
        out.write(self.style.SUCCESS(f"Commune de démonstration « {result.catalog.town.name} » prête."))
        if tally.changed:
            out.write(f"  Créations : {describe_counts(tally.created)}")
            out.write(f"  Mises à jour : {describe_counts(tally.updated)}")
        else:
            out.write("  Rien à faire : les données de démonstration étaient déjà à jour.")
        out.write("")
        out.write("Comptes de démonstration")
        rows = [("E-mail", "Mot de passe", "Rôle")]
        rows += [(C.MARTIN_EMAIL, C.FAMILY_PASSWORD, "Famille Martin (payeur)")]
        rows += [(C.BERNARD_EMAIL, C.FAMILY_PASSWORD, "Famille Bernard (payeur)")]
        rows += [(email, C.STAFF_PASSWORD, role) for email, role in C.STAFF_ACCOUNTS]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for index, row in enumerate(rows):
            out.write("  " + " | ".join(value.ljust(widths[i]) for i, value in enumerate(row)))
            if index == 0:
                out.write("  " + "-+-".join("-" * width for width in widths))
        out.write("")
        out.write(
            f"Connexion avec les codes de Léa Martin : code enfant {C.DEMO_CHILD_CODE}, code payeur {C.DEMO_PAYER_CODE}"
        )
