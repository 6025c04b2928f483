"""The pure tariff engine (billing.pricing): table tests, no database."""

import ast
import inspect
from datetime import date
from decimal import Decimal

import pytest

from portail.billing.pricing import (
    BILLED_ABSENCE,
    BOOKING,
    EXCUSED_ABSENCE,
    FLAT_FEE,
    OLDEST_FIRST,
    UNEXPECTED_PRESENCE,
    YOUNGEST_FIRST,
    Bracket,
    Grid,
    PricingError,
    QuoteContext,
    canteen_warnings,
    engine,
    format_euros,
    grid_on,
    is_resident,
    parse_euros,
    parse_percent,
    quote,
    sibling_ranks,
    validate_brackets,
    validate_grid,
)

DAY = date(2026, 10, 7)
MORNING, EVENING, MEAL = 1, 2, 3

GRID = Grid(
    name="Mercredis 2026-2027",
    valid_from=date(2026, 9, 1),
    valid_until=date(2027, 8, 31),
    brackets=(
        Bracket(0, 600, {MORNING: 400, EVENING: 445}),
        Bracket(600, 1000, {MORNING: 500, EVENING: 600}),
        Bracket(1000, 1400, {MORNING: 600, EVENING: 700}),
        Bracket(1400, None, {MORNING: 700, EVENING: 800}),
    ),
    non_resident_surcharge_percent=Decimal("20"),
    sibling_discount_percents=(Decimal(0), Decimal(10), Decimal(20)),
    sibling_order=OLDEST_FIRST,
    late_booking_surcharge_cents=200,
    unexpected_presence_cents=500,
    billed_absence_percent=100,
    flat_fee_cents=4500,
)


def ctx(**overrides) -> QuoteContext:
    values = {
        "quotient": 450,
        "quotient_valid_until": date(2026, 12, 31),
        "resident": True,
        "sibling_rank": 1,
        "child_age": 8,
        "unit_id": MORNING,
        "service_date": DAY,
        "kind": BOOKING,
        "late": False,
    }
    values.update(overrides)
    return QuoteContext(**values)


def test_engine_imports_nothing_from_django():
    tree = ast.parse(inspect.getsource(engine))
    modules = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names] + [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ]
    assert not [m for m in modules if m.startswith(("django", "portail"))]


@pytest.mark.parametrize(
    ("quotient", "expected_cents", "bracket_line"),
    [
        (0, 400, "Tranche QF 0 – 600 : 4,00 €"),
        (599, 400, "Tranche QF 0 – 600 : 4,00 €"),
        (600, 500, "Tranche QF 600 – 1000 : 5,00 €"),  # max of bracket 1 falls in bracket 2
        (999, 500, "Tranche QF 600 – 1000 : 5,00 €"),
        (1000, 600, "Tranche QF 1000 – 1400 : 6,00 €"),
        (1399, 600, "Tranche QF 1000 – 1400 : 6,00 €"),
        (1400, 700, "Tranche QF 1400 et plus : 7,00 €"),
        (25000, 700, "Tranche QF 1400 et plus : 7,00 €"),
    ],
)
def test_bracket_boundaries(quotient, expected_cents, bracket_line):
    result = quote(ctx(quotient=quotient), GRID)
    assert result.amount_cents == expected_cents
    assert result.unit_price_cents == expected_cents
    assert result.trail == (bracket_line,)


@pytest.mark.parametrize(
    ("quotient", "valid_until", "expected_cents"),
    [
        (None, None, 700),  # missing
        (450, date(2026, 10, 6), 700),  # expired the day before
        (450, DAY, 400),  # still valid on its last day
        (450, None, 400),  # no end of validity given
    ],
)
def test_missing_or_expired_quotient_takes_the_highest_bracket(quotient, valid_until, expected_cents):
    result = quote(ctx(quotient=quotient, quotient_valid_until=valid_until), GRID)
    assert result.amount_cents == expected_cents
    assert ("QF absent ou expiré : tranche la plus haute" in result.trail) is (expected_cents == 700)


