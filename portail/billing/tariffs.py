"""Tariffs, database side: load grids and household facts into the pure engine (billing.pricing), quote a
booking, and save a grid edited by staff.

- `grid_for(activity_id, on_date)` / `load_grids(activity_ids)`: grids as pure `Grid` values (2 queries).
- `household_facts(household_ids)`: what the price depends on for many households at once (≤ 4 queries
  whatever their number), for the monthly invoicing; `quote_booking(..., facts=...)` then runs no query
  about the household.
- `quote_booking(...)`: the QuoteContext of a child, unit and date, and its Quote.
- `save_grid(...)`: create or update a grid with its brackets and prices, validated and audited.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import FilteredRelation, Q
from django.utils import timezone

from portail.catalog.models import Activity, Unit, UnitKind
from portail.core.audit import Channel, changed_fields, log_action
from portail.core.errors import BusinessError
from portail.enrolments.models import EnrolmentStatus
from portail.households.models import Child, FamilyQuotient, Guardian
from portail.organisations.models import Town

from .models import SiblingOrder, TariffBracket, TariffGrid, TariffPrice
from .pricing import (
    BOOKING,
    Bracket,
    Grid,
    PricingError,
    Quote,
    QuoteContext,
    canteen_warnings,
    grid_on,
    is_resident,
    quote,
    sibling_ranks,
    to_decimal,
    validate_grid,
)

# --- Grids -----------------------------------------------------------------------------------------------

GRID_FIELDS = [
    "name",
    "valid_from",
    "valid_until",
    "deliberation",
    "non_resident_surcharge_percent",
    "sibling_discount_percents",
    "sibling_order",
    "late_booking_surcharge_cents",
    "unexpected_presence_cents",
    "billed_absence_percent",
    "flat_fee_cents",
]


def _to_grid(row: TariffGrid, bracket_rows: Iterable[dict]) -> Grid:
    brackets: dict[int, tuple[int, int | None, dict]] = {}
    for b in bracket_rows:
        entry = brackets.setdefault(b["id"], (b["min_quotient"], b["max_quotient"], {}))
        if b["prices__unit_id"] is not None:
            entry[2][b["prices__unit_id"]] = b["prices__price_cents"]
    return Grid(
        brackets=tuple(Bracket(lo, hi, prices) for lo, hi, prices in sorted(brackets.values(), key=lambda e: e[0])),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        name=row.name,
        non_resident_surcharge_percent=to_decimal(row.non_resident_surcharge_percent),
        sibling_discount_percents=tuple(to_decimal(p) for p in row.sibling_discount_percents or ()),
        sibling_order=row.sibling_order,
        late_booking_surcharge_cents=row.late_booking_surcharge_cents,
        unexpected_presence_cents=row.unexpected_presence_cents,
        billed_absence_percent=row.billed_absence_percent,
        flat_fee_cents=row.flat_fee_cents,
        id=row.pk,
        activity_id=row.activity_id,
    )


def _bracket_rows(grid_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Brackets with their prices (one LEFT JOIN query), per grid id."""
    rows = defaultdict(list)
    if not grid_ids:
        return rows
    for row in (
        TariffBracket.objects.filter(grid_id__in=grid_ids)
        .order_by()
        .values("id", "grid_id", "min_quotient", "max_quotient", "prices__unit_id", "prices__price_cents")
    ):
        rows[row["grid_id"]].append(row)
    return rows


def load_grids(activity_ids: Iterable[int]) -> dict[int, list[Grid]]:
    """Every grid version of the activities, newest first, per activity id (2 queries for any number)."""
    activity_ids = list(dict.fromkeys(activity_ids))
    result: dict[int, list[Grid]] = {activity_id: [] for activity_id in activity_ids}
    grids = list(TariffGrid.objects.filter(activity_id__in=activity_ids).order_by("activity_id", "-valid_from"))
    bracket_rows = _bracket_rows([g.pk for g in grids])
    for row in grids:
        result[row.activity_id].append(_to_grid(row, bracket_rows[row.pk]))
    return result


