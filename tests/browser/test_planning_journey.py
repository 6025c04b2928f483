"""The planning journey in a real browser (Debian chromium, phone-sized screen): the demo family
ticks two Wednesdays for Léa and one for Hugo (one of them with the keyboard), sees the counts
and the cost in the banner, finishes, checks the recap, validates, then finds the cells booked
and the changes in its history."""

import datetime as dt
import re

import pytest
import time_machine
from django.core.management import call_command
from playwright.sync_api import expect

from portail.bookings.models import Booking, BookingStatus
from portail.catalog.models import Activity, PaymentMode
from portail.core.errors import BusinessError
from portail.core.models import Channel
from portail.demo import constants as demo
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.enrolments.services import request_enrolment, validate_enrolment
from portail.households.models import Child

from .test_family_journey import basket_cost, login_with_email, open_menu_item

pytestmark = pytest.mark.django_db(transaction=True)

# A Monday: the Wednesdays of December are open until the Friday noon of the week before.
MONDAY = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
POMMIERS = "pommiers-mercredis-2026-2027"
TICKED = [
    ("Léa", "mercredi 2 décembre 2026", "Journée"),
    ("Léa", "mercredi 9 décembre 2026", "Journée"),
    ("Hugo", "mercredi 2 décembre 2026", "Matin"),
]


def ensure_martins_enrolled_in_pommiers() -> Activity:
    """The demo enrols Hugo in "Pommiers mercredis", an invoiced activity, and leaves Léa for the
    enrolment journey to enrol: enrol whoever is missing with the services (validated by the Mairie)."""
    activity = Activity.objects.get(slug=POMMIERS)
    if activity.payment_mode != PaymentMode.INVOICED:
        activity.payment_mode = PaymentMode.INVOICED
        activity.save(update_fields=["payment_mode"])
    period = activity.periods.order_by("start_date").first()
    for child in Child.objects.filter(household__reference="D000001"):
        enrolled = Enrolment.objects.filter(child=child, activity=activity, status=EnrolmentStatus.VALIDATED)
        if enrolled.exists():
            continue
        for group in activity.groups.all():
            try:
                enrolment = request_enrolment(
                    child=child, period=period, group=group, actor=None, channel=Channel.STAFF
                )
            except BusinessError:  # not this child's age group: try the next one
                continue
            if enrolment.status == EnrolmentStatus.REQUESTED:
                validate_enrolment(enrolment=enrolment, actor=None)
            break
    return activity


def cell_label(child, day, activity, unit):
    return f"{child}, {day}, {activity.name}, {unit}"


def wednesday_bookings(activity):
    """The Martins' live bookings of the activity in December (the demo books other days)."""
    return Booking.objects.filter(
        child__household__reference="D000001",
        session__unit__activity=activity,
        session__date__month=12,
        status=BookingStatus.CONFIRMED,
    )


