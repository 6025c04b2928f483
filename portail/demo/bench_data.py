"""Word lists and the extra catalog of the benchmark dataset (seed_bench). All fictional."""

from datetime import date, time

from django.utils.text import slugify

from portail.catalog.models import PaymentMode, UnitKind
from portail.households.models import SchoolLevel

from .catalog import (
    AGE_GROUPS,
    DAY_BEFORE,
    FRIDAY_NOON,
    HOLIDAY_WEEKDAYS,
    HOLIDAYS,
    LEVEL_GROUPS,
    SCHOOL_DAYS,
    SCHOOL_TERM,
    TWO_WORKING_DAYS,
    WEDNESDAYS_IN_TERM,
    YEAR_PERIOD,
    ActivitySpec,
    UnitSpec,
    paris,
)
from .constants import BENCH_SLUG_PREFIX as P

FEMALE_NAMES = [
    "Emma",
    "Jade",
    "Louise",
    "Alice",
    "Chloé",
    "Lina",
    "Rose",
    "Léa",
    "Anna",
    "Mila",
    "Inès",
    "Ambre",
    "Julia",
    "Mia",
    "Léna",
    "Manon",
    "Juliette",
    "Lou",
    "Zoé",
    "Camille",
    "Agathe",
    "Sarah",
    "Lucie",
    "Nina",
    "Romane",
    "Eva",
    "Iris",
    "Margaux",
    "Charlotte",
    "Victoire",
    "Adèle",
    "Clémence",
    "Nour",
    "Yasmine",
    "Sofia",
    "Maëlys",
    "Claire",
    "Sophie",
    "Nathalie",
    "Isabelle",
    "Aurélie",
    "Émilie",
    "Céline",
    "Julie",
    "Sandrine",
    "Fatima",
]
MALE_NAMES = [
    "Gabriel",
    "Léo",
    "Raphaël",
    "Arthur",
    "Louis",
    "Jules",
    "Adam",
    "Maël",
    "Lucas",
    "Hugo",
    "Noah",
    "Liam",
    "Gabin",
    "Sacha",
    "Paul",
    "Nathan",
    "Aaron",
    "Mohamed",
    "Ethan",
    "Tom",
    "Éden",
    "Léon",
    "Noé",
    "Tiago",
    "Théo",
    "Isaac",
    "Marius",
    "Victor",
    "Martin",
    "Nolan",
    "Timéo",
    "Axel",
    "Yanis",
    "Ayden",
    "Naël",
    "Enzo",
    "Thomas",
    "Nicolas",
    "Julien",
    "Sébastien",
    "Mathieu",
    "Karim",
    "Olivier",
    "Stéphane",
    "David",
    "Antoine",
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefèvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martinez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Olivier",
    "Philippe",
    "Bourgeois",
    "Pierre",
    "Benoît",
    "Rey",
    "Leclerc",
    "Payet",
    "Rolland",
    "Leclercq",
    "Guillaume",
    "Lecomte",
    "Haddad",
    "Benali",
    "Nguyen",
    "Diallo",
    "Traoré",
]
STREETS = [
    "rue des Glycines",
    "allée des Coquelicots",
    "avenue des Tilleuls",
    "chemin des Vergers",
    "rue de la Mairie",
    "place du Marché",
    "rue Jean Jaurès",
    "boulevard Victor Hugo",
    "impasse des Lilas",
    "rue des Écoles",
    "route de la Vallée",
    "rue du Moulin",
    "allée des Peupliers",
    "rue Pasteur",
    "rue de la Fontaine",
    "rue des Jardins",
    "chemin du Lavoir",
    "rue des Acacias",
    "avenue de la Gare",
    "rue du Stade",
]
ALLERGIES = [
    "Arachide",
    "Fruits à coque",
    "Lait de vache",
    "Œuf",
    "Gluten",
    "Poisson",
    "Crustacés",
    "Kiwi",
    "Pollen de graminées",
    "Acariens",
    "Pénicilline",
    "Piqûres de guêpe",
]
DOCTORS = ["Dr Anne Lefèvre", "Dr Marc Petit", "Dr Sylvie Garnier", "Dr Ahmed Benali", "Dr Hélène Caron", "Dr Paul Roy"]
RELATIONSHIPS = ["grand-mère", "grand-père", "oncle", "tante", "voisine", "voisin", "nourrice", "parrain", "marraine"]