def grid_for(activity_id: int, on_date: date) -> Grid | None:
    """The activity's grid valid on `on_date`, with its brackets and prices (2 queries; 1 when none)."""
    row = (
        TariffGrid.objects.filter(activity_id=activity_id, valid_from__lte=on_date)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=on_date))
        .order_by("-valid_from")
        .first()
    )
    if row is None:
        return None
    return _to_grid(row, _bracket_rows([row.pk])[row.pk])


# --- Household facts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotientFact:
    value: int
    valid_from: date
    valid_until: date


@dataclass(frozen=True)
class EnrolmentFact:
    """A validated enrolment of a child in an activity for a period (for the sibling rank)."""

    child_id: int
    activity_id: int
    start: date
    end: date


@dataclass(frozen=True)
class HouseholdFacts:
    """What the price of a household's lines depends on, loaded once (see household_facts)."""

    household_id: int
    resident: bool
    quotients: tuple[QuotientFact, ...] = ()
    # Every child of the household: id -> (birth_date, is_active).
    children: Mapping[int, tuple[date, bool]] = field(default_factory=dict)
    enrolments: tuple[EnrolmentFact, ...] = ()

    def quotient_on(self, day: date) -> tuple[int | None, date | None]:
        """(value, valid_until) of the quotient valid on `day` (the latest started if several); else the
        latest one that ended before `day` (the engine sees it expired); else (None, None)."""
        valid = [q for q in self.quotients if q.valid_from <= day <= q.valid_until]
        if valid:
            best = max(valid, key=lambda q: (q.valid_from, q.valid_until))
            return best.value, best.valid_until
        past = [q for q in self.quotients if q.valid_until < day]
        if past:
            best = max(past, key=lambda q: (q.valid_until, q.valid_from))
            return best.value, best.valid_until
        return None, None

    def siblings(self, *, activity_id: int, day: date, child_id: int, birth_date: date) -> dict[int, date]:
        """{child_id: birth_date} of the household's active children with a validated enrolment in the
        activity for a period covering `day`, plus the child being priced."""
        enrolled = {e.child_id for e in self.enrolments if e.activity_id == activity_id and e.start <= day <= e.end}
        result = {cid: birth for cid, (birth, active) in self.children.items() if active and cid in enrolled}
        result[child_id] = birth_date
        return result


def _town_place(town: Town | None) -> tuple[str, str]:
    if town is None:
        return "", ""
    return town.postcode, town.city or town.name


def household_facts(household_ids: Iterable[int], *, town: Town | None = None) -> dict[int, HouseholdFacts]:
    """HouseholdFacts of many households in at most 4 queries (town, quotients, guardians, children
    with their validated enrolments), whatever their number. Pass `town` to save one."""
    ids = list(dict.fromkeys(household_ids))
    if not ids:
        return {}
    town = town if town is not None else Town.current()
    town_postcode, town_city = _town_place(town)

    quotients = defaultdict(list)
    rows = FamilyQuotient.objects.filter(household_id__in=ids).order_by()
    for household_id, value, valid_from, valid_until in rows.values_list(
        "household_id", "value", "valid_from", "valid_until"
    ):
        quotients[household_id].append(QuotientFact(value, valid_from, valid_until))

    addresses = defaultdict(list)
    for household_id, postcode, city in (
        Guardian.objects.filter(household_id__in=ids).order_by().values_list("household_id", "postcode", "city")
    ):
        addresses[household_id].append((postcode, city))

    children = defaultdict(dict)
    enrolments = defaultdict(set)
    rows = (
        Child.objects.filter(household_id__in=ids)
        .order_by()
        .annotate(validated=FilteredRelation("enrolments", condition=Q(enrolments__status=EnrolmentStatus.VALIDATED)))
        .values_list(
            "household_id",
            "id",
            "birth_date",
            "is_active",
            "validated__activity_id",
            "validated__period__start_date",
            "validated__period__end_date",
        )
    )
    for household_id, child_id, birth_date, is_active, activity_id, start, end in rows:
        children[household_id][child_id] = (birth_date, is_active)
        if activity_id is not None:
            enrolments[household_id].add(EnrolmentFact(child_id, activity_id, start, end))

    return {
        household_id: HouseholdFacts(
            household_id=household_id,
            resident=is_resident(addresses[household_id], town_postcode=town_postcode, town_city=town_city),
            quotients=tuple(quotients[household_id]),
            children=children[household_id],
            enrolments=tuple(sorted(enrolments[household_id], key=lambda e: (e.child_id, e.activity_id, e.start))),
        )
        for household_id in ids
    }


