"""The tariff engine: pure Python, no database, no Django.

One entry point, `quote(context, grid) -> Quote`: the price of one line (a booking, an absence, an
unexpected presence, a flat fee) from a tariff grid and the facts about the child and the household.
The caller (portail.billing.tariffs) loads the grid and the facts; this module only computes.

Rules, applied in this order (PAYMENTS.md §3.7, §3.9):

1. Base price: the price of the unit in the quotient bracket [min, max) that holds the household's
   quotient (QF = max of a bracket falls in the next one). A missing quotient, or one whose validity
   ended before the service date, takes the HIGHEST bracket (families who do not give their QF pay
   the top rate). A flat fee (per period, e.g. EMS trimester) takes the grid's flat fee instead.
2. Non-resident surcharge: × (1 + p/100) when no guardian lives in the town.
3. Sibling discount: × (1 − d/100), d taken from the grid's percents by sibling rank (rank 1 = first
   item; ranks beyond the list take the last item). The rank comes from `sibling_ranks` with the
   grid's published order (eldest or youngest first); twins are ordered by child id.
4. Absence: a billed absence × (billed_absence_percent/100); an excused absence costs nothing.
5. The line is rounded ONCE, to the cent, half-up (4,005 € → 4,01 €).
6. Flat additions, in whole cents, after rounding: + late-booking surcharge (a booking or billed absence
   booked after the deadline), + unexpected-presence charge (a child present without a booking, added
   to the price of the unit).

Money is integer cents outside, exact Decimal inside. Totals are sums of rounded lines (the caller's).
"""

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# --- Vocabulary ---------------------------------------------------------------------------------------

BOOKING = "booking"
BILLED_ABSENCE = "billed_absence"
EXCUSED_ABSENCE = "excused_absence"
UNEXPECTED_PRESENCE = "unexpected_presence"
FLAT_FEE = "flat_fee"
KINDS = frozenset({BOOKING, BILLED_ABSENCE, EXCUSED_ABSENCE, UNEXPECTED_PRESENCE, FLAT_FEE})

# Same values as billing.models.SiblingOrder (kept here so the engine imports nothing from Django).
OLDEST_FIRST = "oldest_first"
YOUNGEST_FIRST = "youngest_first"
SIBLING_ORDERS = frozenset({OLDEST_FIRST, YOUNGEST_FIRST})

HUNDRED = Decimal(100)
ONE_CENT = Decimal(1)  # amounts are computed in cents: rounding to the cent is rounding to a unit


