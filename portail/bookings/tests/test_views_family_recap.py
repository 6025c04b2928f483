"""Family recap of pending changes ("Terminer les modifications"): the table, "Tout supprimer",
"Valider" (invoiced) and the lines of prepaid activities left for payment; then the history."""

import datetime as dt
import html as htmllib
import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from portail.bookings import services
from portail.bookings.models import BasketLine, Booking, BookingStatus
from portail.catalog.models import PaymentMode
from portail.core.models import Channel
from portail.organisations.models import SchoolYear
from tests.factories import StaffFactory, TownFactory

from .factories import make_bookable

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=timezone.get_current_timezone())


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def setup():
    setup = make_bookable(children=2)
    setup.children[0].first_name, setup.children[1].first_name = "Léa", "Tom"
    for child in setup.children:
        child.save(update_fields=["first_name"])
    return setup


@pytest.fixture
def family_client(client, setup):
    client.force_login(setup.guardian.user)
    return client


def text_of(response) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def tick(setup, child, session):
    return services.toggle_cell(
        household=setup.household, child=child, session_id=session.pk, actor=setup.guardian.user, channel=Channel.WEB
    )


# --- Recap -------------------------------------------------------------------------------------------


def test_recap_lists_pending_changes_with_cost_and_actions(family_client, setup):
    lea, tom = setup.children
    tick(setup, lea, setup.sessions[0])
    tick(setup, lea, setup.sessions[1])
    tick(setup, tom, setup.sessions[0])
    response = family_client.get(reverse("portal:planning_recap"))
    assert response.status_code == 200
    page = text_of(response)
    assert "Récapitulatif de vos modifications" in page
    assert "02/12/2026" in page and "09/12/2026" in page
    assert setup.activity.name in page and "Journée" in page and "à l'unité" in page
    assert page.count("Réservation ") >= 3 and "10,00 €" in page
    assert "Total à valider 30,00 €" in page
    assert "Coût de la période : 30,00 €" in page
    markup = response.content.decode()
    assert reverse("portal:planning_clear") in markup and "Tout supprimer" in page
    assert reverse("portal:planning_confirm") in markup and "Valider" in page
    assert "Retour" in page
    assert "À payer en ligne" not in page


def test_recap_shows_cancellations_as_negative_cost(family_client, setup):
    lea = setup.children[0]
    Booking.objects.create(child=lea, session=setup.sessions[0], enrolment=setup.enrolments[0], price_cents=1000)
    tick(setup, lea, setup.sessions[0])
    page = text_of(family_client.get(reverse("portal:planning_recap")))
    assert "Annulation" in page and "-10,00 €" in page


def test_empty_recap_says_so(family_client, setup):
    page = text_of(family_client.get(reverse("portal:planning_recap")))
    assert "Aucune modification en cours" in page
    assert "Valider" not in page


def test_prepaid_lines_go_to_payment_not_to_validation(client):
    setup = make_bookable(children=1, payment_mode=PaymentMode.PREPAID)
    client.force_login(setup.guardian.user)
    tick(setup, setup.children[0], setup.sessions[0])
    page = text_of(client.get(reverse("portal:planning_recap")))
    assert "À payer en ligne" in page
    # No régie collects for this activity yet: no button, and the family is told why.
    assert "Le paiement en ligne n'est pas ouvert pour ces activités" in page and "Payer 10,00 €" not in page
    assert "À valider" not in page  # nothing to validate: no "Valider" button
    assert reverse("portal:planning_confirm") not in client.get(reverse("portal:planning_recap")).content.decode()
    from portail.payments.models import Regie

    regie = Regie.objects.create(
        town=TownFactory(), name="Régie", code="R1", accepted_means=["online"], backend="dummy", hold_minutes=15
    )
    regie.activities.add(setup.activity)
    page = text_of(client.get(reverse("portal:planning_recap")))
    assert "Payer 10,00 €" in page and "gardées 15 minutes" in page
    assert BasketLine.objects.count() == 1 and not Booking.objects.exists()


# --- Tout supprimer ------------------------------------------------------------------------------