# --- Quote -------------------------------------------------------------------------------------------------


def quote_booking(
    *,
    booking=None,
    child=None,
    household=None,
    unit=None,
    service_date: date | None = None,
    kind: str = BOOKING,
    late: bool = False,
    grids_cache: dict[int, list[Grid]] | None = None,
    facts: "HouseholdFacts | Mapping[int, HouseholdFacts] | None" = None,
) -> Quote:
    """The price of a child's line for a unit on a date, from the grid valid on that date.

    `booking` fills child, unit and service_date when they are not given (its session and child must be
    loaded to avoid queries). `grids_cache` ({activity_id: [Grid]}, see load_grids) is filled as grids are
    loaded; `facts` is the household's HouseholdFacts (or the dict household_facts returns): with both, no
    query is run. Raises PricingError (French message) when no grid or no price applies."""
    if booking is not None:
        child = child or booking.child
        unit = unit or booking.session.unit
        service_date = service_date or booking.session.date
    if child is None or unit is None or service_date is None:
        raise TypeError("quote_booking needs child, unit and service_date (or a booking)")
    household_id = household.pk if household is not None else child.household_id

    if facts is None:
        facts = household_facts([household_id])[household_id]
    elif not isinstance(facts, HouseholdFacts):
        facts = facts[household_id]

    activity_id = unit.activity_id
    if grids_cache is None:
        grid = grid_for(activity_id, service_date)
    else:
        if activity_id not in grids_cache:
            grids_cache.update(load_grids([activity_id]))
        grid = grid_on(grids_cache[activity_id], service_date)
    if grid is None:
        activity = unit.activity.name if Unit.activity.is_cached(unit) else "cette activité"
        raise PricingError(f"Aucune grille tarifaire pour « {activity} » le {service_date:%d/%m/%Y}.")

    quotient, quotient_valid_until = facts.quotient_on(service_date)
    siblings = facts.siblings(activity_id=activity_id, day=service_date, child_id=child.pk, birth_date=child.birth_date)
    context = QuoteContext(
        quotient=quotient,
        quotient_valid_until=quotient_valid_until,
        resident=facts.resident,
        sibling_rank=sibling_ranks(siblings, grid.sibling_order)[child.pk],
        child_age=child.age_on(service_date),
        unit_id=unit.pk,
        service_date=service_date,
        kind=kind,
        late=late,
    )
    return quote(context, grid)


# --- Saving a grid (staff) -------------------------------------------------------------------------------


class TariffValidationError(BusinessError):
    """The grid was refused: `errors` lists every reason, in French."""

    def __init__(self, errors: list[str]):
        super().__init__(" ".join(errors), code="invalid_tariff")
        self.errors = errors


