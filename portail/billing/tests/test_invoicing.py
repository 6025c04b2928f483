"""Monthly invoicing (billing.invoicing), numbering, immutability, credit notes, selectors.

SQLite: the rules and the rollbacks. The parallel numbering race is tests/concurrency/test_invoicing_race.py
(PostgreSQL). Prices come from the real tariff engine (billing.tariffs) with one-bracket grids, so every
amount here is the unit's price (or its absence percent)."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django.db.models import ProtectedError
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portail.billing import credit_notes, invoicing, numbering, selectors
from portail.billing.errors import BillingError
from portail.billing.models import (
    CreditNote,
    DocumentCounter,
    Invoice,
    InvoiceLine,
    InvoicingRun,
    LineKind,
    RunStatus,
    SeriesKind,
    TariffBracket,
    TariffGrid,
    TariffPrice,
)
from portail.bookings.models import Absence, AbsenceReason, AbsenceStatus, BookingStatus
from portail.bookings.tests.factories import make_booking
from portail.catalog.models import PaymentMode, UnitKind
from portail.core.models import LogEntry
from portail.enrolments.models import EnrolmentStatus
from portail.enrolments.tests.factories import EnrolmentFactory
from portail.payments.models import Allocation, AllocationKind, Means, Payment, PaymentStatus
from portail.payments.selectors import household_account
from tests.factories import (
    ActivityFactory,
    ChildFactory,
    GroupFactory,
    PeriodFactory,
    SessionFactory,
    TownFactory,
    UnitFactory,
    make_family,
)
from tests.payment_factories import PaymentFactory, RegieFactory

pytestmark = pytest.mark.django_db

NOVEMBER = dt.date(2026, 11, 1)
DECEMBER = dt.date(2026, 12, 1)
NUMBER = re.compile(r"^[A-Za-z0-9]{6,30}$")


# --- A small town to invoice (shared with test_staff_billing and the PostgreSQL race test) -------------


def make_grid(activity, prices: dict, *, absence_percent=50, valid_from=dt.date(2026, 9, 1), valid_until=None):
    """A one-bracket grid (every quotient): the amount of a booking is the unit's price here."""
    grid = TariffGrid.objects.create(
        activity=activity,
        name=f"Grille {activity.name}",
        valid_from=valid_from,
        valid_until=valid_until,
        billed_absence_percent=absence_percent,
    )
    bracket = TariffBracket.objects.create(grid=grid, min_quotient=0, max_quotient=None)
    for unit, cents in prices.items():
        TariffPrice.objects.create(bracket=bracket, unit=unit, price_cents=cents)
    return grid


class World:
    """Régie ENF collecting an invoiced activity (Journée 10 €, billed absence 50 %) and a prepaid one."""

    def __init__(self, *, code="ENF", town=None):
        self.town = town or TownFactory(name="Ville-Fleurie", address="1 place de la Mairie", postcode="99999")
        self.regie = RegieFactory(town=self.town, code=code, name=f"Régie {code}", contact="Mme Leroy, régisseuse")
        self.activity = ActivityFactory(name="Pommiers mercredis", payment_mode=PaymentMode.INVOICED)
        self.unit = UnitFactory(activity=self.activity, name="Journée", kind=UnitKind.DAY, price_cents=1000)
        self.period = PeriodFactory(activity=self.activity, start_date=dt.date(2026, 9, 1))
        self.group = GroupFactory(activity=self.activity, capacity=None)
        self.regie.activities.add(self.activity)
        make_grid(self.activity, {self.unit: 1000})
        self.sessions = {}

    def session(self, day, unit=None):
        unit = unit or self.unit
        key = (unit.pk, day)
        if key not in self.sessions:
            self.sessions[key] = SessionFactory(unit=unit, date=day)
        return self.sessions[key]

    def family(self, *, children=1, birth_date=dt.date(2018, 5, 14), activity=None, group=None):
        household, guardian, kids = make_family(children=children)
        for kid in kids:
            kid.birth_date = birth_date
            kid.save(update_fields=["birth_date"])
            EnrolmentFactory(
                child=kid,
                group=group or self.group,
                activity=activity or self.activity,
                period=self.period if activity is None else PeriodFactory(activity=activity),
                status=EnrolmentStatus.VALIDATED,
            )
        return household, guardian, kids

    def book(self, child, day, *, unit=None, late=False, legacy=False, **kwargs):
        """A booking priced the way the tick prices it: the tariff engine decides its price (and the late
        surcharge) with the household's facts of now, stored with its trail. legacy=True: a booking made
        before prices were decided at the tick (empty trail, the unit's base price)."""
        session = self.session(day, unit)
        if not legacy and "price_cents" not in kwargs:
            kwargs.update(decided_price(child, session, late=late))
        kwargs.setdefault("late", late)
        return make_booking(child, session, **kwargs)

    def run(self, month=NOVEMBER, **kwargs):
        kwargs.setdefault("issued_on", timezone.localdate())
        kwargs.setdefault("due_date", timezone.localdate() + dt.timedelta(days=30))
        return invoicing.run_month(self.regie, month, **kwargs)


