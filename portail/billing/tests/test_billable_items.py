"""Billable items that are not bookings: unexpected presences (recorded by staff, priced once) and flat
fees per period (derived by the invoicing run of the month the period starts), and the staff page."""

import datetime as dt

import pytest
from django.urls import reverse

from portail.accounts import roles
from portail.billing import invoicing
from portail.billing.billable_items import cancel_unexpected_presence, record_unexpected_presence
from portail.billing.errors import BillingError
from portail.billing.models import BillableItem, BillableItemKind, Invoice, InvoiceLine, LineKind, TariffGrid
from portail.bookings.models import BookingStatus
from portail.core.models import LogEntry
from portail.enrolments.models import EnrolmentStatus
from portail.enrolments.tests.factories import EnrolmentFactory
from tests.factories import PeriodFactory
from tests.payment_factories import payment_staff

from .test_invoicing import DECEMBER, NOVEMBER, World, lines_of, quotient

pytestmark = pytest.mark.django_db

JANUARY = dt.date(2027, 1, 1)


@pytest.fixture
def world():
    world = World()
    # Presence charge 2 €; two brackets so that a quotient change would show.
    TariffGrid.objects.filter(activity=world.activity).update(unexpected_presence_cents=200)
    return world


# --- Unexpected presences ----------------------------------------------------------------------------


def test_an_unexpected_presence_is_priced_once_audited_and_billed_once(world):
    household, _g, (kid,) = world.family()
    quotient(household, 800)
    session = world.session(dt.date(2026, 11, 4))
    item = record_unexpected_presence(child=kid, session=session, actor=None, channel="staff")
    assert (item.kind, item.household_id, item.activity_id, item.unit_id) == (
        BillableItemKind.PRESENCE,
        household.pk,
        world.activity.pk,
        world.unit.pk,
    )
    assert (item.unit_price_cents, item.amount_cents, item.surcharge_cents, item.service_date) == (
        1000,
        1200,
        200,
        session.date,
    )
    assert "Présence non réservée : +2,00 €" in item.trail
    assert LogEntry.objects.filter(action="billable_item.presence_recorded", object_id=str(item.pk)).exists()

    # The grid changes after the presence was recorded: the item keeps its price.
    TariffGrid.objects.filter(activity=world.activity).update(unexpected_presence_cents=900)
    world.book(kid, dt.date(2026, 11, 18))
    preview = invoicing.preview_month(world.regie, NOVEMBER)
    assert preview.total_cents == 2200 and preview.lines_count == 3
    world.run()
    assert sorted(lines_of(household)) == [
        (dt.date(2026, 11, 4), LineKind.PRESENCE, 200),
        (dt.date(2026, 11, 4), LineKind.PRESENCE, 1000),
        (dt.date(2026, 11, 18), LineKind.BOOKING, 1000),
    ]
    line = InvoiceLine.objects.get(kind=LineKind.PRESENCE, billable_item__isnull=False)
    assert line.billable_item_id == item.pk and line.label.startswith("Présence non réservée")
    assert line.trail == item.trail
    # The presence charge is a penalty: its own line, left out of the attestation fiscale.
    charge = InvoiceLine.objects.get(kind=LineKind.PRESENCE, billable_item__isnull=True)
    assert charge.label.startswith("Majoration – Présence non réservée") and not charge.childcare_eligible
    assert world.run().created == 0
    world.run(DECEMBER)
    assert InvoiceLine.objects.filter(billable_item=item).count() == 1


def test_a_presence_of_next_month_waits_and_a_late_one_is_caught_up(world):
    household, _g, (kid,) = world.family()
    record_unexpected_presence(child=kid, session=world.session(dt.date(2026, 12, 2)), actor=None)
    assert invoicing.candidate_household_ids(world.regie, NOVEMBER) == []
    world.run()
    assert not Invoice.objects.exists()
    record_unexpected_presence(child=kid, session=world.session(dt.date(2026, 11, 27)), actor=None)
    world.run(DECEMBER)  # November's presence recorded late: billed with December
    assert sorted(lines_of(household, DECEMBER)) == [
        (dt.date(2026, 11, 27), LineKind.PRESENCE, 200),  # the presence charge, on its own line
        (dt.date(2026, 11, 27), LineKind.PRESENCE, 1000),
        (dt.date(2026, 12, 2), LineKind.PRESENCE, 200),
        (dt.date(2026, 12, 2), LineKind.PRESENCE, 1000),
    ]