@dataclass
class SavedGrid:
    grid: TariffGrid
    created: bool
    # Warnings to show (cantine à 1 €…), and what else changed (previous version closed).
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def _json_percent(value: Decimal):
    value = to_decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def grid_snapshot(grid: TariffGrid, brackets: Iterable[Bracket] | None = None) -> dict:
    """Grid fields and brackets with prices, JSON-ready, for the audit log."""
    if brackets is None:
        brackets = _to_grid(grid, _bracket_rows([grid.pk])[grid.pk]).brackets
    data = {name: getattr(grid, name) for name in GRID_FIELDS}
    data["activity"] = grid.activity_id
    data["non_resident_surcharge_percent"] = str(to_decimal(grid.non_resident_surcharge_percent).normalize())
    data["brackets"] = [
        {
            "min": b.min_quotient,
            "max": b.max_quotient,
            "prices": {str(unit_id): cents for unit_id, cents in sorted(b.prices.items())},
        }
        for b in sorted(brackets, key=lambda b: b.min_quotient)
    ]
    return data


def _overlaps(a_from: date, a_until: date | None, b_from: date, b_until: date | None) -> bool:
    return (b_until is None or a_from <= b_until) and (a_until is None or b_from <= a_until)


def _grid_pk(grid: TariffGrid | None) -> int | None:
    return grid.pk if grid is not None else None


def _span(grid: TariffGrid) -> str:
    if grid.valid_until is None:
        return f"à partir du {grid.valid_from:%d/%m/%Y}"
    return f"du {grid.valid_from:%d/%m/%Y} au {grid.valid_until:%d/%m/%Y}"