@pytest.mark.parametrize(
    ("resident", "rank", "expected_cents", "trail"),
    [
        (True, 1, 400, ("Tranche QF 0 – 600 : 4,00 €",)),
        (False, 1, 480, ("Tranche QF 0 – 600 : 4,00 €", "Hors commune : +20 %")),
        (True, 2, 360, ("Tranche QF 0 – 600 : 4,00 €", "Frère/sœur (2e enfant) : −10 %")),
        (True, 3, 320, ("Tranche QF 0 – 600 : 4,00 €", "Frère/sœur (3e enfant) : −20 %")),
        (True, 5, 320, ("Tranche QF 0 – 600 : 4,00 €", "Frère/sœur (5e enfant) : −20 %")),  # last percent
        # Surcharge first, then discount: 4,00 × 1,2 × 0,9 = 4,32.
        (False, 2, 432, ("Tranche QF 0 – 600 : 4,00 €", "Hors commune : +20 %", "Frère/sœur (2e enfant) : −10 %")),
    ],
)
def test_non_resident_and_siblings(resident, rank, expected_cents, trail):
    result = quote(ctx(resident=resident, sibling_rank=rank), GRID)
    assert (result.amount_cents, result.trail) == (expected_cents, trail)


@pytest.mark.parametrize(
    ("kind", "late", "absence_percent", "expected_cents", "last_line"),
    [
        (BOOKING, True, 100, 600, "Réservation hors délai : +2,00 €"),
        (BILLED_ABSENCE, False, 100, 400, "Absence facturée : 100 % du prix"),
        (BILLED_ABSENCE, False, 50, 200, "Absence facturée : 50 % du prix"),
        (BILLED_ABSENCE, True, 50, 400, "Réservation hors délai : +2,00 €"),  # 2,00 + 2,00
        (EXCUSED_ABSENCE, True, 100, 0, "Absence excusée : non facturée"),
        (UNEXPECTED_PRESENCE, False, 100, 900, "Présence non réservée : +5,00 €"),
        (UNEXPECTED_PRESENCE, True, 100, 900, "Présence non réservée : +5,00 €"),  # no double penalty
        (FLAT_FEE, True, 100, 4500, "Forfait par période : 45,00 €"),
    ],
)
def test_kinds_late_booking_absences_presence_and_flat_fee(kind, late, absence_percent, expected_cents, last_line):
    grid = Grid(**{**GRID.__dict__, "billed_absence_percent": absence_percent})
    result = quote(ctx(kind=kind, late=late), grid)
    assert result.amount_cents == expected_cents
    assert result.trail[-1] == last_line


def test_surcharge_is_reported_apart_and_added_after_the_percent_rules():
    result = quote(ctx(resident=False, sibling_rank=2, late=True), GRID)
    assert result.amount_cents == 432 + 200
    assert result.surcharge_cents == 200
    assert result.unit_price_cents == 400
    assert result.trail == (
        "Tranche QF 0 – 600 : 4,00 €",
        "Hors commune : +20 %",
        "Frère/sœur (2e enfant) : −10 %",
        "Réservation hors délai : +2,00 €",
    )


@pytest.mark.parametrize(
    ("price", "rank", "resident", "expected_cents"),
    [
        (445, 2, True, 401),  # 4,45 × 0,9 = 4,005 → 4,01 (half-up, not banker's 4,00)
        (435, 2, True, 392),  # 3,915 → 3,92
        (425, 2, True, 383),  # 3,825 → 3,83
        (333, 1, False, 400),  # 3,996 → 4,00
        (101, 2, True, 91),  # 0,909 → 0,91
        (105, 2, True, 95),  # 0,945 → 0,95
    ],
)
def test_each_line_is_rounded_once_half_up(price, rank, resident, expected_cents):
    grid = Grid(**{**GRID.__dict__, "brackets": (Bracket(0, None, {MORNING: price}),)})
    result = quote(ctx(sibling_rank=rank, resident=resident), grid)
    assert result.amount_cents == expected_cents


