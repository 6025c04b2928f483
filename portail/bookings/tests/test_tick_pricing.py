"""The price of a booking is decided once, at the tick, by the tariff engine, and stored (issue 6).

The basket line carries it, the booking copies it, nothing recomputes it later: a quotient that
changes after the tick does not change what the family saw. A staff booking past the deadline
carries the grid's late-booking surcharge, apart so that the invoice can show it on its own line.
"""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from portail.billing.models import TariffBracket, TariffGrid, TariffPrice
from portail.bookings import services
from portail.bookings.models import Booking
from portail.core.models import Channel
from portail.households.models import FamilyQuotient

from .factories import make_bookable, make_rule, paris, staff_member

pytestmark = pytest.mark.django_db
NOW = paris(2026, 11, 20, 10)


def make_qf_grid(unit, *, late_cents=0, sibling_percents=(), valid_from=dt.date(2026, 9, 1)):
    """Two brackets: QF < 800 pays 2,50 €, QF ≥ 800 (and a missing QF) pays 6,00 €."""
    grid = TariffGrid.objects.create(
        activity=unit.activity,
        name="Grille QF",
        valid_from=valid_from,
        late_booking_surcharge_cents=late_cents,
        sibling_discount_percents=list(sibling_percents),
    )
    for low, high, cents in ((0, 800, 250), (800, None, 600)):
        bracket = TariffBracket.objects.create(grid=grid, min_quotient=low, max_quotient=high)
        TariffPrice.objects.create(bracket=bracket, unit=unit, price_cents=cents)
    return grid


def give_quotient(household, value):
    FamilyQuotient.objects.filter(household=household).delete()
    FamilyQuotient.objects.create(
        household=household, value=value, valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31)
    )


def tick(setup, session, *, child=None, now=NOW):
    return services.toggle_cell(
        household=setup.household,
        child=child or setup.children[0],
        session_id=session.pk,
        actor=setup.guardian.user,
        channel=Channel.WEB,
        now=now,
    )


def validate(setup, now=NOW):
    return services.confirm_basket(household=setup.household, actor=setup.guardian.user, channel=Channel.WEB, now=now)


def test_the_tick_prices_with_the_quotient_bracket_and_the_booking_copies_it():
    setup = make_bookable(price_cents=1000)
    make_qf_grid(setup.unit)
    give_quotient(setup.household, 500)
    line = tick(setup, setup.sessions[0]).line
    assert line.price_cents == 250
    assert any("QF 0 – 800" in step for step in line.price_trail)
    assert (line.late, line.surcharge_cents) == (False, 0)
    validate(setup)
    booking = Booking.objects.get()
    assert (booking.price_cents, booking.price_trail) == (250, line.price_trail)


def test_a_missing_quotient_pays_the_highest_bracket():
    setup = make_bookable(price_cents=1000)
    make_qf_grid(setup.unit)
    assert tick(setup, setup.sessions[0]).line.price_cents == 600


def test_a_quotient_changed_after_the_tick_does_not_change_the_price():
    setup = make_bookable(price_cents=1000)
    make_qf_grid(setup.unit)
    give_quotient(setup.household, 500)
    tick(setup, setup.sessions[0])
    give_quotient(setup.household, 2000)  # the CAF sends a new quotient before the family validates
    validate(setup)
    assert Booking.objects.get().price_cents == 250


def test_without_a_grid_the_catalog_price_is_kept_with_an_empty_trail():
    setup = make_bookable(price_cents=1000)
    line = tick(setup, setup.sessions[0]).line
    assert (line.price_cents, line.price_trail) == (1000, [])


def test_a_grid_that_starts_after_the_session_does_not_apply():
    setup = make_bookable(price_cents=1000)
    make_qf_grid(setup.unit, valid_from=dt.date(2027, 1, 1))
    assert tick(setup, setup.sessions[0]).line.price_cents == 1000