def decided_price(child, session, *, late=False) -> dict:
    """What the tick stores on a booking (portail.bookings.pricing does the same): the engine's price with
    its trail; with no grid or no price, the unit's price and an empty trail (invoicing prices it then)."""
    from portail.billing.pricing import PricingError
    from portail.billing.tariffs import quote_booking

    try:
        quote = quote_booking(child=child, unit=session.unit, service_date=session.date, late=late)
    except PricingError:
        return {"price_cents": session.unit.price_cents, "price_trail": [], "late": late, "surcharge_cents": 0}
    return {
        "price_cents": quote.amount_cents,
        "price_trail": list(quote.trail),
        "late": late,
        "surcharge_cents": quote.surcharge_cents if late else 0,
    }


def absence(booking, status):
    return Absence.objects.create(
        booking=booking, household=booking.child.household, reason=AbsenceReason.ILLNESS, status=status
    )


def lines_of(household, month=NOVEMBER):
    invoice = Invoice.objects.get(household=household, month=month, run__isnull=False)
    return sorted((line.service_date, line.kind, line.amount_cents) for line in invoice.lines.all())


@pytest.fixture
def world():
    return World()


# --- What is billed ----------------------------------------------------------------------------------


def test_derivation_rules(world):
    household, guardian, (kid,) = world.family()
    world.book(kid, dt.date(2026, 10, 7))  # catch-up: older, never billed
    world.book(kid, dt.date(2026, 11, 4))  # billed
    absence(world.book(kid, dt.date(2026, 11, 18)), AbsenceStatus.BILLED)  # 50 %
    absence(world.book(kid, dt.date(2026, 11, 25)), AbsenceStatus.EXCUSED)  # not billed
    pending = world.book(kid, dt.date(2026, 11, 27))
    absence(pending, AbsenceStatus.PENDING)  # held back until decided
    world.book(kid, dt.date(2026, 11, 11), status=BookingStatus.CANCELLED)  # cancelled: not billed
    cancelled_session = world.book(kid, dt.date(2026, 11, 13))
    cancelled_session.session.is_cancelled = True
    cancelled_session.session.save(update_fields=["is_cancelled"])  # the town cancelled it: not billed
    world.book(kid, dt.date(2026, 12, 2))  # next month: waits
    # A prepaid activity of the same régie, and an invoiced one another régie collects: never here.
    prepaid = ActivityFactory(payment_mode=PaymentMode.PREPAID)
    prepaid_unit = UnitFactory(activity=prepaid, price_cents=700)
    world.regie.activities.add(prepaid)
    make_grid(prepaid, {prepaid_unit: 700})
    EnrolmentFactory(
        child=kid, group=GroupFactory(activity=prepaid), activity=prepaid, period=PeriodFactory(activity=prepaid)
    )
    world.book(kid, dt.date(2026, 11, 4), unit=prepaid_unit)
    elsewhere = ActivityFactory(payment_mode=PaymentMode.INVOICED)
    elsewhere_unit = UnitFactory(activity=elsewhere)
    make_grid(elsewhere, {elsewhere_unit: 900})
    EnrolmentFactory(
        child=kid, group=GroupFactory(activity=elsewhere), activity=elsewhere, period=PeriodFactory(activity=elsewhere)
    )
    world.book(kid, dt.date(2026, 11, 4), unit=elsewhere_unit)

    preview = invoicing.preview_month(world.regie, "2026-11")
    assert [d.household_id for d in preview.households] == [household.pk]
    assert preview.total_cents == 2500 and preview.lines_count == 3 and not preview.errors
    assert [w["date"] for w in preview.warnings] == ["2026-11-27"]

    run = world.run()
    assert (run.status, run.created, run.invoices_count, run.total_cents) == (RunStatus.DONE, 1, 1, 2500)
    assert lines_of(household) == [
        (dt.date(2026, 10, 7), LineKind.BOOKING, 1000),
        (dt.date(2026, 11, 4), LineKind.BOOKING, 1000),
        (dt.date(2026, 11, 18), LineKind.ABSENCE, 500),
    ]
    absence_line = InvoiceLine.objects.get(kind=LineKind.ABSENCE)
    assert absence_line.unit_price_cents == 1000 and absence_line.label.startswith("Absence facturée")
    assert any("50" in step for step in absence_line.trail)
    assert absence_line.child_name == kid.full_name and absence_line.activity_id == world.activity.pk

    # The pending absence, once decided "billed", is caught up by December's run; December's own booking too.
    Absence.objects.filter(booking=pending).update(status=AbsenceStatus.BILLED)
    world.run(DECEMBER)
    assert lines_of(household, DECEMBER) == [
        (dt.date(2026, 11, 27), LineKind.ABSENCE, 500),
        (dt.date(2026, 12, 2), LineKind.BOOKING, 1000),
    ]