def test_rounding_is_shown_in_the_trail():
    grid = Grid(**{**GRID.__dict__, "brackets": (Bracket(0, None, {MORNING: 445}),)})
    assert quote(ctx(sibling_rank=2), grid).trail[-1] == "Arrondi au centime : 4,005 € → 4,01 €"


def test_rounding_happens_once_not_per_rule():
    # 1,00 € × 1,125 = 1,125 (1,13 if rounded here) × 0,9 = 1,0125 → 1,01 once; rounding per rule gives 1,02.
    grid = Grid(
        **{
            **GRID.__dict__,
            "brackets": (Bracket(0, None, {MORNING: 100}),),
            "non_resident_surcharge_percent": Decimal("12.5"),
        }
    )
    result = quote(ctx(resident=False, sibling_rank=2), grid)
    assert result.amount_cents == 101
    assert "Hors commune : +12,5 %" in result.trail
    assert result.trail[-1] == "Arrondi au centime : 1,0125 € → 1,01 €"


@pytest.mark.parametrize(
    ("service_date", "message"),
    [
        (date(2026, 8, 31), "n'est pas valable le 31/08/2026"),
        (date(2027, 9, 1), "n'est pas valable le 01/09/2027"),
    ],
)
def test_grid_not_valid_on_the_date_is_refused(service_date, message):
    with pytest.raises(PricingError) as error:
        quote(ctx(service_date=service_date), GRID)
    assert message in error.value.message
    assert "du 01/09/2026 au 31/08/2027" in error.value.message


def test_grid_validity_bounds_are_inclusive():
    assert quote(ctx(service_date=date(2026, 9, 1)), GRID).amount_cents == 400
    assert quote(ctx(service_date=date(2027, 8, 31), quotient_valid_until=None), GRID).amount_cents == 400


def test_no_price_for_the_unit_or_no_flat_fee_is_refused():
    with pytest.raises(PricingError, match="pas de prix pour cette unité dans la tranche QF 0 – 600"):
        quote(ctx(unit_id=99), GRID)
    with pytest.raises(PricingError, match="pas de forfait"):
        quote(ctx(kind=FLAT_FEE), Grid(**{**GRID.__dict__, "flat_fee_cents": None}))


def test_programming_errors_are_not_pricing_errors():
    with pytest.raises(ValueError):
        quote(ctx(kind="gift"), GRID)
    with pytest.raises(ValueError):
        quote(ctx(sibling_rank=0), GRID)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (OLDEST_FIRST, {10: 1, 11: 2, 12: 3, 13: 4}),
        (YOUNGEST_FIRST, {13: 1, 11: 2, 12: 3, 10: 4}),
    ],
)
def test_sibling_ranks_by_both_orders_with_twins_by_id(order, expected):
    births = {12: date(2018, 3, 3), 10: date(2015, 1, 1), 13: date(2020, 6, 6), 11: date(2018, 3, 3)}
    assert sibling_ranks(births, order) == expected
    # The input order never changes the result.
    assert sibling_ranks(dict(reversed(list(births.items()))), order) == expected


def test_sibling_rank_feeds_the_discount_by_the_grid_order():
    births = {1: date(2015, 1, 1), 2: date(2019, 1, 1)}
    youngest_pays_full = sibling_ranks(births, YOUNGEST_FIRST)
    assert quote(ctx(sibling_rank=youngest_pays_full[2]), GRID).amount_cents == 400
    assert quote(ctx(sibling_rank=youngest_pays_full[1]), GRID).amount_cents == 360