MATERNELLE, ELEMENTAIRE, PRIMAIRE = "maternelle", "élémentaire", "primaire"
# Kind of each school, demo schools included (12 in all).
SCHOOLS = {
    "École élémentaire Jules Ferry": ELEMENTAIRE,
    "École maternelle Les Lilas": MATERNELLE,
    "École primaire Marie Curie": PRIMAIRE,
    "École maternelle Les Coquelicots": MATERNELLE,
    "École maternelle Le Petit Prince": MATERNELLE,
    "École maternelle Les Tournesols": MATERNELLE,
    "École élémentaire Jean Jaurès": ELEMENTAIRE,
    "École élémentaire Louis Pasteur": ELEMENTAIRE,
    "École élémentaire Victor Hugo": ELEMENTAIRE,
    "École primaire Jean Moulin": PRIMAIRE,
    "École primaire Simone Veil": PRIMAIRE,
    "École primaire Jacques Prévert": PRIMAIRE,
}
BENCH_SCHOOLS = list(SCHOOLS)[3:]
# School year 2026-2027: the class of a child from its birth year.
LEVEL_BY_BIRTH_YEAR = {
    2023: SchoolLevel.PS,
    2022: SchoolLevel.MS,
    2021: SchoolLevel.GS,
    2020: SchoolLevel.CP,
    2019: SchoolLevel.CE1,
    2018: SchoolLevel.CE2,
    2017: SchoolLevel.CM1,
    2016: SchoolLevel.CM2,
}
MATERNELLE_LEVELS = {SchoolLevel.PS, SchoolLevel.MS, SchoolLevel.GS}


def schools_for(level: str) -> list[str]:
    wanted = {MATERNELLE, PRIMAIRE} if level in MATERNELLE_LEVELS else {ELEMENTAIRE, PRIMAIRE}
    return [name for name, kind in SCHOOLS.items() if kind in wanted]


def _slug(name: str) -> str:
    """ "louis-pasteur" for "École élémentaire Louis Pasteur": slugs are limited to 50 characters."""
    slug = slugify(name)
    for kind in ("ecole-maternelle-", "ecole-elementaire-", "ecole-primaire-"):
        slug = slug.removeprefix(kind)
    return slug


# Public name for seed_bench, which finds the bench activities by their slugs.
slug_of = _slug


CENTRES = ["Les Tilleuls", "Les Cerisiers", "Les Érables"]
SEJOURS = [
    ("Mini-camp nature Toussaint 2026", date(2026, 10, 26), date(2026, 10, 30), paris(2026, 9, 7), paris(2026, 10, 2)),
    ("Séjour ski hiver 2027", date(2027, 2, 15), date(2027, 2, 19), paris(2026, 11, 16), paris(2027, 1, 15)),
    ("Séjour poney printemps 2027", date(2027, 4, 12), date(2027, 4, 16), paris(2027, 1, 18), paris(2027, 3, 12)),
    ("Séjour mer été 2027", date(2027, 7, 5), date(2027, 7, 9), paris(2027, 3, 1), paris(2027, 5, 28)),
]


def bench_facilities() -> list[dict]:
    facilities = [
        {
            "slug": f"{P}centre-de-loisirs-{_slug(name)}",
            "name": f"Centre de loisirs {name}",
            "description": "Accueil de loisirs des 3-11 ans (jeu de données de test de charge).",
        }
        for name in CENTRES
    ]
    facilities.append(
        {"slug": f"{P}sejours", "name": "Séjours", "description": "Séjours de 5 jours pendant les vacances."}
    )
    return facilities