class PricingError(Exception):
    """No price can be given (no grid on the date, no price for the unit…). `message` is French."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Data -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bracket:
    """A quotient bracket [min_quotient, max_quotient) with its price per unit id, in cents.

    max_quotient None: no upper bound (the highest bracket)."""

    min_quotient: int
    max_quotient: int | None
    prices: Mapping[int, int] = field(default_factory=dict)

    def contains(self, quotient: int) -> bool:
        return self.min_quotient <= quotient and (self.max_quotient is None or quotient < self.max_quotient)

    @property
    def label(self) -> str:
        """ "QF 0 – 600", "QF 1400 et plus"."""
        if self.max_quotient is None:
            return f"QF {self.min_quotient} et plus"
        return f"QF {self.min_quotient} – {self.max_quotient}"


@dataclass(frozen=True)
class Grid:
    """A tariff grid (billing.TariffGrid with its brackets and prices), valid from `valid_from` to
    `valid_until` included (None: no end)."""

    brackets: tuple[Bracket, ...]
    valid_from: date
    valid_until: date | None = None
    name: str = ""
    non_resident_surcharge_percent: Decimal = Decimal(0)
    # Percent off per sibling rank: (rank 1, rank 2, rank 3 and more), e.g. (0, 10, 20).
    sibling_discount_percents: tuple = ()
    sibling_order: str = OLDEST_FIRST
    late_booking_surcharge_cents: int = 0
    unexpected_presence_cents: int = 0
    billed_absence_percent: int = 100
    flat_fee_cents: int | None = None
    id: int | None = None
    activity_id: int | None = None

    def is_valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def bracket_for(self, quotient: int) -> Bracket | None:
        return next((b for b in self.brackets if b.contains(quotient)), None)

    @property
    def highest_bracket(self) -> Bracket | None:
        open_ended = [b for b in self.brackets if b.max_quotient is None]
        pool = open_ended or list(self.brackets)
        return max(pool, key=lambda b: b.min_quotient) if pool else None

    def sibling_discount(self, rank: int) -> Decimal:
        percents = self.sibling_discount_percents
        if not percents or rank < 1:
            return Decimal(0)
        return to_decimal(percents[min(rank, len(percents)) - 1])

    @property
    def validity_label(self) -> str:
        if self.valid_until is None:
            return f"à partir du {self.valid_from:%d/%m/%Y}"
        return f"du {self.valid_from:%d/%m/%Y} au {self.valid_until:%d/%m/%Y}"


@dataclass(frozen=True)
class QuoteContext:
    """The facts the price depends on. The caller computes them (portail.billing.tariffs.quote_booking).

    quotient: the household's QF on the service date (None: not given). quotient_valid_until: its end
    of validity; before the service date it counts as expired. sibling_rank: 1-based, see sibling_ranks.
    child_age: whole years on the service date (no age rule yet; kept for age-based grids and the trail).
    unit_id: the unit booked (unused for a flat fee). late: booked after the booking deadline."""

    quotient: int | None
    quotient_valid_until: date | None
    resident: bool
    sibling_rank: int
    child_age: int
    unit_id: int | None
    service_date: date
    kind: str = BOOKING
    late: bool = False


@dataclass(frozen=True)
class Quote:
    """amount_cents: what the line costs (rounded once, half-up, flat additions included).
    unit_price_cents: the grid's price for the unit in the bracket used (or the flat fee), before the
    surcharges, discounts and absence rule. surcharge_cents: the flat additions included in the amount
    (late booking, unexpected presence), for a caller that shows them on their own line.
    trail: the rules applied, in French, in order, to copy onto the invoice line."""

    amount_cents: int
    unit_price_cents: int
    trail: tuple[str, ...]
    surcharge_cents: int = 0


# --- Formatting and parsing (French) ---------------------------------------------------------------------


def to_decimal(value) -> Decimal:
    """A percent or amount from the grid (int, Decimal, JSON number or string) as an exact Decimal."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    return Decimal(value)


def format_euros(cents) -> str:
    """400 -> "4,00 €", 123456 -> "1 234,56 €", Decimal("400.5") -> "4,005 €" (unrounded amounts)."""
    value = to_decimal(cents)
    sign = "−" if value < 0 else ""
    whole, _, fraction = format(abs(value) / HUNDRED, "f").partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{sign}{int(whole):,}".replace(",", " ") + f",{fraction} €"


def format_percent(value) -> str:
    """Decimal("20.00") -> "20 %", Decimal("12.50") -> "12,5 %"."""
    number = to_decimal(value)
    text = format(number.normalize(), "f") if number else "0"
    return f"{text.replace('.', ',')} %"


def _parse_decimal(text: str, *, what: str) -> Decimal:
    cleaned = str(text).strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    cleaned = cleaned.replace("€", "").replace("%", "").replace(",", ".")
    if not cleaned:
        raise ValueError(f"Indiquez {what}.")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"« {text} » n'est pas {what} valable.") from None
    if not number.is_finite():
        raise ValueError(f"« {text} » n'est pas {what} valable.")
    return number


def parse_euros(text: str) -> int:
    """ "4,50", "4.5", "4,50 €", "1 234,00" -> cents (450, 123400). Two decimals at most, never negative."""
    number = _parse_decimal(text, what="un montant en euros")
    if number < 0:
        raise ValueError("Un montant ne peut pas être négatif.")
    cents = number * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"« {text} » : deux chiffres après la virgule au plus.")
    return int(cents)


def parse_percent(text: str) -> Decimal:
    """ "20", "12,5", "12,5 %" -> Decimal. Two decimals at most, never negative."""
    number = _parse_decimal(text, what="un pourcentage")
    if number < 0:
        raise ValueError("Un pourcentage ne peut pas être négatif.")
    if number != number.quantize(Decimal("0.01")):
        raise ValueError(f"« {text} » : deux chiffres après la virgule au plus.")
    return number