@pytest.mark.parametrize(
    ("brackets", "errors"),
    [
        ([(0, 600), (600, 1000), (1000, None)], []),
        ([(0, None)], []),
        ([(1000, None), (0, 1000)], []),  # order of input does not matter
        ([], ["Ajoutez au moins une tranche de quotient familial."]),
        ([(100, 600), (600, None)], ["La première tranche doit commencer à 0 (elle commence à 100)."]),
        ([(0, 600), (700, None)], ["Trou entre les tranches : aucun tarif pour les QF de 600 à 699."]),
        ([(0, 700), (600, None)], ["Les tranches QF 0 – 700 et QF 600 et plus se chevauchent."]),
        (
            [(0, 600), (600, None), (1000, None)],
            [
                "Une seule tranche peut être sans borne haute (il y en a 2).",
                "Les tranches QF 600 et plus et QF 1000 et plus se chevauchent.",
            ],
        ),
        (
            [(0, 600), (600, 1000)],
            ["La dernière tranche doit être sans borne haute (QF 1000 et plus n'a pas de prix)."],
        ),
        (
            [(0, 600), (600, 500), (500, None)],
            [
                "Tranche QF 600 – 500 : la borne haute doit être supérieure à la borne basse.",
                "Les tranches QF 0 – 600 et QF 500 et plus se chevauchent.",
            ],
        ),
    ],
)
def test_validate_brackets(brackets, errors):
    assert validate_brackets([Bracket(lo, hi) for lo, hi in brackets]) == errors


def test_every_quotient_hits_exactly_one_bracket_of_a_valid_grid():
    grids = [
        GRID,
        Grid(brackets=(Bracket(0, None, {MORNING: 1}),), valid_from=DAY),
        Grid(
            brackets=(Bracket(0, 1, {}), Bracket(1, 2, {}), Bracket(2, 2999, {}), Bracket(2999, None, {})),
            valid_from=DAY,
        ),
    ]
    for grid in grids:
        assert validate_brackets(grid.brackets) == []
        for quotient in range(0, 3001):
            hits = [b for b in grid.brackets if b.contains(quotient)]
            assert len(hits) == 1, (grid.name, quotient)
            assert grid.bracket_for(quotient) is hits[0]


def test_prices_are_non_decreasing_in_quotient_for_the_demo_like_grid():
    for unit in (MORNING, EVENING):
        prices = [quote(ctx(quotient=q, unit_id=unit), GRID).amount_cents for q in range(0, 3001, 7)]
        assert prices == sorted(prices)


def test_validate_grid_prices_percents_and_units():
    names = {MORNING: "Matin", EVENING: "Soir"}
    assert validate_grid(GRID, unit_names=names) == []
    bad = Grid(
        brackets=(Bracket(0, 600, {MORNING: -1, EVENING: 100}), Bracket(600, None, {MORNING: 100, 42: 5})),
        valid_from=DAY,
        valid_until=date(2026, 1, 1),
        non_resident_surcharge_percent=Decimal("-1"),
        sibling_discount_percents=(Decimal(0), Decimal(120)),
        billed_absence_percent=150,
        late_booking_surcharge_cents=-5,
    )
    assert validate_grid(bad, unit_names=names) == [
        "La date de fin doit être postérieure ou égale à la date de début.",
        "« unité 42 » n'est pas une unité de cette activité.",
        "Prix manquant pour « unité 42 » dans la tranche QF 0 – 600.",
        "Prix négatif pour « Matin » dans la tranche QF 0 – 600.",
        "Prix manquant pour « Soir » dans la tranche QF 600 et plus.",
        "La majoration hors commune doit être comprise entre 0 et 999,99 %.",
        "Une réduction fratrie doit être comprise entre 0 et 100 %.",
        "L'absence facturée doit être comprise entre 0 et 100 % du prix.",
        "La majoration hors délai ne peut pas être négative.",
    ]


