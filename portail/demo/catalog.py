"""The demo town's organisation and catalog: town, school year, schools, closures, deadline rules,
facilities and activities with their periods, groups, units and sessions.

`ensure_activity` is also used by seed_bench to add the benchmark's extra activities.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from portail.catalog.calendar import generate_sessions
from portail.catalog.models import (
    Activity,
    ActivityType,
    BookingDeadlineRule,
    DeadlineKind,
    Facility,
    Group,
    PaymentMode,
    Period,
    Unit,
    UnitKind,
)
from portail.households.models import SchoolLevel
from portail.organisations.models import Closure, School, SchoolYear, Town

from . import constants as C
from .upsert import Tally

PARIS = ZoneInfo("Europe/Paris")
YEAR_START = date(2026, 9, 1)
YEAR_END = date(2027, 7, 3)
WEDNESDAY = 2
SCHOOL_DAYS = {0, 1, 3, 4}  # the four-day week: no school on Wednesday
WEEKDAYS = {0, 1, 2, 3, 4}


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


YEAR_WINDOW = (paris(2026, 6, 1), paris(2027, 6, 30, 23, 59))

SCHOOLS = ["École élémentaire Jules Ferry", "École maternelle Les Lilas", "École primaire Marie Curie"]
CLOSURES = [
    ("Fermeture entre les fêtes", date(2026, 12, 28), date(2026, 12, 29)),
    ("Pont de l'Ascension", date(2027, 5, 7), date(2027, 5, 7)),
]

# Natural key: the name. weekday 0 = Monday.
FRIDAY_NOON = "Vendredi 12 h pour la semaine suivante"
TWO_WORKING_DAYS = "2 jours ouvrés avant à 10 h"
DAY_BEFORE = "La veille à 18 h"
DEADLINE_RULES = {
    FRIDAY_NOON: {"kind": DeadlineKind.PREVIOUS_WEEK_DAY, "days": 0, "weekday": 4, "at_time": time(12, 0)},
    TWO_WORKING_DAYS: {"kind": DeadlineKind.WORKING_DAYS_BEFORE, "days": 2, "weekday": None, "at_time": time(10, 0)},
    DAY_BEFORE: {"kind": DeadlineKind.DAYS_BEFORE, "days": 1, "weekday": None, "at_time": time(18, 0)},
}

# Zone A school holidays of 2026-2027 (weekdays, from vacances-scolaires-france) with their enrolment windows.
HOLIDAYS = [
    (
        "Vacances de la Toussaint 2026",
        date(2026, 10, 19),
        date(2026, 10, 30),
        paris(2026, 9, 7),
        paris(2026, 10, 9, 23, 59),
    ),
    ("Vacances de Noël 2026", date(2026, 12, 21), date(2027, 1, 1), paris(2026, 11, 2), paris(2026, 12, 11, 23, 59)),
    ("Vacances d'hiver 2027", date(2027, 2, 15), date(2027, 2, 26), paris(2027, 1, 4), paris(2027, 2, 5, 23, 59)),
    ("Vacances de printemps 2027", date(2027, 4, 12), date(2027, 4, 23), paris(2027, 3, 1), paris(2027, 4, 2, 23, 59)),
]
TRIMESTERS = [
    ("Trimestre 1", date(2026, 9, 1), date(2026, 12, 18), paris(2026, 6, 1), paris(2026, 9, 30, 23, 59)),
    ("Trimestre 2", date(2027, 1, 4), date(2027, 3, 31), paris(2026, 12, 1), paris(2027, 1, 15, 23, 59)),
    ("Trimestre 3", date(2027, 4, 1), date(2027, 6, 30), paris(2027, 3, 1), paris(2027, 4, 16, 23, 59)),
]
YEAR_PERIOD = [("Année 2026-2027", YEAR_START, YEAR_END, *YEAR_WINDOW)]

AGE_GROUPS = [
    {"name": "3-5 ans", "min_age": 3, "max_age": 5, "capacity": 24},
    {"name": "6-11 ans", "min_age": 6, "max_age": 11, "capacity": 36},
]
LEVEL_GROUPS = [
    {"name": "Maternelle", "min_school_level": SchoolLevel.PS, "max_school_level": SchoolLevel.GS, "capacity": 40},
    {"name": "Élémentaire", "min_school_level": SchoolLevel.CP, "max_school_level": SchoolLevel.CM2, "capacity": 80},
]

# Calendars of units: on which weekdays, and how school holidays count.
SCHOOL_TERM = {"weekdays": SCHOOL_DAYS, "skip_school_holidays": True}
WEDNESDAYS_IN_TERM = {"weekdays": {WEDNESDAY}, "skip_school_holidays": True}
HOLIDAY_WEEKDAYS = {"weekdays": WEEKDAYS, "only_school_holidays": True}


@dataclass
class UnitSpec:
    name: str
    kind: str
    start: time
    end: time
    price_cents: int
    calendar: dict
    deadline: str | None = None
    # Places per session (Unit.capacity); None leaves the unit's value alone (seed_bench sets its own).
    capacity: int | None = None


@dataclass
class ActivitySpec:
    slug: str
    name: str
    type_slug: str
    payment_mode: str
    periods: list  # (name, start, end, opens_at, closes_at)
    groups: list[dict]
    units: list[UnitSpec]
    description: str = ""
    price_info: str = ""
    position: int = 0
    # Enrolment policy (Activity.validation_mode, requires_pre_enrolment, waiting_list_priority…).
    enrolment: dict = field(default_factory=dict)
    # How long a ticked cell holds its place in the basket (Activity.basket_hold_minutes).
    basket_hold_minutes: int = 20
    # A waiting list on full sessions (Activity.session_waiting_list).
    session_waiting_list: bool = False
    # Price of one enrolment in each period, for activities paid at enrolment (Period.enrolment_price_cents).
    enrolment_price_cents: int | None = None


@dataclass
class Catalog:
    """What the loader built, for seed_bench and the summary."""

    town: Town
    school_year: SchoolYear
    schools: dict[str, School] = field(default_factory=dict)
    rules: dict[str, BookingDeadlineRule] = field(default_factory=dict)
    facilities: dict[str, Facility] = field(default_factory=dict)
    types: dict[str, ActivityType] = field(default_factory=dict)
    activities: dict[str, Activity] = field(default_factory=dict)


ACTIVITY_TYPES = [
    ("mercredis", "Mercredis"),
    ("vacances", "Vacances"),
    ("sport", "Sport"),
    ("periscolaire", "Périscolaire"),
    ("restauration", "Restauration"),
    ("sejours", "Séjours"),
]

FACILITIES = [
    {
        "slug": "centre-de-loisirs-les-pommiers",
        "name": "Centre de loisirs Les Pommiers",
        "description": "Accueil de loisirs des 3-11 ans le mercredi et pendant les vacances scolaires.",
        "address": "8 chemin des Vergers, 99999 Ville-Fleurie",
        "phone": "01 99 00 00 21",
        "email": "pommiers@ville-fleurie.fr",
    },
    {
        "slug": "ecole-municipale-des-sports",
        "name": "École municipale des sports",
        "description": "Initiation sportive le mercredi après-midi, par trimestre, encadrée par les éducateurs sportifs.",
        "address": "Gymnase Alain Mimoun, 3 avenue du Stade, 99999 Ville-Fleurie",
        "phone": "01 99 00 00 22",
        "email": "sports@ville-fleurie.fr",
    },
    {
        "slug": "accueil-periscolaire",
        "name": "Accueil périscolaire",
        "description": "Accueil le matin avant la classe, le midi et le soir après la classe, dans chaque école.",
        "phone": "01 99 00 00 23",
        "email": "periscolaire@ville-fleurie.fr",
    },
    {
        "slug": "restauration-scolaire",
        "name": "Restauration scolaire",
        "description": "Repas du midi les lundis, mardis, jeudis et vendredis de classe.",
        "phone": "01 99 00 00 24",
        "email": "restauration@ville-fleurie.fr",
    },
]

POMMIERS = "centre-de-loisirs-les-pommiers"
# Manual validation: the request shows "?" (en attente) until the service validates it.
MANUAL = {"validation_mode": Activity.ValidationMode.MANUAL}
# Automatic validation while places are free; a full group sends the request to the waiting list.
AUTOMATIC = {"validation_mode": Activity.ValidationMode.AUTO}
ACTIVITIES = [
    (
        POMMIERS,
        ActivitySpec(
            slug="pommiers-mercredis-2026-2027",
            enrolment=MANUAL,
            name="Pommiers mercredis 2026-2027",
            type_slug="mercredis",
            # Many towns bill Wednesdays monthly; the holiday centre below stays paid at booking.
            payment_mode=PaymentMode.INVOICED,
            basket_hold_minutes=30,
            session_waiting_list=True,
            periods=YEAR_PERIOD,
            groups=AGE_GROUPS,
            units=[
                UnitSpec("Matin", UnitKind.MORNING, time(8, 30), time(12, 0), 400, WEDNESDAYS_IN_TERM, FRIDAY_NOON, 24),
                UnitSpec(
                    "Après-midi",
                    UnitKind.AFTERNOON,
                    time(13, 30),
                    time(18, 0),
                    600,
                    WEDNESDAYS_IN_TERM,
                    FRIDAY_NOON,
                    24,
                ),
                UnitSpec("Journée", UnitKind.DAY, time(8, 30), time(18, 0), 1000, WEDNESDAYS_IN_TERM, FRIDAY_NOON, 40),
            ],
            description="Le mercredi en période scolaire, à la demi-journée ou à la journée. Repas compris à la journée.",
            price_info="Matin 4 €, après-midi 6 €, journée 10 € (tarifs de base avant quotient familial), "
            "facturés chaque mois selon les journées réservées.",
            position=1,
        ),
    ),
    (
        POMMIERS,
        ActivitySpec(
            slug="pommiers-vacances-2026-2027",
            enrolment=MANUAL,
            name="Pommiers vacances",
            type_slug="vacances",
            payment_mode=PaymentMode.PREPAID,
            session_waiting_list=True,
            periods=HOLIDAYS,
            groups=AGE_GROUPS,
            units=[
                UnitSpec("Journée", UnitKind.DAY, time(8, 30), time(18, 0), 1200, HOLIDAY_WEEKDAYS, FRIDAY_NOON, 60)
            ],
            description="Accueil à la journée pendant les vacances de la Toussaint, de Noël, d'hiver et de printemps.",
            price_info="12 € la journée, repas et goûter compris (tarif de base avant quotient familial).",
            position=2,
        ),
    ),
    (
        "ecole-municipale-des-sports",
        ActivitySpec(
            slug="ecole-municipale-des-sports-2026-2027",
            enrolment=AUTOMATIC,
            name="École municipale des sports",
            type_slug="sport",
            payment_mode=PaymentMode.AT_ENROLMENT,
            periods=TRIMESTERS,
            groups=[
                {"name": "7/11 ans Escalade", "min_age": 7, "max_age": 11, "capacity": 12},
                {"name": "7/11 ans Montagne", "min_age": 7, "max_age": 11, "capacity": 14},
                {"name": "7/11 ans Roller", "min_age": 7, "max_age": 11, "capacity": 16},
                {"name": "7/11 ans VTT", "min_age": 7, "max_age": 11, "capacity": 12},
                {"name": "8/11 ans Badminton", "min_age": 8, "max_age": 11, "capacity": 16},
            ],
            units=[UnitSpec("Séance", UnitKind.CLASS, time(14, 0), time(16, 0), 0, WEDNESDAYS_IN_TERM)],
            description="Une activité sportive par trimestre, le mercredi de 14 h à 16 h. Inscription par trimestre, "
            "en respectant la tranche d'âge de chaque groupe.",
            price_info="45 € le trimestre, payés à l'inscription.",
            enrolment_price_cents=4500,
        ),
    ),
    (
        "accueil-periscolaire",
        ActivitySpec(
            slug="accueil-periscolaire-2026-2027",
            enrolment=AUTOMATIC,
            name="Accueil périscolaire 2026-2027",
            type_slug="periscolaire",
            payment_mode=PaymentMode.INVOICED,
            periods=YEAR_PERIOD,
            groups=LEVEL_GROUPS,
            basket_hold_minutes=30,
            units=[
                UnitSpec("Matin", UnitKind.MORNING, time(7, 30), time(8, 30), 150, SCHOOL_TERM, DAY_BEFORE, 60),
                UnitSpec(
                    "Midi (accueil midi sans repas)",
                    UnitKind.LUNCH,
                    time(11, 30),
                    time(13, 30),
                    100,
                    SCHOOL_TERM,
                    DAY_BEFORE,
                    60,
                ),
                UnitSpec("Soir", UnitKind.EVENING, time(16, 30), time(18, 30), 250, SCHOOL_TERM, DAY_BEFORE, 60),
            ],
            description="Accueil les lundis, mardis, jeudis et vendredis de classe, dans l'école de l'enfant.",
            price_info="Facturé chaque mois selon les présences réservées.",
        ),
    ),
    (
        "restauration-scolaire",
        ActivitySpec(
            slug="restauration-scolaire-2026-2027",
            enrolment=AUTOMATIC,
            name="Restauration scolaire 2026-2027",
            type_slug="restauration",
            payment_mode=PaymentMode.INVOICED,
            periods=YEAR_PERIOD,
            groups=[{"name": name, "capacity": 120} for name in SCHOOLS],
            basket_hold_minutes=30,
            units=[
                UnitSpec("Repas", UnitKind.MEAL, time(11, 45), time(13, 30), 380, SCHOOL_TERM, TWO_WORKING_DAYS, 150)
            ],
            description="Repas du midi préparé par la cuisine centrale. Menus affichés dans chaque école.",
            price_info="3,80 € le repas (tarif de base avant quotient familial), facturé chaque mois.",
        ),
    ),
]


# Re-applied on every run, so a policy changed by hand in the demo comes back to these values.
ENROLMENT_DEFAULTS = {
    "validation_mode": Activity.ValidationMode.MANUAL,
    "requires_pre_enrolment": False,
    "capacity": None,
    "offer_delay_hours": 48,
    "waiting_list_priority": Activity.WaitingListPriority.ARRIVAL,
}


def ensure_town(tally: Tally) -> Town:
    return tally.upsert(
        Town,
        {"name": C.TOWN_NAME},
        {
            "address": "1 place de la Mairie",
            "postcode": "99999",
            "city": C.TOWN_NAME,
            "phone": "01 99 00 00 00",
            "email": C.TOWN_EMAIL,
            "school_holiday_zone": "A",
            "holiday_subdivision": "",
        },
    )


def ensure_activity(tally: Tally, catalog: Catalog, *, facility: Facility, spec: ActivitySpec) -> Activity:
    """The activity of `spec` with its periods, groups, units and sessions (sessions per period)."""
    activity = tally.upsert(
        Activity,
        {"slug": spec.slug},
        {
            "facility": facility,
            "activity_type": catalog.types[spec.type_slug],
            "school_year": catalog.school_year,
            "name": spec.name,
            "description": spec.description,
            "payment_mode": spec.payment_mode,
            "price_info": spec.price_info,
            "is_published": True,
            "position": spec.position,
            "basket_hold_minutes": spec.basket_hold_minutes,
            "session_waiting_list": spec.session_waiting_list,
            **ENROLMENT_DEFAULTS,
            **spec.enrolment,
        },
    )
    for name, start, end, opens_at, closes_at in spec.periods:
        tally.upsert(
            Period,
            {"activity": activity, "name": name},
            {
                "start_date": start,
                "end_date": end,
                "enrolment_opens_at": opens_at,
                "enrolment_closes_at": closes_at,
                "enrolment_price_cents": spec.enrolment_price_cents,
            },
        )
    for position, group in enumerate(spec.groups):
        values = {"min_age": None, "max_age": None, "min_school_level": "", "max_school_level": "", "capacity": None}
        values.update({k: v for k, v in group.items() if k != "name"}, position=position)
        tally.upsert(Group, {"activity": activity, "name": group["name"]}, values)
    for position, unit_spec in enumerate(spec.units):
        unit = tally.upsert(
            Unit,
            {"activity": activity, "name": unit_spec.name},
            {
                "kind": unit_spec.kind,
                "start_time": unit_spec.start,
                "end_time": unit_spec.end,
                "price_cents": unit_spec.price_cents,
                "deadline_rule": catalog.rules[unit_spec.deadline] if unit_spec.deadline else None,
                "position": position,
                **({"capacity": unit_spec.capacity} if unit_spec.capacity is not None else {}),
            },
        )
        for _name, start, end, _opens, _closes in spec.periods:
            created = generate_sessions(unit=unit, start=start, end=end, town=catalog.town, **unit_spec.calendar)
            tally.add_created("catalog.Session", created)
    catalog.activities[spec.slug] = activity
    return activity


def ensure_facility(tally: Tally, catalog: Catalog, values: dict, *, position: int = 0) -> Facility:
    values = dict(values)
    slug = values.pop("slug")
    values.setdefault("description", "")
    values.setdefault("address", "")
    values.setdefault("phone", "")
    values.setdefault("email", "")
    facility = tally.upsert(
        Facility, {"slug": slug}, {"town": catalog.town, "is_active": True, "position": position, **values}
    )
    catalog.facilities[slug] = facility
    return facility


def ensure_catalog(tally: Tally) -> Catalog:
    town = ensure_town(tally)
    year = tally.upsert(
        SchoolYear, {"town": town, "label": C.SCHOOL_YEAR_LABEL}, {"start_date": YEAR_START, "end_date": YEAR_END}
    )
    catalog = Catalog(town=town, school_year=year)
    for name in SCHOOLS:
        catalog.schools[name] = tally.upsert(School, {"town": town, "name": name})
    # Closures first: session generation skips them.
    for label, start, end in CLOSURES:
        tally.upsert(Closure, {"town": town, "label": label}, {"start_date": start, "end_date": end})
    for name, values in DEADLINE_RULES.items():
        values = {"skip_public_holidays": True, "skip_school_holidays": False, **values}
        catalog.rules[name] = tally.upsert(BookingDeadlineRule, {"name": name}, values)
    for position, (slug, name) in enumerate(ACTIVITY_TYPES):
        catalog.types[slug] = tally.upsert(ActivityType, {"slug": slug}, {"name": name, "position": position})
    for position, values in enumerate(FACILITIES):
        ensure_facility(tally, catalog, values, position=position)
    for facility_slug, spec in ACTIVITIES:
        ensure_activity(tally, catalog, facility=catalog.facilities[facility_slug], spec=spec)
    return catalog