def ordinal(rank: int) -> str:
    return "1er" if rank == 1 else f"{rank}e"


# --- Siblings and residency ----------------------------------------------------------------------------


def sibling_ranks(children_birth_dates: Mapping[int, date], order: str) -> dict[int, int]:
    """{child_id: birth_date} -> {child_id: rank}, rank 1 = the first child for the sibling discount.

    OLDEST_FIRST: the eldest is rank 1; YOUNGEST_FIRST: the youngest is. Same birth date (twins): the
    smaller child id first, so the result never depends on the order of the input."""
    if order not in SIBLING_ORDERS:
        raise ValueError(f"Unknown sibling order {order!r}")
    if order == OLDEST_FIRST:
        ordered = sorted(children_birth_dates.items(), key=lambda item: (item[1], item[0]))
    else:
        ordered = sorted(children_birth_dates.items(), key=lambda item: (-item[1].toordinal(), item[0]))
    return {child_id: rank for rank, (child_id, _birth) in enumerate(ordered, start=1)}


def normalise_place(text: str) -> str:
    """ "Saint-Étienne " -> "saint etienne": case, accents, hyphens and apostrophes do not count."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    for sign in "-'’":
        plain = plain.replace(sign, " ")
    return " ".join(plain.split())


def is_resident(addresses: Iterable[tuple[str, str]], *, town_postcode: str, town_city: str) -> bool:
    """Whether any guardian (postcode, city) lives in the town. The postcode decides when both the
    guardian and the town have one; otherwise the city names are compared (case and accents ignored).
    A town with neither postcode nor city makes everyone a resident (no surcharge on unknown data)."""
    town_postcode = (town_postcode or "").replace(" ", "")
    town_city = normalise_place(town_city)
    if not town_postcode and not town_city:
        return True
    for postcode, city in addresses:
        postcode = (postcode or "").replace(" ", "")
        if postcode and town_postcode:
            if postcode == town_postcode:
                return True
        elif town_city and normalise_place(city) == town_city:
            return True
    return False


# --- Validation --------------------------------------------------------------------------------------


def validate_brackets(brackets: Iterable) -> list[str]:
    """French errors for a set of brackets (objects with min_quotient / max_quotient): they must cover
    every quotient from 0 with no gap and no overlap, and end with one bracket without upper bound."""
    items = sorted(brackets, key=lambda b: (b.min_quotient, b.max_quotient is None, b.max_quotient or 0))
    if not items:
        return ["Ajoutez au moins une tranche de quotient familial."]
    errors = []
    for b in items:
        if b.min_quotient < 0 or (b.max_quotient is not None and b.max_quotient < 0):
            errors.append("Un quotient familial ne peut pas être négatif.")
        if b.max_quotient is not None and b.max_quotient <= b.min_quotient:
            errors.append(
                f"Tranche QF {b.min_quotient} – {b.max_quotient} : la borne haute doit être "
                "supérieure à la borne basse."
            )
    if items[0].min_quotient != 0:
        errors.append(f"La première tranche doit commencer à 0 (elle commence à {items[0].min_quotient}).")
    open_ended = [b for b in items if b.max_quotient is None]
    if len(open_ended) > 1:
        errors.append(f"Une seule tranche peut être sans borne haute (il y en a {len(open_ended)}).")
    elif not open_ended:
        last = items[-1]
        errors.append(
            f"La dernière tranche doit être sans borne haute (QF {last.max_quotient} et plus n'a pas de prix)."
        )
    # Brackets with reversed bounds are reported above; the gaps and overlaps are about the others.
    sound = [b for b in items if b.max_quotient is None or b.max_quotient > b.min_quotient]
    for previous, current in zip(sound, sound[1:], strict=False):
        if previous.max_quotient is None or previous.max_quotient > current.min_quotient:
            errors.append(
                f"Les tranches {Bracket(previous.min_quotient, previous.max_quotient).label} et "
                f"{Bracket(current.min_quotient, current.max_quotient).label} se chevauchent."
            )
        elif previous.max_quotient < current.min_quotient:
            errors.append(
                f"Trou entre les tranches : aucun tarif pour les QF de {previous.max_quotient} "
                f"à {current.min_quotient - 1}."
            )
    return list(dict.fromkeys(errors))


def validate_grid(grid: Grid, *, unit_names: Mapping[int, str] | None = None) -> list[str]:
    """French errors for a whole grid: brackets (validate_brackets), dates, prices ≥ 0, percents, and
    each unit priced in every bracket or in none (a price missing in one bracket only is a mistake)."""
    errors = []
    if grid.valid_until is not None and grid.valid_until < grid.valid_from:
        errors.append("La date de fin doit être postérieure ou égale à la date de début.")
    errors.extend(validate_brackets(grid.brackets))
    names = unit_names or {}
    priced = {unit_id for b in grid.brackets for unit_id in b.prices}
    for unit_id in sorted(priced, key=lambda u: (names.get(u, ""), u)):
        label = names.get(unit_id, f"unité {unit_id}")
        if unit_names is not None and unit_id not in unit_names:
            errors.append(f"« {label} » n'est pas une unité de cette activité.")
        for b in grid.brackets:
            price = b.prices.get(unit_id)
            if price is None:
                errors.append(f"Prix manquant pour « {label} » dans la tranche {b.label}.")
            elif price < 0:
                errors.append(f"Prix négatif pour « {label} » dans la tranche {b.label}.")
    if not to_decimal(0) <= to_decimal(grid.non_resident_surcharge_percent) < 1000:
        errors.append("La majoration hors commune doit être comprise entre 0 et 999,99 %.")
    for percent in grid.sibling_discount_percents:
        if not 0 <= to_decimal(percent) <= 100:
            errors.append("Une réduction fratrie doit être comprise entre 0 et 100 %.")
            break
    if not 0 <= grid.billed_absence_percent <= 100:
        errors.append("L'absence facturée doit être comprise entre 0 et 100 % du prix.")
    for amount, message in [
        (grid.late_booking_surcharge_cents, "La majoration hors délai ne peut pas être négative."),
        (grid.unexpected_presence_cents, "Le prix d'une présence non réservée ne peut pas être négatif."),
        (grid.flat_fee_cents, "Le forfait par période ne peut pas être négatif."),
    ]:
        if amount is not None and amount < 0:
            errors.append(message)
    if grid.sibling_order not in SIBLING_ORDERS:
        errors.append("Ordre de la fratrie inconnu.")
    return list(dict.fromkeys(errors))


def canteen_warnings(grid: Grid, *, meal_unit_ids: Iterable[int]) -> list[str]:
    """Warnings (not errors) for the canteen units of a grid, PAYMENTS.md §3.7:

    - "cantine à 1 €": when a meal costs ≤ 1 € in some bracket, the grid needs ≥ 3 brackets, a price
      above 1 €, and the ≤ 1 € price only for QF ≤ 1 000;
    - a non-resident surcharge on meals is legally risky (differences must rest on social criteria)."""
    warnings = []
    meal_ids = [u for u in meal_unit_ids if any(u in b.prices for b in grid.brackets)]
    for unit_id in meal_ids:
        cheap = [b for b in grid.brackets if b.prices.get(unit_id, 101) <= 100]
        if not cheap:
            continue
        if len(grid.brackets) < 3:
            warnings.append("Cantine à 1 € : il faut au moins 3 tranches de quotient.")
        if not any(b.prices.get(unit_id, 0) > 100 for b in grid.brackets):
            warnings.append("Cantine à 1 € : il faut au moins un tarif supérieur à 1 €.")
        for b in cheap:
            if b.max_quotient is None or b.max_quotient > 1001:
                warnings.append(
                    f"Cantine à 1 € : le tarif de {format_euros(b.prices[unit_id])} de la tranche {b.label} "
                    "est réservé aux QF jusqu'à 1 000."
                )
    if meal_ids and to_decimal(grid.non_resident_surcharge_percent) > 0:
        warnings.append(
            "Restauration scolaire : une majoration hors commune est juridiquement risquée "
            "(les écarts de prix doivent reposer sur des critères sociaux)."
        )
    return list(dict.fromkeys(warnings))


def grid_on(grids: Iterable[Grid], day: date) -> Grid | None:
    """The grid valid on `day` among the versions of one activity (the latest start if several)."""
    valid = [g for g in grids if g.is_valid_on(day)]
    return max(valid, key=lambda g: g.valid_from) if valid else None


# --- The quote -------------------------------------------------------------------------------------------


def _base_price(context: QuoteContext, grid: Grid, trail: list[str]) -> int:
    if context.kind == FLAT_FEE:
        if grid.flat_fee_cents is None:
            raise PricingError(f"La grille « {grid.name} » n'a pas de forfait par période.")
        trail.append(f"Forfait par période : {format_euros(grid.flat_fee_cents)}")
        return grid.flat_fee_cents
    expired = context.quotient_valid_until is not None and context.quotient_valid_until < context.service_date
    if context.quotient is None or expired:
        bracket = grid.highest_bracket
        trail.append("QF absent ou expiré : tranche la plus haute")
    else:
        bracket = grid.bracket_for(context.quotient)
    if bracket is None:
        raise PricingError(f"La grille « {grid.name} » n'a pas de tranche pour le QF {context.quotient}.")
    price = bracket.prices.get(context.unit_id) if context.unit_id is not None else None
    if price is None:
        raise PricingError(
            f"La grille « {grid.name} » n'a pas de prix pour cette unité dans la tranche {bracket.label}."
        )
    trail.append(f"Tranche {bracket.label} : {format_euros(price)}")
    return price


def quote(context: QuoteContext, grid: Grid) -> Quote:
    """The price of one line, with the trail of the rules applied (see the module docstring for the order)."""
    if context.kind not in KINDS:
        raise ValueError(f"Unknown quote kind {context.kind!r}")
    if context.sibling_rank < 1:
        raise ValueError("sibling_rank is 1-based")
    if not grid.is_valid_on(context.service_date):
        raise PricingError(
            f"La grille « {grid.name} » n'est pas valable le {context.service_date:%d/%m/%Y} "
            f"(elle s'applique {grid.validity_label})."
        )
    trail: list[str] = []
    base = _base_price(context, grid, trail)
    if context.kind == EXCUSED_ABSENCE:
        trail.append("Absence excusée : non facturée")
        return Quote(amount_cents=0, unit_price_cents=base, trail=tuple(trail))

    exact = Decimal(base)
    surcharge = to_decimal(grid.non_resident_surcharge_percent)
    if not context.resident and surcharge:
        exact = exact * (HUNDRED + surcharge) / HUNDRED
        trail.append(f"Hors commune : +{format_percent(surcharge)}")
    discount = grid.sibling_discount(context.sibling_rank)
    if discount:
        exact = exact * (HUNDRED - discount) / HUNDRED
        trail.append(f"Frère/sœur ({ordinal(context.sibling_rank)} enfant) : −{format_percent(discount)}")
    if context.kind == BILLED_ABSENCE:
        exact = exact * Decimal(grid.billed_absence_percent) / HUNDRED
        trail.append(f"Absence facturée : {format_percent(grid.billed_absence_percent)} du prix")
    rounded = int(exact.quantize(ONE_CENT, rounding=ROUND_HALF_UP))
    if exact != rounded:
        trail.append(f"Arrondi au centime : {format_euros(exact)} → {format_euros(rounded)}")

    additions = 0
    if context.kind == UNEXPECTED_PRESENCE and grid.unexpected_presence_cents:
        additions += grid.unexpected_presence_cents
        trail.append(f"Présence non réservée : +{format_euros(grid.unexpected_presence_cents)}")
    elif context.kind in (BOOKING, BILLED_ABSENCE) and context.late and grid.late_booking_surcharge_cents:
        additions += grid.late_booking_surcharge_cents
        trail.append(f"Réservation hors délai : +{format_euros(grid.late_booking_surcharge_cents)}")
    return Quote(amount_cents=rounded + additions, unit_price_cents=base, trail=tuple(trail), surcharge_cents=additions)
