"""The price of a booking, decided once at the tick and stored (basket line, then booking).

Issue 6: "Prices are decided once and stored; nothing shown to a family is recomputed later." The
tariff engine (portail.billing.pricing) prices the cell with the grid valid on the session's date and
the household's facts of the moment (quotient, residency, sibling rank); the invoice copies that price.

An activity with no grid on that date keeps the catalog's unit price, with an empty trail: the
invoicing run then prices it with the grid of the day, or lists the child among its errors.
"""

from dataclasses import dataclass, field

from portail.billing.pricing import PricingError, grid_on
from portail.billing.tariffs import household_facts, load_grids, quote_booking


@dataclass(frozen=True)
class DecidedPrice:
    price_cents: int
    price_trail: list = field(default_factory=list)
    late: bool = False
    # Part of price_cents that is the late-booking surcharge (a penalty, on its own invoice line).
    surcharge_cents: int = 0

    def as_fields(self) -> dict:
        """Keyword arguments for BasketLine / Booking."""
        return price_fields_of(self)


class CellPricer:
    """Prices the cells of one operation (a tick of several cells, a staff booking): each activity's
    grids and each household's facts are loaded once (2 + 4 queries at most, 1 when no grid)."""

    def __init__(self):
        self._grids: dict[int, list] = {}
        self._facts: dict[int, object] = {}

    def price(self, *, child, session, late: bool = False) -> DecidedPrice:
        unit = session.unit
        activity_id = unit.activity_id
        if activity_id not in self._grids:
            self._grids.update(load_grids([activity_id]))
        if grid_on(self._grids[activity_id], session.date) is None:
            return DecidedPrice(price_cents=unit.price_cents, late=late)
        household_id = child.household_id
        if household_id not in self._facts:
            self._facts.update(household_facts([household_id]))
        try:
            quote = quote_booking(
                child=child,
                unit=unit,
                service_date=session.date,
                late=late,
                grids_cache=self._grids,
                facts=self._facts[household_id],
            )
        except PricingError:
            # A grid without a price for this unit: the catalog price for now; the invoicing run
            # re-prices the booking and shows the error to the staff (a family is never blocked).
            return DecidedPrice(price_cents=unit.price_cents, late=late)
        return DecidedPrice(
            price_cents=quote.amount_cents,
            price_trail=list(quote.trail),
            late=late,
            surcharge_cents=quote.surcharge_cents if late else 0,
        )


def price_fields_of(decided) -> dict:
    """The decided price as model fields: from a DecidedPrice, or carried unchanged from a basket line
    (or an earlier booking) to a booking."""
    return {
        "price_cents": decided.price_cents,
        "price_trail": list(decided.price_trail),
        "late": decided.late,
        "surcharge_cents": decided.surcharge_cents,
    }
