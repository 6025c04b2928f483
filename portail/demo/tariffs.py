"""The demo town's tariff grids (deliberation of June 2026), valid from 1 September 2026:

- four quotient brackets [0, 600), [600, 1000), [1000, 1400), [1400, ∞) priced per unit;
- non-resident +20 % (not on the canteen: price differences there must rest on social criteria);
- siblings −10 % for the 2nd child and −20 % from the 3rd on, the eldest first, at the Pommiers centre;
- périscolaire: +2 € for a late booking, 5 € more for a child present without a booking;
- canteen "à 1 €": 1,00 € below QF 600 (≤ 1 € only for QF ≤ 1 000), then 2,40 / 3,60 / 4,20 €;
- École municipale des sports: a flat fee of 45 € per trimester.

Idempotent like the other demo modules: every row is found by its natural key and only differing fields
are written; brackets added by hand to a demo grid are removed.
"""

from datetime import date
from decimal import Decimal

from portail.billing.models import SiblingOrder, TariffBracket, TariffGrid, TariffPrice
from portail.catalog.models import Activity, Unit

from .upsert import Tally

VALID_FROM = date(2026, 9, 1)
DELIBERATION = "Délibération du conseil municipal n° 2026-045 du 25 juin 2026"
BOUNDS = [(0, 600), (600, 1000), (1000, 1400), (1400, None)]
SIBLINGS = [0, 10, 20]

# slug -> grid values and {unit name: price in cents per bracket of BOUNDS}.
GRIDS = {
    "pommiers-mercredis-2026-2027": {
        "name": "Tarifs 2026-2027 – Pommiers mercredis",
        "rules": {"non_resident_surcharge_percent": Decimal(20), "sibling_discount_percents": SIBLINGS},
        "prices": {
            "Matin": [200, 300, 400, 500],
            "Après-midi": [300, 450, 600, 750],
            "Journée": [500, 750, 1000, 1250],
        },
    },
    "pommiers-vacances-2026-2027": {
        "name": "Tarifs 2026-2027 – Pommiers vacances",
        "rules": {"non_resident_surcharge_percent": Decimal(20), "sibling_discount_percents": SIBLINGS},
        "prices": {"Journée": [600, 900, 1200, 1500]},
    },
    "accueil-periscolaire-2026-2027": {
        "name": "Tarifs 2026-2027 – Accueil périscolaire",
        "rules": {
            "non_resident_surcharge_percent": Decimal(20),
            "late_booking_surcharge_cents": 200,
            "unexpected_presence_cents": 500,
        },
        "prices": {
            "Matin": [80, 120, 150, 190],
            "Midi (accueil midi sans repas)": [50, 80, 100, 120],
            "Soir": [130, 200, 250, 310],
        },
    },
    "restauration-scolaire-2026-2027": {
        "name": "Tarifs 2026-2027 – Restauration scolaire",
        "rules": {},
        "prices": {"Repas": [100, 240, 360, 420]},
    },
    "ecole-municipale-des-sports-2026-2027": {
        "name": "Tarifs 2026-2027 – École municipale des sports",
        "rules": {"flat_fee_cents": 4500},
        "bounds": [(0, None)],
        "prices": {},
    },
}

# Every rule is written on each run, so a value changed by hand in the demo comes back.
DEFAULT_RULES = {
    "valid_until": None,
    "deliberation": DELIBERATION,
    "non_resident_surcharge_percent": Decimal(0),
    "sibling_discount_percents": [],
    "sibling_order": SiblingOrder.OLDEST_FIRST,
    "late_booking_surcharge_cents": 0,
    "unexpected_presence_cents": 0,
    "billed_absence_percent": 100,
    "flat_fee_cents": None,
}


def ensure_tariffs(tally: Tally) -> dict[str, TariffGrid]:
    """The demo grids, per activity slug. Activities missing from the catalog are skipped."""
    activities = {a.slug: a for a in Activity.objects.filter(slug__in=list(GRIDS))}
    grids = {}
    for slug, spec in GRIDS.items():
        activity = activities.get(slug)
        if activity is None:
            continue
        grid = tally.upsert(
            TariffGrid,
            {"activity": activity, "valid_from": VALID_FROM},
            {"name": spec["name"], **DEFAULT_RULES, **spec["rules"]},
        )
        bounds = spec.get("bounds", BOUNDS)
        stale = TariffBracket.objects.filter(grid=grid).exclude(min_quotient__in=[low for low, _high in bounds])
        removed, _ = stale.delete()
        if removed:
            tally.updated[TariffGrid._meta.label] += 1
        units = {u.name: u for u in Unit.objects.filter(activity=activity, name__in=list(spec["prices"]))}
        removed, _ = TariffPrice.objects.filter(bracket__grid=grid).exclude(unit__in=list(units.values())).delete()
        if removed:
            tally.updated[TariffGrid._meta.label] += 1
        for index, (low, high) in enumerate(bounds):
            bracket = tally.upsert(TariffBracket, {"grid": grid, "min_quotient": low}, {"max_quotient": high})
            for unit_name, prices in spec["prices"].items():
                if unit_name in units:
                    tally.upsert(
                        TariffPrice, {"bracket": bracket, "unit": units[unit_name]}, {"price_cents": prices[index]}
                    )
        grids[slug] = grid
    return grids