def save_grid(
    *,
    activity: Activity,
    actor,
    name: str,
    valid_from: date,
    brackets: Sequence[Bracket],
    valid_until: date | None = None,
    deliberation: str = "",
    non_resident_surcharge_percent: Decimal = Decimal(0),
    sibling_discount_percents: Sequence = (),
    sibling_order: str = SiblingOrder.OLDEST_FIRST,
    late_booking_surcharge_cents: int = 0,
    unexpected_presence_cents: int = 0,
    billed_absence_percent: int = 100,
    flat_fee_cents: int | None = None,
    grid: TariffGrid | None = None,
    channel: str = Channel.STAFF,
    today: date | None = None,
) -> SavedGrid:
    """Create (grid=None) or update a tariff grid with its brackets and prices, in one transaction.

    Refused with TariffValidationError (every reason, in French) when: the brackets do not cover every
    quotient exactly once, a price is negative or missing in one bracket, a percent is out of range, the
    span overlaps another version of the activity, or the grid being edited is already in force (prices
    already given stay as they are: a change is a new version). A new version starting after today
    closes the version in force the day before (audited too). Audit: "tariff.saved"."""
    today = today or timezone.localdate()
    name = (name or "").strip()
    pure = Grid(
        brackets=tuple(brackets),
        valid_from=valid_from,
        valid_until=valid_until,
        name=name,
        non_resident_surcharge_percent=to_decimal(non_resident_surcharge_percent),
        sibling_discount_percents=tuple(to_decimal(p) for p in sibling_discount_percents),
        sibling_order=sibling_order,
        late_booking_surcharge_cents=late_booking_surcharge_cents,
        unexpected_presence_cents=unexpected_presence_cents,
        billed_absence_percent=billed_absence_percent,
        flat_fee_cents=flat_fee_cents,
    )
    with transaction.atomic():
        # One writer at a time per activity, so two overlapping versions cannot both pass the check.
        activity = Activity.objects.select_for_update().get(pk=activity.pk)
        units = list(Unit.objects.filter(activity=activity).values_list("id", "name", "kind"))
        errors = [] if name else ["Donnez un nom à la grille."]
        errors += validate_grid(pure, unit_names={unit_id: unit_name for unit_id, unit_name, _ in units})

        before = None
        old_from = None
        if grid is not None:
            grid = TariffGrid.objects.select_for_update().get(pk=grid.pk)
            if grid.activity_id != activity.pk:
                raise ValueError("The grid belongs to another activity")
            if grid.valid_from <= today:
                raise TariffValidationError(
                    [
                        f"La grille « {grid.name} » a pris effet le {grid.valid_from:%d/%m/%Y} : "
                        "elle ne peut plus être modifiée. Créez une nouvelle version."
                    ]
                )
            if valid_from <= today:
                errors.append("Une grille modifiée doit rester à venir : choisissez un début après aujourd'hui.")
            before = grid_snapshot(grid)
            old_from = grid.valid_from

        others = list(TariffGrid.objects.select_for_update().filter(activity=activity).exclude(pk=_grid_pk(grid)))
        earlier = [g for g in others if g.valid_from < valid_from]
        predecessor = max(earlier, key=lambda g: g.valid_from) if earlier else None
        closing = None  # (previous version, its new valid_until)
        if predecessor is not None:
            new_end = valid_from - timedelta(days=1)
            overlaps = predecessor.valid_until is None or predecessor.valid_until >= valid_from
            # An edited version moved later: the version before it, which ended the day before, follows.
            follows = old_from is not None and predecessor.valid_until == old_from - timedelta(days=1)
            if overlaps and valid_from <= today:
                errors.append(
                    f"La grille « {predecessor.name} » s'applique déjà {_span(predecessor)} : une nouvelle "
                    "version doit commencer après aujourd'hui."
                )
            elif (overlaps or follows) and predecessor.valid_until != new_end:
                closing = (predecessor, new_end)
        for other in others:
            if other is not predecessor and _overlaps(valid_from, valid_until, other.valid_from, other.valid_until):
                errors.append(f"Les dates chevauchent celles de la grille « {other.name} » ({_span(other)}).")
        if errors:
            raise TariffValidationError(list(dict.fromkeys(errors)))

        created = grid is None
        if created:
            grid = TariffGrid(activity=activity)
        grid.name = name
        grid.valid_from = valid_from
        grid.valid_until = valid_until
        grid.deliberation = (deliberation or "").strip()
        grid.non_resident_surcharge_percent = to_decimal(non_resident_surcharge_percent)
        grid.sibling_discount_percents = [_json_percent(p) for p in sibling_discount_percents]
        grid.sibling_order = sibling_order
        grid.late_booking_surcharge_cents = late_booking_surcharge_cents
        grid.unexpected_presence_cents = unexpected_presence_cents
        grid.billed_absence_percent = billed_absence_percent
        grid.flat_fee_cents = flat_fee_cents
        grid.save()
        grid.brackets.all().delete()
        for b in sorted(pure.brackets, key=lambda b: b.min_quotient):
            row = TariffBracket.objects.create(grid=grid, min_quotient=b.min_quotient, max_quotient=b.max_quotient)
            TariffPrice.objects.bulk_create(
                TariffPrice(bracket=row, unit_id=unit_id, price_cents=cents) for unit_id, cents in b.prices.items()
            )

        after = grid_snapshot(grid, pure.brackets)
        if before is not None:
            before, after = changed_fields(before, after)
        if created or after:
            log_action(
                actor=actor,
                channel=channel,
                action="tariff.saved",
                obj=grid,
                before=before,
                after=after,
                message="Nouvelle grille tarifaire." if created else "Grille tarifaire modifiée.",
            )
        notices = []
        if closing is not None:
            previous, new_end = closing
            old_end = previous.valid_until
            previous.valid_until = new_end
            previous.save(update_fields=["valid_until"])
            log_action(
                actor=actor,
                channel=channel,
                action="tariff.saved",
                obj=previous,
                before={"valid_until": old_end},
                after={"valid_until": new_end},
                message=f"Fin de validité fixée par la version « {grid.name} ».",
            )
            notices.append(f"La grille « {previous.name} » s'applique désormais jusqu'au {new_end:%d/%m/%Y}.")
    meal_ids = [unit_id for unit_id, _name, kind in units if kind == UnitKind.MEAL]
    return SavedGrid(
        grid=grid, created=created, warnings=canteen_warnings(pure, meal_unit_ids=meal_ids), notices=notices
    )