def test_rerun_creates_nothing_and_never_bills_twice(world):
    households = []
    for _ in range(3):
        household, _g, (kid,) = world.family()
        world.book(kid, dt.date(2026, 11, 4))
        households.append(household)
    first = world.run()
    assert first.created == 3
    again = world.run()
    assert (again.created, again.invoices_count, again.status) == (0, 0, RunStatus.DONE)
    assert Invoice.objects.count() == 3 and InvoiceLine.objects.count() == 3
    assert invoicing.preview_month(world.regie, NOVEMBER).invoices_count == 0
    # A booking added to November after the run goes to December's invoice (catch-up), never twice.
    late = world.book(households[0].children.first(), dt.date(2026, 11, 30))
    assert world.run().created == 0
    world.run(DECEMBER)
    assert InvoiceLine.objects.get(booking=late).invoice.month == DECEMBER
    assert world.run(DECEMBER).created == 0


def test_invoice_snapshots_payer_and_issuer(world):
    household, guardian, (kid,) = world.family(birth_date=dt.date(2021, 3, 1))
    world.book(kid, dt.date(2026, 11, 4))
    run = world.run(due_date=timezone.localdate() + dt.timedelta(days=15))
    invoice = Invoice.objects.get()
    assert invoice.run == run and invoice.month == NOVEMBER and invoice.due_date == run.due_date
    assert invoice.payer["email"] == guardian.email
    assert invoice.payer["last_name"] == guardian.last_name and invoice.payer["city"] == guardian.city
    assert invoice.issuer["town"]["name"] == "Ville-Fleurie" and invoice.issuer["regie"]["code"] == "ENF"
    assert "deux mois" in invoice.issuer["recourse"]
    # The snapshot does not follow later changes of the guardian.
    guardian.email = "nouvelle@example.org"
    guardian.save()
    invoice.refresh_from_db()
    assert invoice.payer["email"] != "nouvelle@example.org"
    # A 5-year-old on 1 January in a care unit: eligible for the tax certificate.
    assert invoice.lines.get().childcare_eligible is True
    assert LogEntry.objects.filter(action="invoice.issued", object_id=str(invoice.pk)).exists()


def test_meals_and_older_children_are_not_childcare(world):
    canteen_unit = UnitFactory(activity=world.activity, name="Repas", kind=UnitKind.MEAL, price_cents=400)
    TariffPrice.objects.create(
        bracket=TariffBracket.objects.get(grid__activity=world.activity), unit=canteen_unit, price_cents=400
    )
    _h, _g, (young,) = world.family(birth_date=dt.date(2021, 3, 1))
    _h2, _g2, (older,) = world.family(birth_date=dt.date(2018, 5, 14))
    world.book(young, dt.date(2026, 11, 4), unit=canteen_unit)
    world.book(older, dt.date(2026, 11, 4))
    world.run()
    assert not InvoiceLine.objects.filter(childcare_eligible=True).exists()


# --- Prices decided at the tick ----------------------------------------------------------------------


def quotient(household, value):
    from portail.households.models import FamilyQuotient

    FamilyQuotient.objects.filter(household=household).delete()
    FamilyQuotient.objects.create(
        household=household, value=value, valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31)
    )


def test_a_booking_is_billed_at_the_price_decided_at_the_tick(world):
    """The household's quotient changes after the tick: the booking keeps its price and its trail; a
    billed absence is the grid's percent of that price; only a booking from before prices were decided
    at the tick (empty trail) is priced at invoicing, with the facts of then."""
    TariffGrid.objects.filter(activity=world.activity).delete()
    grid = TariffGrid.objects.create(
        activity=world.activity, name="Deux tranches", valid_from=dt.date(2026, 9, 1), billed_absence_percent=50
    )
    low = TariffBracket.objects.create(grid=grid, min_quotient=0, max_quotient=1000)
    high = TariffBracket.objects.create(grid=grid, min_quotient=1000, max_quotient=None)
    TariffPrice.objects.create(bracket=low, unit=world.unit, price_cents=600)
    TariffPrice.objects.create(bracket=high, unit=world.unit, price_cents=1000)
    household, _g, (kid,) = world.family()
    quotient(household, 800)
    booked = world.book(kid, dt.date(2026, 11, 4))
    absent = world.book(kid, dt.date(2026, 11, 18))
    absence(absent, AbsenceStatus.BILLED)
    world.book(kid, dt.date(2026, 11, 25), legacy=True)
    assert booked.price_cents == 600 and any("QF 0 – 1000" in step for step in booked.price_trail)

    quotient(household, 1500)  # after the tick
    world.run()
    assert lines_of(household) == [
        (dt.date(2026, 11, 4), LineKind.BOOKING, 600),
        (dt.date(2026, 11, 18), LineKind.ABSENCE, 300),
        (dt.date(2026, 11, 25), LineKind.BOOKING, 1000),  # older data: priced now
    ]
    line = InvoiceLine.objects.get(booking=booked)
    assert line.unit_price_cents == 600 and line.trail == booked.price_trail
    absence_line = InvoiceLine.objects.get(booking=absent)
    assert absence_line.unit_price_cents == 600 and "Absence facturée : 50 % du prix réservé" in absence_line.trail