@pytest.mark.parametrize(
    ("prices", "surcharge", "expected"),
    [
        ([100, 240, 360, 420], 0, []),
        ([300, 380, 420, 450], 0, []),  # no ≤ 1 € price: not a "cantine à 1 €" grid, nothing to say
        (
            [100, 100, 100, 420],
            0,
            ["Cantine à 1 € : le tarif de 1,00 € de la tranche QF 1000 – 1400 est réservé aux QF jusqu'à 1 000."],
        ),
        (
            [100, 240, 360, 420],
            20,
            [
                "Restauration scolaire : une majoration hors commune est juridiquement risquée "
                "(les écarts de prix doivent reposer sur des critères sociaux)."
            ],
        ),
    ],
)
def test_canteen_warnings(prices, surcharge, expected):
    bounds = [(0, 600), (600, 1000), (1000, 1400), (1400, None)]
    grid = Grid(
        brackets=tuple(Bracket(lo, hi, {MEAL: p}) for (lo, hi), p in zip(bounds, prices, strict=True)),
        valid_from=DAY,
        non_resident_surcharge_percent=Decimal(surcharge),
    )
    assert canteen_warnings(grid, meal_unit_ids=[MEAL]) == expected


def test_canteen_warnings_few_brackets_and_no_price_above_one_euro():
    grid = Grid(brackets=(Bracket(0, 1000, {MEAL: 80}), Bracket(1000, None, {MEAL: 100})), valid_from=DAY)
    warnings = canteen_warnings(grid, meal_unit_ids=[MEAL])
    assert "Cantine à 1 € : il faut au moins 3 tranches de quotient." in warnings
    assert "Cantine à 1 € : il faut au moins un tarif supérieur à 1 €." in warnings


def test_grid_on_picks_the_version_of_the_date():
    old = Grid(brackets=(), valid_from=date(2025, 9, 1), valid_until=date(2026, 8, 31), name="old")
    new = Grid(brackets=(), valid_from=date(2026, 9, 1), name="new")
    assert grid_on([old, new], date(2026, 8, 31)) is old
    assert grid_on([new, old], date(2026, 9, 1)) is new
    assert grid_on([old, new], date(2025, 8, 31)) is None


@pytest.mark.parametrize(
    ("addresses", "postcode", "city", "resident"),
    [
        ([("99999", "Ville-Fleurie")], "99999", "Ville-Fleurie", True),
        ([("99 999", "Ailleurs")], "99999", "Ville-Fleurie", True),  # the postcode decides
        ([("75001", "Ville-Fleurie")], "99999", "Ville-Fleurie", False),
        ([("75001", "Paris"), ("99999", "")], "99999", "Ville-Fleurie", True),  # any guardian
        ([("", "ville fleurie")], "99999", "Ville-Fleurie", True),  # no postcode: city, case and hyphens ignored
        ([("", "SAINT-ÉTIENNE")], "", "Saint-Etienne", True),
        ([("75001", "Paris")], "", "Ville-Fleurie", False),
        ([], "99999", "Ville-Fleurie", False),
        ([("75001", "Paris")], "", "", True),  # the town's address is unknown: no surcharge
    ],
)
def test_is_resident(addresses, postcode, city, resident):
    assert is_resident(addresses, town_postcode=postcode, town_city=city) is resident


@pytest.mark.parametrize(
    ("text", "cents"),
    [("4,50", 450), ("4.5", 450), ("4", 400), ("4,50 €", 450), ("1 234,00", 123400), ("0", 0), ("0,01", 1)],
)
def test_parse_euros(text, cents):
    assert parse_euros(text) == cents


@pytest.mark.parametrize("text", ["", "abc", "-1", "4,505", "1e3x", "NaN"])
def test_parse_euros_refuses(text):
    with pytest.raises(ValueError):
        parse_euros(text)


def test_parse_percent_and_format():
    assert parse_percent("12,5 %") == Decimal("12.5")
    with pytest.raises(ValueError):
        parse_percent("-3")
    assert format_euros(123456) == "1 234,56 €"
    assert format_euros(Decimal("400.5")) == "4,005 €"
