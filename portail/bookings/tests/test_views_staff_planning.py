"""Staff planning of a household ("gestion/foyers/<id>/planning/"): agents book and cancel at once
for the family, past deadlines (audited), never past capacity, and declare absences."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portail.billing.models import TariffBracket, TariffGrid, TariffPrice
from portail.bookings.models import Absence, AbsenceStatus, Booking, BookingStatus
from portail.core.models import Channel, LogEntry

from .factories import make_bookable, make_booking, make_rule, paris, staff_member

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 12, 9)  # deadline: Friday 4 December 2026 at noon
BEFORE = paris(2026, 11, 20, 10)
LATE = paris(2026, 12, 8, 9)


@pytest.fixture
def setup():
    return make_bookable(children=2, dates=[DAY, dt.date(2026, 12, 16)], deadline_rule=make_rule(), capacity=3)


def login(client, role):
    client.force_login(staff_member(role))
    return client


def planning_url(setup, **params):
    url = reverse("backoffice:household_planning", args=[setup.household.pk])
    query = "&".join(f"{k}={v}" for k, v in {"mois": "2026-12", **params}.items())
    return f"{url}?{query}"


def book(client, setup, child=None, session=None):
    return client.post(
        reverse("backoffice:planning_book", args=[setup.household.pk]),
        {"child": (child or setup.children[0]).pk, "session": (session or setup.sessions[0]).pk, "mois": "2026-12"},
    )


# --- the page ----------------------------------------------------------------------------------


def test_agent_sees_every_child_with_book_buttons(client, setup):
    make_booking(setup.children[1], setup.sessions[0])
    with time_machine.travel(BEFORE, tick=False):
        login(client, "Agent d'accueil")
        response = client.get(planning_url(setup))
    assert response.status_code == 200
    page = response.content.decode()
    for child in setup.children:
        assert child.full_name in page
    assert "Décembre 2026" in page and setup.activity.name in page
    assert "mercredi 9 décembre 2026" in page
    assert f'Réserver<span class="visually-hidden"> : {setup.children[0].first_name}, mercredi 9 décembre 2026' in page
    assert "Annuler la réservation" in page and "Déclarer une absence" in page
    assert "Famille : jusqu'au vendredi 4 décembre à 12 h" in page


def test_late_cells_say_the_family_deadline_passed(client, setup):
    with time_machine.travel(LATE, tick=False):
        login(client, "Agent d'accueil")
        page = client.get(planning_url(setup)).content.decode()
    assert "Hors délai (famille : jusqu'au vendredi 4 décembre à 12 h)" in page
    assert "Réserver<span" in page  # staff may still act


def test_child_filter_shows_one_child(client, setup):
    first, second = setup.children
    with time_machine.travel(BEFORE, tick=False):
        login(client, "Agent d'accueil")
        page = client.get(planning_url(setup, enfant=first.pk)).content.decode()
    assert f'id="enfant-{first.pk}"' in page and f'id="enfant-{second.pk}"' not in page


def test_month_navigation(client, setup):
    with time_machine.travel(BEFORE, tick=False):
        login(client, "Agent d'accueil")
        page = client.get(planning_url(setup)).content.decode()
        assert "?mois=2026-11" in page and "?mois=2027-01" in page
        empty = client.get(planning_url(setup, mois="2027-01")).content.decode()
    assert "Aucune séance en janvier 2027." in empty


def test_cashier_reads_without_buttons_and_cannot_post(client, setup):
    with time_machine.travel(BEFORE, tick=False):
        login(client, "Régisseur")
        page = client.get(planning_url(setup)).content.decode()
        assert "Réserver<span" not in page and "Déclarer une absence" not in page
        assert book(client, setup).status_code == 403
    assert not Booking.objects.exists()


def test_household_page_links_to_the_planning(client, setup):
    login(client, "Agent d'accueil")
    page = client.get(reverse("backoffice:household_detail", args=[setup.household.pk])).content.decode()
    url = reverse("backoffice:household_planning", args=[setup.household.pk])
    assert f'href="{url}"' in page
    assert f'href="{url}?enfant={setup.children[0].pk}"' in page


def test_unknown_household_is_404(client):
    login(client, "Agent d'accueil")
    assert client.get(reverse("backoffice:household_planning", args=[999999])).status_code == 404


def test_query_count_does_not_grow_with_children_and_bookings(client):
    small = make_bookable(children=1, dates=[DAY], deadline_rule=make_rule())
    days = [dt.date(2026, 12, 2) + dt.timedelta(days=7 * n) for n in range(3)]
    large = make_bookable(children=4, dates=days, deadline_rule=make_rule())
    for child in large.children:
        for session in large.sessions:
            make_booking(child, session)
    with time_machine.travel(BEFORE, tick=False):
        login(client, "Agent d'accueil")
        client.get(planning_url(small))  # warm the session
        with CaptureQueriesContext(connection) as one:
            client.get(planning_url(small))
        with CaptureQueriesContext(connection) as many:
            assert client.get(planning_url(large)).status_code == 200
    assert len(many) == len(one)


# --- booking and cancelling -------------------------------------------------------------------------


def test_agent_books_past_the_deadline_and_the_audit_says_so(client, setup):
    with time_machine.travel(LATE, tick=False):
        login(client, "Agent d'accueil")
        response = book(client, setup)
        assert response.status_code == 302
        assert response["Location"].endswith(f"?mois=2026-12#case-{setup.children[0].pk}-{setup.sessions[0].pk}")
        page = client.get(response["Location"]).content.decode()
    booking = Booking.objects.get()
    assert (booking.status, booking.channel) == (BookingStatus.CONFIRMED, Channel.STAFF)
    assert "Réservation enregistrée" in page and "hors délai, par la Mairie." in page
    entry = LogEntry.objects.get(action="booking.created")
    assert entry.household == setup.household and entry.channel == Channel.STAFF
    assert "(hors délai, par la Mairie)" in entry.message


def test_booking_a_full_session_is_refused_with_the_reason(client, setup):
    for _ in range(3):
        other = make_bookable(activity=setup.activity, unit=setup.unit)
        make_booking(other.children[0], setup.sessions[0])
    with time_machine.travel(BEFORE, tick=False):
        login(client, "Agent d'accueil")
        page = client.get(book(client, setup)["Location"]).content.decode()
    assert "Complet : il n&#x27;y a plus de place le mercredi 9 décembre 2026" in page
    assert not Booking.objects.filter(child=setup.children[0]).exists()


def test_booking_another_households_child_is_404(client, setup):
    other = make_bookable(activity=setup.activity, unit=setup.unit)
    with time_machine.travel(BEFORE, tick=False):
        login(client, "Agent d'accueil")
        assert book(client, setup, child=other.children[0]).status_code == 404
    assert not Booking.objects.exists()


def test_agent_cancels_with_a_reason(client, setup):
    booking = make_booking(setup.children[0], setup.sessions[0], paid_at=BEFORE)
    url = reverse("backoffice:planning_cancel", args=[setup.household.pk, booking.pk])
    with time_machine.travel(LATE, tick=False):
        login(client, "Agent d'accueil")
        response = client.post(url, {"reason": "Appel de la mère", "mois": "2026-12"})
        page = client.get(response["Location"]).content.decode()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED and booking.cancel_channel == Channel.STAFF
    assert "Réservation annulée" in page
    entry = LogEntry.objects.get(action="booking.cancelled")
    assert entry.message.endswith("(hors délai, par la Mairie) – Appel de la mère")


def test_cancel_needs_a_reason(client, setup):
    booking = make_booking(setup.children[0], setup.sessions[0])
    url = reverse("backoffice:planning_cancel", args=[setup.household.pk, booking.pk])
    with time_machine.travel(BEFORE, tick=False):
        login(client, "Agent d'accueil")
        page = client.get(client.post(url, {"reason": " "})["Location"]).content.decode()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert "Indiquez le motif de l&#x27;annulation" in page


def test_cancelling_another_households_booking_is_404(client, setup):
    login(client, "Agent d'accueil")
    other = make_bookable(activity=setup.activity, unit=setup.unit)
    theirs = make_booking(other.children[0], setup.sessions[0])
    url = reverse("backoffice:planning_cancel", args=[setup.household.pk, theirs.pk])
    assert client.post(url, {"reason": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == BookingStatus.CONFIRMED


def test_agent_declares_an_absence_for_the_family(client, setup, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    booking = make_booking(setup.children[0], setup.sessions[0])
    url = reverse("backoffice:planning_absence", args=[setup.household.pk, booking.pk])
    with time_machine.travel(BEFORE, tick=False):
        login(client, "Agent d'accueil")
        response = client.post(url, {"motif": "family", "precisions": "Mariage", "mois": "2026-12"})
        page = client.get(response["Location"]).content.decode()
    absence = Absence.objects.get()
    assert (absence.status, absence.channel, absence.comment) == (AbsenceStatus.PENDING, Channel.STAFF, "Mariage")
    assert "Absence enregistrée" in page and "Demande d&#x27;annulation en cours" in page
    assert "Voir la demande" not in page  # the agent cannot open the queue (health-like data)


def test_bad_absence_reason_is_refused(client, setup):
    login(client, "Agent d'accueil")
    booking = make_booking(setup.children[0], setup.sessions[0])
    url = reverse("backoffice:planning_absence", args=[setup.household.pk, booking.pk])
    client.post(url, {"motif": "vacances"})
    assert not Absence.objects.exists()


def test_posts_need_the_csrf_token(setup):
    client = Client(enforce_csrf_checks=True)
    login(client, "Gestionnaire")
    booking = make_booking(setup.children[0], setup.sessions[0])
    for url, data in [
        (reverse("backoffice:planning_book", args=[setup.household.pk]), {"child": setup.children[0].pk}),
        (reverse("backoffice:planning_cancel", args=[setup.household.pk, booking.pk]), {"reason": "x"}),
        (reverse("backoffice:planning_absence", args=[setup.household.pk, booking.pk]), {"motif": "family"}),
    ]:
        assert client.post(url, data).status_code == 403
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_families_get_403_and_visitors_the_login(client, setup):
    client.force_login(setup.guardian.user)
    url = planning_url(setup)
    assert client.get(url).status_code == 403
    assert book(client, setup).status_code == 403
    response = Client().get(url)
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_agent_may_waive_the_late_surcharge_and_the_audit_says_so(client, setup):
    grid = TariffGrid.objects.create(
        activity=setup.activity, name="Grille", valid_from=dt.date(2026, 9, 1), late_booking_surcharge_cents=300
    )
    bracket = TariffBracket.objects.create(grid=grid, min_quotient=0, max_quotient=None)
    TariffPrice.objects.create(bracket=bracket, unit=setup.unit, price_cents=800)
    with time_machine.travel(LATE, tick=False):
        login(client, "Agent d'accueil")
        page = client.get(planning_url(setup)).content.decode()
        assert 'name="sans_majoration"' in page and "Sans majoration hors délai" in page
        book(client, setup, child=setup.children[1])  # the surcharge applies
        response = client.post(
            reverse("backoffice:planning_book", args=[setup.household.pk]),
            {"child": setup.children[0].pk, "session": setup.sessions[0].pk, "mois": "2026-12", "sans_majoration": "1"},
            follow=True,
        )
    charged = Booking.objects.get(child=setup.children[1])
    waived = Booking.objects.get(child=setup.children[0])
    assert (charged.late, charged.price_cents, charged.surcharge_cents) == (True, 1100, 300)
    assert (waived.late, waived.price_cents, waived.surcharge_cents) == (True, 800, 0)
    assert "Sans majoration hors délai." in response.content.decode()
    entry = LogEntry.objects.get(action="booking.created", object_id=str(waived.pk))
    assert entry.after["surcharge_waived"] is True and "(sans majoration)" in entry.message