def test_a_late_booking_gives_a_line_and_a_penalty_line_left_out_of_childcare(world):
    TariffGrid.objects.filter(activity=world.activity).update(late_booking_surcharge_cents=300)
    household, _g, (kid,) = world.family(birth_date=dt.date(2021, 3, 1))  # under 6: childcare
    late = world.book(kid, dt.date(2026, 11, 4), late=True)
    assert (late.price_cents, late.surcharge_cents) == (1300, 300)
    world.book(kid, dt.date(2026, 11, 18), legacy=True, late=True)  # older data flagged late: split too
    world.book(kid, dt.date(2026, 11, 25))  # on time

    preview = invoicing.preview_month(world.regie, NOVEMBER)
    assert preview.total_cents == 3600 and preview.lines_count == 5
    world.run()
    invoice = Invoice.objects.get(household=household)
    assert invoice.total_cents == 3600
    rows = sorted(
        (line.service_date, line.kind, line.amount_cents, line.childcare_eligible, line.booking_id)
        for line in invoice.lines.all()
    )
    assert rows[:2] == [
        (dt.date(2026, 11, 4), LineKind.BOOKING, 1000, True, late.pk),
        (dt.date(2026, 11, 4), LineKind.LATE, 300, False, None),
    ]
    assert [r[1:4] for r in rows[2:]] == [
        (LineKind.BOOKING, 1000, True),
        (LineKind.LATE, 300, False),
        (LineKind.BOOKING, 1000, True),
    ]
    penalty = invoice.lines.filter(kind=LineKind.LATE).first()
    assert penalty.label.startswith("Majoration hors délai") and penalty.child_id == kid.pk
    assert penalty.trail == ["Réservation hors délai : +3,00 €"]


# --- Errors ------------------------------------------------------------------------------------------


def test_a_child_with_no_tariff_blocks_only_its_household(world):
    ok_household, _g, (ok_kid,) = world.family()
    world.book(ok_kid, dt.date(2026, 11, 4))
    untariffed = ActivityFactory(name="Périscolaire", payment_mode=PaymentMode.INVOICED)
    evening = UnitFactory(activity=untariffed, name="Soir", kind=UnitKind.EVENING)
    world.regie.activities.add(untariffed)
    blocked, _g2, (blocked_kid,) = world.family()
    EnrolmentFactory(
        child=blocked_kid,
        group=GroupFactory(activity=untariffed),
        activity=untariffed,
        period=PeriodFactory(activity=untariffed),
    )
    world.book(blocked_kid, dt.date(2026, 11, 4))
    world.book(blocked_kid, dt.date(2026, 11, 5), unit=evening)

    preview = invoicing.preview_month(world.regie, NOVEMBER)
    assert [d.household_id for d in preview.households] == [ok_household.pk]
    assert [d.household_id for d in preview.blocked] == [blocked.pk]
    (error,) = preview.errors
    assert error["household"] == blocked.reference and error["kind"] == "tariff" and "Périscolaire" in error["message"]
    assert error["date"] == "2026-11-05" and error["child"] == blocked_kid.full_name

    run = world.run()
    assert run.created == 1 and run.status == RunStatus.DONE
    assert [e["household_id"] for e in run.errors] == [blocked.pk]
    assert not Invoice.objects.filter(household=blocked).exists()

    # Tariff fixed: the re-run invoices the blocked household, and only it.
    make_grid(untariffed, {evening: 250})
    rerun = world.run()
    assert rerun.created == 1 and not rerun.errors
    assert lines_of(blocked) == [
        (dt.date(2026, 11, 4), LineKind.BOOKING, 1000),
        (dt.date(2026, 11, 5), LineKind.BOOKING, 250),
    ]


def test_issue_dates_are_checked(world):
    today = timezone.localdate()
    with pytest.raises(BillingError, match="futur"):
        world.run(issued_on=today + dt.timedelta(days=1))
    with pytest.raises(BillingError, match="précéder"):
        world.run(due_date=today - dt.timedelta(days=1))
    household, _g, (kid,) = world.family()
    world.book(kid, dt.date(2026, 11, 4))
    world.run()
    with pytest.raises(BillingError, match="chronologique"):
        world.run(DECEMBER, issued_on=today - dt.timedelta(days=1))
    with pytest.raises(BillingError, match="AAAA-MM"):
        invoicing.month_start("novembre")


# --- Numbering ---------------------------------------------------------------------------------------