def test_clear_drops_every_pending_change(family_client, setup):
    tick(setup, setup.children[0], setup.sessions[0])
    tick(setup, setup.children[1], setup.sessions[1])
    response = family_client.post(reverse("portal:planning_clear"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:planning")
    assert not BasketLine.objects.exists()
    assert "Vos modifications en cours sont supprimées" in text_of(response)
    assert "0 réservation en attente, 0 annulation" in text_of(response)


def test_clear_only_touches_the_own_basket(family_client, setup):
    other = make_bookable(children=1)
    tick(other, other.children[0], other.sessions[0])
    family_client.post(reverse("portal:planning_clear"))
    assert BasketLine.objects.filter(basket__household=other.household).count() == 1


def test_clear_and_confirm_refuse_get(family_client, setup):
    assert family_client.get(reverse("portal:planning_clear")).status_code == 405
    assert family_client.get(reverse("portal:planning_confirm")).status_code == 405


# --- Valider -----------------------------------------------------------------------------------------


def test_confirm_books_cancels_and_emails(family_client, setup, django_capture_on_commit_callbacks):
    lea, tom = setup.children
    cancelled = Booking.objects.create(
        child=tom, session=setup.sessions[2], enrolment=setup.enrolments[1], price_cents=1000
    )
    tick(setup, lea, setup.sessions[0])
    tick(setup, lea, setup.sessions[1])
    tick(setup, tom, setup.sessions[2])
    with django_capture_on_commit_callbacks(execute=True):
        response = family_client.post(reverse("portal:planning_confirm"))
    assert response.status_code == 200
    page = text_of(response)
    assert "Vos modifications sont enregistrées" in page
    assert "Léa – mercredi 2 décembre 2026" in page and "Léa – mercredi 9 décembre 2026" in page
    assert "Annulé" in page and "Tom – mercredi 16 décembre 2026" in page
    assert Booking.objects.filter(child=lea, status=BookingStatus.CONFIRMED).count() == 2
    cancelled.refresh_from_db()
    assert cancelled.status == BookingStatus.CANCELLED
    assert not BasketLine.objects.exists()
    assert len(mail.outbox) == 1 and setup.guardian.email in mail.outbox[0].to
    # Back on the planning, the cells are booked.
    calendar = text_of(family_client.get(reverse("portal:planning") + "?date=2026-12-01"))
    assert "0 réservation en attente, 0 annulation" in calendar


def test_confirm_with_an_empty_basket_says_so(family_client, setup):
    response = family_client.post(reverse("portal:planning_confirm"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:planning_recap")
    assert "Aucune modification en cours." in text_of(response)


def test_confirm_refused_when_a_deadline_passed_meanwhile(family_client, setup):
    tick(setup, setup.children[0], setup.sessions[0])
    with time_machine.travel(dt.datetime(2026, 12, 2, 8, 0, tzinfo=timezone.get_current_timezone()), tick=False):
        line = BasketLine.objects.get()
        line.expires_at = timezone.now() + dt.timedelta(minutes=5)
        line.save()
        family_client.force_login(setup.guardian.user)  # a fresh session at that time
        response = family_client.post(reverse("portal:planning_confirm"), follow=True)
    assert "ce délai est dépassé" in text_of(response)
    assert not Booking.objects.exists()


def test_confirm_leaves_prepaid_lines_for_payment(client):
    setup = make_bookable(children=1, payment_mode=PaymentMode.PREPAID)
    client.force_login(setup.guardian.user)
    tick(setup, setup.children[0], setup.sessions[0])
    response = client.post(reverse("portal:planning_confirm"))
    page = text_of(response)
    assert "Réservations en attente de paiement" in page
    assert not Booking.objects.exists() and BasketLine.objects.count() == 1


# --- History -----------------------------------------------------------------------------------------


def test_history_shows_web_and_town_hall_changes(family_client, setup):
    SchoolYear.objects.create(
        town=TownFactory(), label="2026-2027", start_date=dt.date(2026, 9, 1), end_date=dt.date(2027, 7, 3)
    )
    lea, tom = setup.children
    tick(setup, lea, setup.sessions[0])
    services.confirm_basket(household=setup.household, actor=setup.guardian.user, channel=Channel.WEB)
    services.staff_book(child=tom, session_id=setup.sessions[1].pk, actor=StaffFactory())
    response = family_client.get(reverse("portal:planning_history"))
    assert response.status_code == 200
    page = text_of(response)
    assert "Historique" in page and "1 septembre 2026" in page
    assert f"Réservation : Léa – mercredi 2 décembre 2026 – {setup.activity.name}, Journée" in page
    assert "par le web le vendredi 20 novembre 2026 à 10:00" in page
    assert f"Réservation : Tom – mercredi 9 décembre 2026 – {setup.activity.name}, Journée" in page
    assert "par la Mairie le vendredi 20 novembre 2026 à 10:00" in page


def test_history_is_scoped_to_the_household_and_the_school_year(family_client, setup):
    other = make_bookable(children=1)
    tick(other, other.children[0], other.sessions[0])
    services.confirm_basket(household=other.household, actor=None, channel=Channel.WEB)
    page = text_of(family_client.get(reverse("portal:planning_history")))
    assert other.children[0].first_name not in page
    assert "Aucune modification" in page


def test_history_is_paginated(family_client, setup):
    from portail.core.audit import log_action

    for number in range(30):
        log_action(
            actor=None,
            channel=Channel.STAFF,
            action="booking.created",
            obj=setup.household,
            household=setup.household,
            message=f"Ligne {number:02d}",
        )
    first = text_of(family_client.get(reverse("portal:planning_history")))
    assert "Page 1 sur 2" in first and "Ligne 29" in first and "Ligne 00" not in first
    second = text_of(family_client.get(reverse("portal:planning_history") + "?page=2"))
    assert "Ligne 00" in second