def test_a_presence_is_refused_when_booked_cancelled_recorded_or_untariffed(world):
    _h, _g, (kid,) = world.family()
    booked = world.book(kid, dt.date(2026, 11, 4))
    with pytest.raises(BillingError, match="déjà une réservation") as refusal:
        record_unexpected_presence(child=kid, session=booked.session, actor=None)
    assert refusal.value.code == "already_booked"
    # A cancelled booking does not hold the place: the presence is unexpected.
    booked.status = BookingStatus.CANCELLED
    booked.save(update_fields=["status"])
    record_unexpected_presence(child=kid, session=booked.session, actor=None)
    with pytest.raises(BillingError, match="déjà enregistrée"):
        record_unexpected_presence(child=kid, session=booked.session, actor=None)
    cancelled = world.session(dt.date(2026, 11, 5))
    cancelled.is_cancelled = True
    cancelled.save(update_fields=["is_cancelled"])
    with pytest.raises(BillingError, match="annulée"):
        record_unexpected_presence(child=kid, session=cancelled, actor=None)
    TariffGrid.objects.all().delete()
    with pytest.raises(BillingError, match="Aucune grille") as refusal:
        record_unexpected_presence(child=kid, session=world.session(dt.date(2026, 11, 6)), actor=None)
    assert refusal.value.code == "no_tariff"
    assert BillableItem.objects.count() == 1


# --- Flat fees per period ------------------------------------------------------------------------------


@pytest.fixture
def trimester(world):
    """The activity is paid by the trimester (flat fee 45 €) from 1 November; the second trimester
    starts on 4 January. The world's own period (from 1 September) has no flat fee: its grid had none."""
    old = TariffGrid.objects.get(activity=world.activity)
    old.valid_until = dt.date(2026, 10, 31)
    old.save(update_fields=["valid_until"])
    from .test_invoicing import make_grid

    make_grid(world.activity, {world.unit: 1000}, valid_from=dt.date(2026, 11, 1))
    TariffGrid.objects.filter(activity=world.activity, valid_from=dt.date(2026, 11, 1)).update(flat_fee_cents=4500)
    world.first = PeriodFactory(
        activity=world.activity, name="Trimestre 1", start_date=dt.date(2026, 11, 2), end_date=dt.date(2026, 12, 18)
    )
    world.second = PeriodFactory(
        activity=world.activity, name="Trimestre 2", start_date=dt.date(2027, 1, 4), end_date=dt.date(2027, 3, 26)
    )
    return world


def enrol(world, kid, period, status=EnrolmentStatus.VALIDATED):
    return EnrolmentFactory(child=kid, activity=world.activity, period=period, group=world.group, status=status)


def test_a_flat_fee_is_billed_once_per_enrolment_and_period_instead_of_sessions(trimester):
    world = trimester
    household, _g, (kid,) = world.family(birth_date=dt.date(2021, 3, 1))
    first = enrol(world, kid, world.first)
    enrol(world, kid, world.second)
    world.book(kid, dt.date(2026, 10, 28))  # before the flat fee: billed per session
    world.book(kid, dt.date(2026, 11, 4))  # within the trimester: in the flat fee
    world.book(kid, dt.date(2026, 11, 18))
    other, _g2, (other_kid,) = world.family()
    enrol(world, other_kid, world.first, status=EnrolmentStatus.REQUESTED)  # not validated: no fee

    preview = invoicing.preview_month(world.regie, NOVEMBER)
    assert [d.household_id for d in preview.households] == [household.pk]
    assert preview.total_cents == 5500 and not BillableItem.objects.exists()  # a preview writes nothing

    world.run()
    assert lines_of(household) == [
        (dt.date(2026, 10, 28), LineKind.BOOKING, 1000),
        (dt.date(2026, 11, 2), LineKind.FLAT_FEE, 4500),
    ]
    item = BillableItem.objects.get()
    assert (item.kind, item.enrolment_id, item.period_id, item.amount_cents) == (
        BillableItemKind.FLAT_FEE,
        first.pk,
        world.first.pk,
        4500,
    )
    line = InvoiceLine.objects.get(kind=LineKind.FLAT_FEE)
    assert line.billable_item_id == item.pk and "Trimestre 1" in line.label
    assert "séances ne sont pas facturées une à une" in line.label and line.childcare_eligible
    assert "Forfait par période : 45,00 €" in line.trail
    assert not Invoice.objects.filter(household=other).exists()

    # Re-run and next month: nothing more (the sessions are in the fee, the fee is billed).
    assert world.run().created == 0
    world.book(kid, dt.date(2026, 12, 2))
    assert world.run(DECEMBER).created == 0
    # January: the second trimester starts, its fee is billed.
    world.run(JANUARY)
    assert lines_of(household, JANUARY) == [(dt.date(2027, 1, 4), LineKind.FLAT_FEE, 4500)]
    assert BillableItem.objects.filter(kind=BillableItemKind.FLAT_FEE).count() == 2