def test_the_sibling_discount_applies_at_the_tick():
    setup = make_bookable(children=2, price_cents=1000)
    make_qf_grid(setup.unit, sibling_percents=[0, 50])
    give_quotient(setup.household, 500)
    changes = services.change_cells(
        household=setup.household,
        cells=[(child, setup.sessions[0].pk) for child in setup.children],
        actor=setup.guardian.user,
        channel=Channel.WEB,
        now=NOW,
    )
    assert sorted(change.line.price_cents for change in changes) == [125, 250]


def test_a_staff_booking_past_the_deadline_carries_the_late_surcharge():
    setup = make_bookable(dates=[dt.date(2026, 11, 16)], deadline_rule=make_rule(), price_cents=1000)
    make_qf_grid(setup.unit, late_cents=200)
    give_quotient(setup.household, 500)
    booking = services.staff_book(
        child=setup.children[0], session_id=setup.sessions[0].pk, actor=staff_member(), now=paris(2026, 11, 14, 9)
    )
    assert (booking.late, booking.price_cents, booking.surcharge_cents) == (True, 450, 200)
    assert any("hors délai" in step for step in booking.price_trail)


def test_a_staff_booking_in_time_has_no_surcharge():
    setup = make_bookable(dates=[dt.date(2026, 11, 16)], deadline_rule=make_rule(), price_cents=1000)
    make_qf_grid(setup.unit, late_cents=200)
    give_quotient(setup.household, 500)
    booking = services.staff_book(
        child=setup.children[0], session_id=setup.sessions[0].pk, actor=staff_member(), now=paris(2026, 11, 13, 11)
    )
    assert (booking.late, booking.price_cents, booking.surcharge_cents) == (False, 250, 0)


def test_staff_ticking_for_a_family_past_the_deadline_is_late_and_a_family_tick_never_is():
    setup = make_bookable(dates=[dt.date(2026, 11, 16)], deadline_rule=make_rule(), price_cents=1000)
    make_qf_grid(setup.unit, late_cents=200)
    give_quotient(setup.household, 500)
    family = tick(setup, setup.sessions[0], now=paris(2026, 11, 13, 11)).line
    assert (family.late, family.price_cents) == (False, 250)
    family.delete()
    agent = staff_member()
    change = services.toggle_cell(
        household=setup.household,
        child=setup.children[0],
        session_id=setup.sessions[0].pk,
        actor=agent,
        channel=Channel.STAFF,
        bypass_deadline=True,
        now=paris(2026, 11, 14, 9),
    )
    assert (change.line.late, change.line.price_cents, change.line.surcharge_cents) == (True, 450, 200)
    services.confirm_basket(
        household=setup.household,
        actor=agent,
        channel=Channel.STAFF,
        bypass_deadline=True,
        now=paris(2026, 11, 14, 9),
    )
    booking = Booking.objects.get()
    assert (booking.late, booking.price_cents, booking.surcharge_cents) == (True, 450, 200)


def test_pricing_a_tick_costs_a_bounded_number_of_queries(django_assert_max_num_queries):
    """Grids (2 queries) and household facts (4 at most) once per tick, however many cells."""
    setup = make_bookable(children=2, price_cents=1000)
    make_qf_grid(setup.unit)
    give_quotient(setup.household, 500)
    cells = [(child, session.pk) for child in setup.children for session in setup.sessions]
    services.basket_of(setup.household)
    with django_assert_max_num_queries(6 + 40) as captured:
        services.change_cells(
            household=setup.household, cells=cells, actor=setup.guardian.user, channel=Channel.WEB, now=NOW
        )
    pricing = [q for q in captured.captured_queries if "billing_tariff" in q["sql"] or "quotient" in q["sql"]]
    assert len(pricing) <= 4, [q["sql"][:80] for q in pricing]


def test_the_recap_shows_how_the_price_was_reached(client):
    setup = make_bookable(price_cents=1000)
    make_qf_grid(setup.unit)
    give_quotient(setup.household, 500)
    line = tick(setup, setup.sessions[0]).line
    client.force_login(setup.guardian.user)
    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("portal:planning_recap")).content.decode()
    assert '<details class="price-trail">' in page
    for step in line.price_trail:
        assert step.replace("'", "&#x27;") in page
    assert "2,50" in page
