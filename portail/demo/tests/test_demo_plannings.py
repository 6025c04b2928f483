"""The demo's planning data: places per session, basket hold times, the Martin children's enrolments,
weekly patterns, bookings (past and to come, one booked late by the Mairie, one cancelled) and an
excused absence, all idempotent."""

from datetime import date

import pytest

from portail.bookings.models import Absence, AbsenceStatus, Booking, BookingStatus
from portail.bookings.selectors import booking_history, household_calendar
from portail.catalog.models import Activity, PaymentMode, Unit
from portail.core.models import Channel
from portail.demo.loader import load_demo
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.households.models import Household

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return load_demo()


def martin():
    return Household.objects.get(reference="D000001")


def test_units_have_places_per_session_and_activities_a_hold_time(demo):
    capacities = dict(
        Unit.objects.filter(
            activity__slug__in=["accueil-periscolaire-2026-2027", "restauration-scolaire-2026-2027"]
        ).values_list("name", "capacity")
    )
    assert capacities == {"Matin": 60, "Midi (accueil midi sans repas)": 60, "Soir": 60, "Repas": 150}
    assert Unit.objects.get(activity__slug="pommiers-vacances-2026-2027").capacity == 60
    holds = dict(Activity.objects.values_list("slug", "basket_hold_minutes"))
    assert holds["pommiers-vacances-2026-2027"] == 20  # prepaid: the place waits for the payment
    assert holds["pommiers-mercredis-2026-2027"] == holds["restauration-scolaire-2026-2027"] == 30


def test_martin_children_hold_validated_enrolments_that_fit_them(demo):
    enrolments = {
        (e.child.first_name, e.activity.slug): e.group.name
        for e in Enrolment.objects.filter(child__household=martin(), status=EnrolmentStatus.VALIDATED).select_related(
            "child", "activity", "group"
        )
    }
    assert enrolments == {
        ("Hugo", "pommiers-mercredis-2026-2027"): "3-5 ans",
        ("Hugo", "accueil-periscolaire-2026-2027"): "Maternelle",
        ("Hugo", "restauration-scolaire-2026-2027"): "École maternelle Les Lilas",
        ("Léa", "accueil-periscolaire-2026-2027"): "Élémentaire",
        ("Léa", "restauration-scolaire-2026-2027"): "École élémentaire Jules Ferry",
        ("Hugo", "pommiers-vacances-2026-2027"): "3-5 ans",
        ("Léa", "pommiers-vacances-2026-2027"): "6-11 ans",
    }
    # Léa's Wednesday enrolment is left to the enrolment journey (browser test).
    assert not Enrolment.objects.filter(child__first_name="Léa", activity__slug="pommiers-mercredis-2026-2027").exists()
    assert all(e.reference.startswith("INS-2026-") for e in Enrolment.objects.filter(child__household=martin()))


def test_eligibility_agrees_with_the_demo_enrolments(demo):
    from portail.enrolments.eligibility import check_eligibility

    for enrolment in Enrolment.objects.filter(child__household=martin()).select_related("child", "period", "group"):
        refusals = check_eligibility(
            child=enrolment.child,
            period=enrolment.period,
            group=enrolment.group,
            now=enrolment.created_at,
            exclude_enrolment=enrolment,
        )
        assert refusals == [], (enrolment, refusals)


def test_weekly_patterns(demo):
    lea = Enrolment.objects.get(child__first_name="Léa", activity__slug="restauration-scolaire-2026-2027")
    assert sorted(lea.weekly_pattern.values_list("weekday", flat=True)) == [0, 1, 3, 4]
    hugo = Enrolment.objects.get(child__first_name="Hugo", activity__slug="accueil-periscolaire-2026-2027")
    assert [(p.weekday, p.unit.name) for p in hugo.weekly_pattern.all()] == [(1, "Soir"), (3, "Soir")]