def bench_activities() -> list[tuple[str, ActivitySpec]]:
    """(facility slug, spec) of the 35 activities seed_bench adds to the demo's 5 (40 in all)."""
    specs: list[tuple[str, ActivitySpec]] = []
    for index, name in enumerate(CENTRES):
        facility = f"{P}centre-de-loisirs-{_slug(name)}"
        groups = [{**group, "capacity": group["capacity"] * (index + 2)} for group in AGE_GROUPS]
        specs.append(
            (
                facility,
                ActivitySpec(
                    slug=f"{P}mercredis-{_slug(name)}",
                    name=f"{name} mercredis 2026-2027",
                    type_slug="mercredis",
                    payment_mode=PaymentMode.PREPAID,
                    periods=YEAR_PERIOD,
                    groups=groups,
                    units=[
                        UnitSpec(
                            "Matin", UnitKind.MORNING, time(8, 30), time(12, 0), 400, WEDNESDAYS_IN_TERM, FRIDAY_NOON
                        ),
                        UnitSpec(
                            "Après-midi",
                            UnitKind.AFTERNOON,
                            time(13, 30),
                            time(18, 0),
                            600,
                            WEDNESDAYS_IN_TERM,
                            FRIDAY_NOON,
                        ),
                        UnitSpec(
                            "Journée", UnitKind.DAY, time(8, 30), time(18, 0), 1000, WEDNESDAYS_IN_TERM, FRIDAY_NOON
                        ),
                    ],
                ),
            )
        )
        specs.append(
            (
                facility,
                ActivitySpec(
                    slug=f"{P}vacances-{_slug(name)}",
                    name=f"{name} vacances",
                    type_slug="vacances",
                    payment_mode=PaymentMode.PREPAID,
                    periods=HOLIDAYS,
                    groups=groups,
                    units=[
                        UnitSpec("Journée", UnitKind.DAY, time(8, 30), time(18, 0), 1200, HOLIDAY_WEEKDAYS, FRIDAY_NOON)
                    ],
                ),
            )
        )
    for name, start, end, opens_at, closes_at in SEJOURS:
        specs.append(
            (
                f"{P}sejours",
                ActivitySpec(
                    slug=f"{P}{_slug(name)}",
                    name=name,
                    type_slug="sejours",
                    payment_mode=PaymentMode.AT_ENROLMENT,
                    periods=[(name, start, end, opens_at, closes_at)],
                    groups=[{"name": "8-11 ans", "min_age": 8, "max_age": 11, "capacity": 20}],
                    units=[UnitSpec("Séjour", UnitKind.DAY, time(9, 0), time(17, 0), 0, {"weekdays": {0, 1, 2, 3, 4}})],
                    price_info="Forfait payé à l'inscription.",
                ),
            )
        )
    specs.append(
        (
            "ecole-municipale-des-sports",
            ActivitySpec(
                slug=f"{P}stages-multisports-vacances",
                name="Stages multisports vacances",
                type_slug="sport",
                payment_mode=PaymentMode.PREPAID,
                periods=HOLIDAYS,
                groups=[{"name": "7/11 ans Multisports", "min_age": 7, "max_age": 11, "capacity": 24}],
                units=[UnitSpec("Journée", UnitKind.DAY, time(9, 0), time(17, 0), 1500, HOLIDAY_WEEKDAYS, FRIDAY_NOON)],
            ),
        )
    )
    for index, school in enumerate(BENCH_SCHOOLS):
        kind = SCHOOLS[school]
        specs.append(
            (
                "restauration-scolaire",
                ActivitySpec(
                    slug=f"{P}restauration-{_slug(school)}",
                    name=f"Restauration scolaire – {school}",
                    type_slug="restauration",
                    payment_mode=PaymentMode.INVOICED,
                    periods=YEAR_PERIOD,
                    groups=[{"name": "Tous les élèves", "capacity": 80 + 15 * index}],
                    units=[
                        UnitSpec("Repas", UnitKind.MEAL, time(11, 45), time(13, 30), 380, SCHOOL_TERM, TWO_WORKING_DAYS)
                    ],
                ),
            )
        )
        maternelle, elementaire = LEVEL_GROUPS
        groups = {MATERNELLE: [maternelle], ELEMENTAIRE: [elementaire], PRIMAIRE: LEVEL_GROUPS}[kind]
        specs.append(
            (
                "accueil-periscolaire",
                ActivitySpec(
                    slug=f"{P}periscolaire-{_slug(school)}",
                    name=f"Accueil périscolaire – {school}",
                    type_slug="periscolaire",
                    payment_mode=PaymentMode.INVOICED,
                    periods=YEAR_PERIOD,
                    groups=groups,
                    units=[
                        UnitSpec("Matin", UnitKind.MORNING, time(7, 30), time(8, 30), 150, SCHOOL_TERM, DAY_BEFORE),
                        UnitSpec("Soir", UnitKind.EVENING, time(16, 30), time(18, 30), 250, SCHOOL_TERM, DAY_BEFORE),
                    ],
                ),
            )
        )
        if kind != MATERNELLE:
            specs.append(
                (
                    "accueil-periscolaire",
                    ActivitySpec(
                        slug=f"{P}etude-{_slug(school)}",
                        name=f"Étude surveillée – {school}",
                        type_slug="periscolaire",
                        payment_mode=PaymentMode.INVOICED,
                        periods=YEAR_PERIOD,
                        groups=[
                            {
                                "name": "Du CP au CM2",
                                "min_school_level": SchoolLevel.CP,
                                "max_school_level": SchoolLevel.CM2,
                                "capacity": 30,
                            }
                        ],
                        units=[
                            UnitSpec(
                                "Étude",
                                UnitKind.EVENING,
                                time(16, 30),
                                time(17, 30),
                                200,
                                {"weekdays": SCHOOL_DAYS, "skip_school_holidays": True},
                                DAY_BEFORE,
                            )
                        ],
                    ),
                )
            )
    return specs