def test_numbers_are_gapless_per_regie_and_year(world):
    other = World(code="SPO", town=world.town)
    for w in (world, world, world, other, other):
        _h, _g, (kid,) = w.family()
        w.book(kid, dt.date(2026, 11, 4))
    world.run()
    other.run()
    year = timezone.localdate().year
    assert sorted(Invoice.objects.filter(regie=world.regie).values_list("number", flat=True)) == [
        f"FENF{year}{n:06d}" for n in (1, 2, 3)
    ]
    assert sorted(Invoice.objects.filter(regie=other.regie).values_list("number", flat=True)) == [
        f"FSPO{year}{n:06d}" for n in (1, 2)
    ]
    assert all(NUMBER.match(n) for n in Invoice.objects.values_list("number", flat=True))
    # Each year and each series starts at 1.
    with transaction.atomic():
        assert numbering.next_number(world.regie, 2031, SeriesKind.INVOICE) == "FENF2031000001"
        assert numbering.next_number(world.regie, 2031, SeriesKind.INVOICE) == "FENF2031000002"
        assert numbering.next_number(world.regie, 2031, SeriesKind.CREDIT_NOTE) == "AENF2031000001"
        assert numbering.next_number(world.regie, 2032, SeriesKind.INVOICE) == "FENF2032000001"


def test_next_number_without_update_returning(world, monkeypatch):
    """Databases without UPDATE … RETURNING lock the counter row with SELECT … FOR UPDATE instead."""
    connection = transaction.get_connection()
    if connection.vendor != "sqlite":
        # Turning the feature off on PostgreSQL also breaks the ORM's own inserts (psycopg has no lastrowid).
        pytest.skip("the fallback is exercised on SQLite, which can run without RETURNING")
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    with transaction.atomic():
        assert numbering.next_number(world.regie, 2031, SeriesKind.INVOICE) == "FENF2031000001"
        assert numbering.next_number(world.regie, 2031, SeriesKind.INVOICE) == "FENF2031000002"
    monkeypatch.undo()
    with transaction.atomic():
        assert numbering.next_number(world.regie, 2031, SeriesKind.INVOICE) == "FENF2031000003"


@pytest.mark.django_db(transaction=True)
def test_next_number_refuses_to_run_outside_a_transaction():
    regie = RegieFactory(code="OUT")
    with pytest.raises(RuntimeError, match="inside the transaction"):
        numbering.next_number(regie, 2026, SeriesKind.INVOICE)
    assert not DocumentCounter.objects.exists()


def test_a_failure_rolls_back_that_household_and_its_number(world, monkeypatch):
    households = []
    for _ in range(5):
        household, _g, (kid,) = world.family()
        world.book(kid, dt.date(2026, 11, 4))
        households.append(household)
    failing = households[2]
    create_lines = invoicing._create_lines

    def crash_for_one(invoice, lines):
        if invoice.household_id == failing.pk:
            raise RuntimeError("disk full")  # after the number was taken and the invoice created
        return create_lines(invoice, lines)

    monkeypatch.setattr(invoicing, "_create_lines", crash_for_one)
    run = world.run()
    assert run.created == 4 and run.status == RunStatus.FAILED
    assert [(e["household_id"], e["kind"]) for e in run.errors] == [(failing.pk, "technical")]
    year = timezone.localdate().year
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"FENF{year}{n:06d}" for n in range(1, 5)]  # no gap: the failed number was given back
    assert DocumentCounter.objects.get(series=SeriesKind.INVOICE).last_number == 4
    assert not Invoice.objects.filter(household=failing).exists()
    assert not InvoiceLine.objects.filter(booking__child__household=failing).exists()

    monkeypatch.setattr(invoicing, "_create_lines", create_lines)
    rerun = world.run()
    assert rerun.created == 1 and rerun.status == RunStatus.DONE
    assert Invoice.objects.get(household=failing).number == f"FENF{year}000005"


def test_an_interrupted_run_is_marked_failed_and_completed(world):
    for _ in range(2):
        _h, _g, (kid,) = world.family()
        world.book(kid, dt.date(2026, 11, 4))
    dead = invoicing.start_run(
        world.regie, NOVEMBER, issued_on=timezone.localdate(), due_date=timezone.localdate()
    )  # a process that died after starting
    run = world.run()
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and run.created == 2


def test_overlapping_issuers_never_invoice_a_household_twice(world):
    household, _g, (kid,) = world.family()
    world.book(kid, dt.date(2026, 11, 4))
    run = invoicing.start_run(world.regie, NOVEMBER, issued_on=timezone.localdate(), due_date=timezone.localdate())
    first = invoicing.issue_households(run, [household.pk])
    second = invoicing.issue_households(run, [household.pk])
    assert (first.created, second.created) == (1, 0)
    assert DocumentCounter.objects.get().last_number == 1


# --- Immutability ------------------------------------------------------------------------------------