def test_family_ticks_wednesdays_validates_and_sees_them_booked(page):
    with time_machine.travel(MONDAY, tick=True):
        call_command("load_demo", verbosity=0)
        activity = ensure_martins_enrolled_in_pommiers()
        assert not wednesday_bookings(activity).exists()

        login_with_email(page, demo.MARTIN_EMAIL, demo.FAMILY_PASSWORD)
        open_menu_item(page, "Planning")
        expect(page.get_by_role("heading", name="Planning", level=1)).to_be_visible()
        page.get_by_role("link", name="Mois suivant").click()
        expect(page.get_by_role("heading", name="Décembre 2026")).to_be_visible()
        banner = page.locator("#basket-banner")
        expect(banner).to_contain_text("0 réservation en attente, 0 annulation")

        # Léa, two Wednesdays (the first with the keyboard); Hugo, one morning.
        lea_2 = page.get_by_role(
            "checkbox", name=cell_label("Léa", "mercredi 2 décembre 2026", activity, "Journée"), exact=True
        )
        lea_2.focus()
        page.keyboard.press("Space")
        expect(banner).to_contain_text("1 réservation en attente, 0 annulation")
        expect(lea_2).to_be_checked()
        expect(lea_2).to_be_focused()  # the swapped cell keeps the keyboard focus

        page.get_by_role(
            "checkbox", name=cell_label("Léa", "mercredi 9 décembre 2026", activity, "Journée"), exact=True
        ).check()
        expect(banner).to_contain_text("2 réservations en attente, 0 annulation")
        page.get_by_role(
            "checkbox", name=cell_label("Hugo", "mercredi 2 décembre 2026", activity, "Matin"), exact=True
        ).check()
        expect(banner).to_contain_text("Modifications en cours : 3 réservations en attente, 0 annulation")
        cost = basket_cost("D000001")
        expect(banner).to_contain_text(f"Coût de la période : {cost}")
        assert not wednesday_bookings(activity).exists()  # nothing is booked before "Valider"

        # The recap, then "Valider".
        banner.get_by_role("link", name="Terminer les modifications").click()
        expect(page.get_by_role("heading", name="Récapitulatif de vos modifications")).to_be_visible()
        table = page.get_by_role("table", name="Modifications à valider")
        expect(table.get_by_role("row")).to_have_count(5)  # header, 3 lines, total
        expect(table).to_contain_text("02/12/2026")
        expect(table).to_contain_text("09/12/2026")
        expect(table).to_contain_text(cost)
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_role("heading", name="Vos modifications sont enregistrées")).to_be_visible()
        assert wednesday_bookings(activity).filter(channel=Channel.WEB).count() == 3

        # Back on the planning: the cells are booked, the banner is empty.
        page.get_by_role("link", name="Voir le planning").click()
        page.get_by_role("link", name="Mois suivant").click()
        expect(page.locator("#basket-banner")).to_contain_text("0 réservation en attente, 0 annulation")
        for child, day, unit in TICKED:
            box = page.get_by_role("checkbox", name=cell_label(child, day, activity, unit), exact=True)
            expect(box).to_be_checked()
            expect(page.locator(".cell.state-booked").filter(has=box)).to_have_count(1)

        # The history lists the three bookings, made "par le web" today, newest first.
        page.get_by_role("link", name="Voir mes dernières modifications").click()
        expect(page.get_by_role("heading", name="Historique", level=1)).to_be_visible()
        for child, day, unit in TICKED:
            entry = page.locator("ol.history > li").filter(has_text=f"{child} – {day} – {activity.name}, {unit}")
            expect(entry).to_have_count(1)
            expect(entry).to_contain_text("Réservation")
            expect(entry).to_contain_text(re.compile(r"par le web le lundi 23 novembre 2026 à \d\d:\d\d"))


def test_a_refused_tick_shows_the_reason_and_leaves_the_box_unticked(page):
    with time_machine.travel(MONDAY, tick=True):
        call_command("load_demo", verbosity=0)
        activity = ensure_martins_enrolled_in_pommiers()
        login_with_email(page, demo.MARTIN_EMAIL, demo.FAMILY_PASSWORD)
        page.goto("/planning/?vue=semaine&date=2026-12-02")
        box = page.get_by_role(
            "checkbox", name=cell_label("Léa", "mercredi 2 décembre 2026", activity, "Journée"), exact=True
        )
        expect(box).not_to_be_checked()
        # Meanwhile the session filled up (other families booked its last places).
        session = activity.units.get(name="Journée").sessions.get(date=dt.date(2026, 12, 2))
        session.capacity = 0
        session.save(update_fields=["capacity"])
        box.click()
        expect(page.get_by_role("alert")).to_contain_text("Complet : il n'y a plus de place")
        expect(page.locator("#basket-banner")).to_contain_text("0 réservation en attente")
        expect(page.locator(".cell.state-full")).to_have_count(1)