def test_bookings_past_and_to_come_with_a_cancellation(demo):
    bookings = Booking.objects.filter(child__household=martin())
    assert bookings.filter(session__date__lt=date(2026, 11, 30)).exists()
    assert bookings.filter(session__date__gte=date(2026, 12, 1)).exists()
    cancelled = bookings.get(status=BookingStatus.CANCELLED)
    assert (cancelled.child.first_name, cancelled.session.date) == ("Léa", date(2026, 11, 20))
    # Hugo's Wednesdays: none after November, so the planning journey can tick December freely.
    wednesdays = bookings.filter(session__unit__activity__slug="pommiers-mercredis-2026-2027")
    assert sorted(wednesdays.values_list("session__date", flat=True)) == [
        date(2026, 10, 7),
        date(2026, 11, 4),
        date(2026, 11, 18),
        date(2026, 11, 25),
    ]
    # The other families' bookings are past and invoiced (portail/demo/billing.py).
    assert not Booking.objects.exclude(child__household=martin()).filter(session__date__gte=date(2026, 12, 1)).exists()


def test_one_wednesday_booked_late_by_the_mairie(demo):
    booking = Booking.objects.get(child__first_name="Hugo", session__date=date(2026, 11, 18))
    assert booking.channel == Channel.STAFF and booking.created_by.email.startswith("agent.accueil@")
    history = list(booking_history(martin(), since=date(2026, 9, 1)))
    late = [e for e in history if e.object_id == str(booking.pk)]
    assert late[0].message.endswith("(hors délai, par la Mairie)")
    assert late[0].created_at.date() == date(2026, 11, 16)


def test_excused_absence_with_its_history(demo):
    absence = Absence.objects.get()
    assert absence.status == AbsenceStatus.EXCUSED
    assert (absence.booking.child.first_name, absence.booking.session.date) == ("Hugo", date(2026, 11, 25))
    history = [e for e in booking_history(martin(), since=date(2026, 9, 1)) if e.action.startswith("absence.")]
    assert [(e.action, e.channel) for e in history] == [
        ("absence.decided", Channel.STAFF),
        ("absence.declared", Channel.WEB),
    ]
    calendar = household_calendar(martin(), start=date(2026, 11, 25), end=date(2026, 11, 25), now=absence.decided_at)
    states = {
        (p.child.first_name, r.unit.name): r.cells[0].state
        for p in calendar.children
        for r in p.rows
        if r.cells[0].session
    }
    assert states[("Hugo", "Journée")] == "absence_excused"


def test_history_is_dated_when_things_happened(demo):
    entries = list(booking_history(martin(), since=date(2026, 9, 1)))
    assert len({e.created_at.date() for e in entries}) >= 5
    assert all(e.created_at.year == 2026 for e in entries)


def test_planning_activities_are_bookable_day_by_day(demo):
    modes = dict(Activity.objects.values_list("slug", "payment_mode"))
    assert modes["accueil-periscolaire-2026-2027"] == modes["restauration-scolaire-2026-2027"] == PaymentMode.INVOICED


def test_rerun_creates_nothing(demo):
    before = (Booking.objects.count(), Absence.objects.count(), Enrolment.objects.count())
    again = load_demo()
    assert not again.tally.changed
    assert (Booking.objects.count(), Absence.objects.count(), Enrolment.objects.count()) == before


def test_a_demo_booking_cancelled_by_staff_stays_cancelled(demo):
    booking = Booking.objects.filter(child__first_name="Léa", status=BookingStatus.CONFIRMED).first()
    Booking.objects.filter(pk=booking.pk).update(status=BookingStatus.CANCELLED)
    try:
        load_demo()
        booking.refresh_from_db()
        assert booking.status == BookingStatus.CANCELLED
        assert not Booking.objects.filter(child=booking.child, session=booking.session).exclude(pk=booking.pk).exists()
    finally:
        Booking.objects.filter(pk=booking.pk).update(status=BookingStatus.CONFIRMED)