def test_issued_invoices_cannot_be_edited_nor_deleted(world):
    _h, _g, (kid,) = world.family()
    world.book(kid, dt.date(2026, 11, 4))
    world.run()
    invoice = Invoice.objects.get()
    line = invoice.lines.get()
    invoice.total_cents = 1
    with pytest.raises(ValidationError):
        invoice.save()
    with pytest.raises(ValidationError):
        invoice.save(update_fields=["total_cents"])
    with pytest.raises(ValidationError):
        invoice.delete()
    with pytest.raises(ValidationError):
        line.save()
    with pytest.raises(ValidationError):
        line.delete()
    with pytest.raises(ProtectedError):
        Invoice.objects.filter(pk=invoice.pk).delete()  # bulk delete: its lines protect it
    invoice.refresh_from_db()
    invoice.emailed_at = timezone.now()
    invoice.save(update_fields=["emailed_at"])  # bookkeeping fields only
    assert Invoice.objects.get().total_cents == 1000


# --- Credit notes ------------------------------------------------------------------------------------


@pytest.fixture
def invoiced(world):
    household, _g, (kid,) = world.family()
    for day in (4, 18, 25):
        world.book(kid, dt.date(2026, 11, day))
    world.run()
    return Invoice.objects.get(household=household)


def test_credit_note_on_an_unpaid_invoice_reduces_what_is_due(world, invoiced, django_user_model):
    actor = django_user_model.objects.create(email="regie@example.org", is_staff=True)
    line = invoiced.lines.order_by("service_date").first()
    note = credit_notes.issue_credit_note(
        invoice=invoiced, lines=[(line, 1000)], reason="Absence justifiée", actor=actor
    )
    year = timezone.localdate().year
    assert note.number == f"AENF{year}000001" and note.total_cents == 1000 and note.reason == "Absence justifiée"
    assert NUMBER.match(note.number)
    assert [(cl.invoice_line_id, cl.amount_cents) for cl in note.lines.all()] == [(line.pk, 1000)]
    payment = note.payment
    assert (payment.means, payment.status, payment.amount_cents, payment.label) == (
        Means.CREDIT_NOTE,
        PaymentStatus.PAID,
        1000,
        f"Avoir {note.number}",
    )
    assert payment.paid_at is not None and payment.receipt_number == ""
    allocation = Allocation.objects.get(payment=payment)
    assert (allocation.kind, allocation.invoice, allocation.amount_cents) == (AllocationKind.INVOICE, invoiced, 1000)
    assert selectors.invoice_due_cents(invoiced) == 2000
    assert household_account(invoiced.household, with_payments=False).credit_cents == 0
    assert LogEntry.objects.filter(action="credit_note.issued", object_id=str(note.pk), actor=actor).exists()
    # Invoice numbers and credit-note numbers are separate series.
    assert DocumentCounter.objects.get(series=SeriesKind.INVOICE).last_number == 1


def test_credit_note_limits(world, invoiced):
    line = invoiced.lines.order_by("service_date").first()
    with pytest.raises(BillingError, match="motif"):
        credit_notes.issue_credit_note(invoice=invoiced, amount_cents=100, reason=" ", actor=None)
    with pytest.raises(BillingError, match="soit un montant"):
        credit_notes.issue_credit_note(invoice=invoiced, reason="x", actor=None)
    with pytest.raises(BillingError, match="supérieur à zéro"):
        credit_notes.issue_credit_note(invoice=invoiced, amount_cents=0, reason="x", actor=None)
    with pytest.raises(BillingError, match="ligne"):
        credit_notes.issue_credit_note(invoice=invoiced, lines=[(line, 1001)], reason="x", actor=None)
    with pytest.raises(BillingError, match="30,00 €"):
        credit_notes.issue_credit_note(invoice=invoiced, amount_cents=3001, reason="x", actor=None)
    credit_notes.issue_credit_note(invoice=invoiced, lines=[(line, 600)], reason="x", actor=None)
    with pytest.raises(BillingError, match="4,00 €"):
        credit_notes.issue_credit_note(invoice=invoiced, lines=[(line, 500)], reason="x", actor=None)
    credit_notes.issue_credit_note(invoice=invoiced, amount_cents=2400, reason="x", actor=None)
    with pytest.raises(BillingError, match="0,00 €"):
        credit_notes.issue_credit_note(invoice=invoiced, amount_cents=1, reason="x", actor=None)
    other_line = InvoiceLine.objects.exclude(invoice=invoiced).first()
    assert other_line is None  # only one invoice in this world: a foreign line id is refused
    with pytest.raises(BillingError, match="n'appartient pas"):
        credit_notes.issue_credit_note(invoice=invoiced, lines=[(999999, 100)], reason="x", actor=None)
    assert sorted(CreditNote.objects.values_list("number", flat=True))[-1].endswith("000002")
    assert selectors.invoice_due_cents(invoiced) == 0