def test_an_enrolment_validated_after_its_period_began_is_caught_up(trimester):
    world = trimester
    household, _g, (kid,) = world.family()
    world.run()
    enrol(world, kid, world.first)  # validated in December for the trimester begun in November
    world.run(DECEMBER)
    assert lines_of(household, DECEMBER) == [(dt.date(2026, 11, 2), LineKind.FLAT_FEE, 4500)]


# --- The staff page -----------------------------------------------------------------------------------


def test_staff_record_an_unexpected_presence_from_the_day_list(client, world):
    household, _g, (kid,) = world.family()
    session = world.session(dt.date(2026, 11, 4))
    url = reverse("backoffice:billing_presence_new", args=[household.pk])

    client.force_login(payment_staff(roles.MANAGER))  # reads invoices, does not bill
    assert client.get(url).status_code == 403
    client.force_login(payment_staff(roles.CASHIER))
    page = client.get(url, {"jour": "2026-11-04"})
    assert page.status_code == 200
    content = page.content.decode()
    assert "Pommiers mercredis – Journée" in content and kid.first_name in content

    response = client.post(url, {"jour": "2026-11-04", "enfant": kid.pk, "seance": session.pk})
    assert response.status_code == 302
    item = BillableItem.objects.get()
    assert item.child_id == kid.pk and item.session_id == session.pk and item.created_by is not None

    again = client.post(url, {"jour": "2026-11-04", "enfant": kid.pk, "seance": session.pk})
    assert again.status_code == 400 and "déjà enregistrée" in again.content.decode()
    other_day = world.session(dt.date(2026, 11, 18))
    wrong = client.post(url, {"jour": "2026-11-04", "enfant": kid.pk, "seance": other_day.pk})
    assert wrong.status_code == 400 and BillableItem.objects.count() == 1


def test_a_presence_recorded_by_mistake_is_removed_before_invoicing_with_a_reason(client, world):
    household, _g, (kid,) = world.family()
    other, _g2, (other_kid,) = world.family()
    item = record_unexpected_presence(child=kid, session=world.session(dt.date(2026, 11, 4)), actor=None)
    foreign = record_unexpected_presence(child=other_kid, session=world.session(dt.date(2026, 11, 4)), actor=None)
    client.force_login(payment_staff(roles.CASHIER))
    page = client.get(reverse("backoffice:billing_household_invoices", args=[household.pk])).content.decode()
    assert "Présences non réservées à facturer" in page and "Retirer la présence" in page
    url = reverse("backoffice:billing_presence_cancel", args=[household.pk, item.pk])

    assert client.get(url).status_code == 405
    # Another household's presence through this household's URL: 404, nothing removed.
    foreign_url = reverse("backoffice:billing_presence_cancel", args=[household.pk, foreign.pk])
    assert client.post(foreign_url, {"motif": "x"}).status_code == 404
    client.post(url, {"motif": ""})
    assert BillableItem.objects.filter(pk=item.pk).exists()  # a reason is required

    client.post(url, {"motif": "Enfant confondu avec son cousin"})
    assert not BillableItem.objects.filter(pk=item.pk).exists()
    entry = LogEntry.objects.get(action="billable_item.presence_cancelled")
    assert entry.before["amount_cents"] == item.amount_cents and entry.after == {
        "reason": "Enfant confondu avec son cousin"
    }
    assert entry.household == household

    # Once invoiced, a presence is corrected by a credit note, not removed.
    world.run()
    with pytest.raises(BillingError, match="avoir"):
        cancel_unexpected_presence(item=foreign, actor=None, reason="Trop tard")
    other_url = reverse("backoffice:billing_presence_cancel", args=[other.pk, foreign.pk])
    assert client.post(other_url, {"motif": "x"}).status_code == 404