def test_credit_on_a_paid_invoice_becomes_credit_applied_to_the_next_invoice(world, invoiced):
    paid = PaymentFactory(regie=world.regie, household=invoiced.household, amount_cents=3000)
    Allocation.objects.create(
        payment=paid, kind=AllocationKind.INVOICE, amount_cents=3000, label="Facture", invoice=invoiced
    )
    assert selectors.invoice_due_cents(invoiced) == 0
    note = credit_notes.issue_credit_note(invoice=invoiced, amount_cents=1500, reason="Erreur", actor=None)
    assert note.applied_cents == 0 and not Allocation.objects.filter(payment=note.payment).exists()
    assert household_account(invoiced.household, with_payments=False).credit_cents == 1500

    kid = invoiced.household.children.get()
    world.book(kid, dt.date(2026, 12, 2))  # 10 €: fully paid by the credit
    world.book(kid, dt.date(2026, 12, 9))  # 10 €: 5 € paid by the credit
    world.run(DECEMBER)
    december = selectors.household_invoices(invoiced.household).get(month=DECEMBER)
    assert (december.total_cents, december.paid_cents, december.due_cents) == (2000, 1500, 500)
    assert household_account(invoiced.household, with_payments=False).credit_cents == 0


def test_a_transferred_invoice_is_not_corrected_by_a_credit_note(invoiced):
    invoiced.transferred_at = timezone.now()
    invoiced.save(update_fields=["transferred_at"])
    with pytest.raises(BillingError, match="Trésor public"):
        credit_notes.issue_credit_note(invoice=invoiced, amount_cents=100, reason="x", actor=None)
    assert (
        not CreditNote.objects.exists() and not DocumentCounter.objects.filter(series=SeriesKind.CREDIT_NOTE).exists()
    )


# --- One-off invoices --------------------------------------------------------------------------------


def test_one_off_invoice_is_issued_at_once_with_its_own_number(world):
    household, _g, (kid,) = world.family()
    world.book(kid, dt.date(2026, 11, 4))
    invoice = invoicing.issue_one_off_invoice(
        regie=world.regie,
        household=household,
        label="Remplacement d'un badge perdu",
        amount_cents=500,
        actor=None,
        due_date=timezone.localdate() + dt.timedelta(days=30),
        child=kid,
    )
    year = timezone.localdate().year
    assert invoice.number == f"FENF{year}000001" and invoice.run is None and invoice.total_cents == 500
    line = invoice.lines.get()
    assert (line.kind, line.amount_cents, line.child_name, line.booking) == (LineKind.MANUAL, 500, kid.full_name, None)
    # The monthly run still invoices November (the one-off invoice is not the month's invoice).
    run = world.run()
    assert run.created == 1
    assert Invoice.objects.get(run=run).number == f"FENF{year}000002"
    with pytest.raises(BillingError, match="supérieur à zéro"):
        invoicing.issue_one_off_invoice(
            regie=world.regie, household=household, label="x", amount_cents=0, actor=None, due_date=timezone.localdate()
        )
    other_kid = ChildFactory()
    with pytest.raises(BillingError, match="n'appartient pas"):
        invoicing.issue_one_off_invoice(
            regie=world.regie,
            household=household,
            label="x",
            amount_cents=100,
            actor=None,
            due_date=timezone.localdate(),
            child=other_kid,
        )


# --- Selectors ---------------------------------------------------------------------------------------


def test_selectors(world, invoiced, django_assert_max_num_queries):
    other, _g, (other_kid,) = world.family()
    world.book(other_kid, dt.date(2026, 11, 4))
    world.run()
    PaymentFactory(regie=world.regie, household=invoiced.household, amount_cents=1200)
    Allocation.objects.create(
        payment=Payment.objects.get(household=invoiced.household),
        kind=AllocationKind.INVOICE,
        amount_cents=1200,
        label="Facture",
        invoice=invoiced,
    )
    with django_assert_max_num_queries(1):
        rows = list(selectors.household_invoices(invoiced.household))
    assert [(r.number, r.paid_cents, r.due_cents, r.credited_cents) for r in rows] == [(invoiced.number, 1200, 1800, 0)]
    assert selectors.invoice_due_cents(invoiced) == 1800
    assert selectors.household_due_cents(invoiced.household) == 1800
    with django_assert_max_num_queries(4):
        detail = selectors.invoice_for_household(invoiced.household, invoiced.pk)
        assert len(detail.lines.all()) == 3 and len(detail.paid_allocations) == 1
    other_invoice = Invoice.objects.get(household=other)
    with pytest.raises(Http404):
        selectors.invoice_for_household(invoiced.household, other_invoice.pk)


# --- Query budget ------------------------------------------------------------------------------------

FIXED_QUERIES = 30
# Per batch of households (invoicing.BATCH in one transaction): counter UPDATE … RETURNING (a block of
# numbers), invoices, lines, audit entries; in a test the batch's transaction is a savepoint, so
# SAVEPOINT and RELEASE are counted too (6 in all). A batch of one household costs the same.
PER_BATCH = 6


@pytest.mark.parametrize(("households", "batch"), [(1, 50), (20, 50), (20, 7)])
def test_queries_per_batch_are_bounded(world, households, batch, monkeypatch):
    monkeypatch.setattr(invoicing, "BATCH", batch)
    for n in range(households):
        _h, _g, kids = world.family(children=1 + n % 2)
        for kid in kids:
            for day in (4, 18, 25):
                world.book(kid, dt.date(2026, 11, day))
    with CaptureQueriesContext(transaction.get_connection()) as queries:
        run = world.run()
    assert run.created == households
    batches = -(-households // batch)
    print(f"{households} household(s), batches of {batch}: {len(queries)} queries")
    assert len(queries) <= FIXED_QUERIES + PER_BATCH * batches, len(queries)
    counter_updates = [q for q in queries if "UPDATE" in q["sql"] and "billing_documentcounter" in q["sql"]]
    assert len(counter_updates) == batches + 1  # a block per batch (+1: the first finds no row of the year yet)
    year = timezone.localdate().year
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [
        f"FENF{year}{n:06d}" for n in range(1, households + 1)
    ]


def test_a_failing_household_in_a_batch_costs_no_gap_and_no_other_invoice(world, monkeypatch):
    """A batch that fails is rolled back whole (its block of numbers too) and issued again one household
    per transaction: only the failing household is left out, the numbers stay 1..N."""
    monkeypatch.setattr(invoicing, "BATCH", 4)
    households = []
    for _ in range(10):
        household, _g, (kid,) = world.family()
        world.book(kid, dt.date(2026, 11, 4))
        households.append(household)
    failing = households[5]  # in the second batch
    create_lines = invoicing._create_lines

    def crash_for_one(invoice, lines):
        if invoice.household_id == failing.pk:
            raise RuntimeError("disk full")
        return create_lines(invoice, lines)

    monkeypatch.setattr(invoicing, "_create_lines", crash_for_one)
    run = world.run()
    assert run.created == 9 and [e["household_id"] for e in run.errors] == [failing.pk]
    year = timezone.localdate().year
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [f"FENF{year}{n:06d}" for n in range(1, 10)]
    assert DocumentCounter.objects.get(series=SeriesKind.INVOICE).last_number == 9
    assert InvoiceLine.objects.count() == 9
    assert LogEntry.objects.filter(action="invoice.issued").count() == 9
    monkeypatch.setattr(invoicing, "_create_lines", create_lines)
    assert world.run().created == 1
    assert Invoice.objects.get(household=failing).number == f"FENF{year}000010"


def test_next_numbers_takes_a_block(world):
    with transaction.atomic():
        assert numbering.next_numbers(world.regie, 2031, SeriesKind.INVOICE, 3) == [
            f"FENF2031{n:06d}" for n in (1, 2, 3)
        ]
        assert numbering.next_number(world.regie, 2031, SeriesKind.INVOICE) == "FENF2031000004"
    with pytest.raises(ValueError), transaction.atomic():
        numbering.next_numbers(world.regie, 2031, SeriesKind.INVOICE, 0)


# --- The command -------------------------------------------------------------------------------------


def test_invoice_month_command(world, capsys):
    _h, _g, (kid,) = world.family()
    world.book(kid, dt.date(2026, 11, 4))
    call_command("invoice_month", "ENF", "2026-11", "--preview")
    assert "1 facture(s)" in capsys.readouterr().out
    call_command("invoice_month", "ENF", "2026-11")
    assert "1 facture(s) émise(s) pour 10,00 €" in capsys.readouterr().out
    call_command("invoice_month", "ENF", "2026-11")
    assert "0 facture(s) émise(s)" in capsys.readouterr().out
    assert InvoicingRun.objects.count() == 2
    call_command("invoice_month", "ENF", "2026-11", "--send-emails")
    assert "1 facture(s) de novembre 2026 envoyée(s)" in capsys.readouterr().out
    assert len(mail.outbox) == 1 and Invoice.objects.get().emailed_at is not None
    call_command("invoice_month", "ENF", "2026-11", "--send-emails")
    assert "0 facture(s)" in capsys.readouterr().out and len(mail.outbox) == 1


def test_invoices_are_emailed_after_each_commit(world, django_capture_on_commit_callbacks):
    _h, guardian, (kid,) = world.family()
    world.book(kid, dt.date(2026, 11, 4))
    with django_capture_on_commit_callbacks(execute=True):
        world.run()
    (message,) = mail.outbox
    invoice = Invoice.objects.get()
    assert message.to == [guardian.email] and invoice.number in message.subject
    with django_capture_on_commit_callbacks(execute=True):
        world.run(notify=False)
    assert len(mail.outbox) == 1
