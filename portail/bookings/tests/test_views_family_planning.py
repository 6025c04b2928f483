"""Family planning page and ticking cells (htmx): the calendar, the banner, refusals (409),
the plain-form fallback and household scoping."""

import datetime as dt
import html as htmllib
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from portail.bookings import services
from portail.bookings.models import BasketLine, Booking, BookingStatus, LineKind
from portail.catalog.models import PaymentMode
from portail.core.models import Channel
from tests.factories import SessionFactory, make_family

from .factories import make_bookable

pytestmark = pytest.mark.django_db

PARIS = timezone.get_current_timezone()
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=PARIS)  # a Friday; the sessions are the Wednesdays of December
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def setup():
    setup = make_bookable(children=2, capacity=5)
    setup.children[0].first_name, setup.children[1].first_name = "Léa", "Tom"
    for child in setup.children:
        child.save(update_fields=["first_name"])
    return setup


@pytest.fixture
def family_client(client, setup):
    client.force_login(setup.guardian.user)
    return client


def html_of(response) -> str:
    return htmllib.unescape(re.sub(r"\s+", " ", response.content.decode()))


def text_of(response) -> str:
    """What a reader sees (and hears): the text without the tags."""
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))).replace(" ,", ",")


def planning_url(**params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return reverse("portal:planning") + (f"?{query}" if query else "")


def tick(client, child, session, htmx=True):
    extra = HTMX if htmx else {}
    return client.post(reverse("portal:planning_toggle"), {"child": child.pk, "session": session.pk}, **extra)


# --- The page ------------------------------------------------------------------------------------


def test_planning_requires_login(client):
    response = client.get(reverse("portal:planning"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_month_view_shows_every_child_with_its_mark_legend_and_banner(family_client, setup):
    response = family_client.get(planning_url(date="2026-12-01"))
    assert response.status_code == 200
    page = text_of(response)
    assert "Décembre 2026" in page
    assert "Planning de Léa – Décembre 2026" in page and "Planning de Tom – Décembre 2026" in page
    assert "★" in page and "■" in page  # one symbol per child
    # The legend lists the states; the banner its figures.
    assert "Légende" in page and "Réservation en cours (à valider)" in page and "Absence excusée" in page
    assert "Modifications en cours : 0 réservation en attente, 0 annulation" in page
    assert "Coût de la période : 0,00 €" in page
    assert "Terminer les modifications" in page and reverse("portal:planning_recap") in html_of(response)
    assert "Voir mes dernières modifications" in page and "Choisir un autre enfant" in page
    # A native checkbox per open cell, labelled with the child, the date and the unit.
    first = setup.sessions[0]
    markup = html_of(response)
    assert f'id="tick-{setup.children[0].pk}-{first.pk}"' in markup
    assert f"Léa, mercredi 2 décembre 2026, {setup.activity.name}, Journée" in page
    assert "Réservation possible jusqu'au mercredi 2 décembre à minuit" in page
    assert 'hx-post="/planning/basculer/"' in markup
    assert markup.count('type="checkbox"') == 6  # 2 children × 3 Wednesdays


def test_only_days_with_a_session_are_columns(family_client, setup):
    page = text_of(family_client.get(planning_url(date="2026-12-01")))
    assert "mercredi 2 décembre" in page and "jeudi 3 décembre" not in page


def test_week_and_fortnight_views_and_navigation(family_client, setup):
    week = html_of(family_client.get(planning_url(vue="semaine", date="2026-12-09")))
    assert "Semaine du 7 décembre au 13 décembre 2026" in week
    assert week.count('type="checkbox"') == 2
    assert "date=2026-11-30" in week and "date=2026-12-14" in week  # previous / next
    fortnight = html_of(family_client.get(planning_url(vue="quinzaine", date="2026-12-09")))
    assert "Quinzaine du 7 décembre au 20 décembre 2026" in fortnight
    assert fortnight.count('type="checkbox"') == 4
    month = html_of(family_client.get(planning_url(date="2026-12-31")))
    assert "date=2026-11-01" in month and "date=2027-01-01" in month


def test_default_view_is_the_current_month(family_client, setup):
    page = text_of(family_client.get(reverse("portal:planning")))
    assert "Novembre 2026" in page


def test_a_bad_date_or_view_falls_back_to_defaults(family_client, setup):
    response = family_client.get(planning_url(vue="annee", date="2026-13-45"))
    assert response.status_code == 200
    assert "Novembre 2026" in text_of(response)


def test_child_filter_shows_one_child(family_client, setup):
    lea, tom = setup.children
    page = html_of(family_client.get(planning_url(date="2026-12-01", enfant=tom.pk)))
    assert "Planning de Tom" in page and "Planning de Léa" not in page
    assert f'<option value="{tom.pk}" selected>Tom</option>' in page


def test_child_filter_with_another_households_child_is_404(family_client, setup):
    _, _, (other,) = make_family(children=1)
    assert family_client.get(planning_url(enfant=other.pk)).status_code == 404


def test_child_without_validated_enrolment_gets_an_empty_state(client):
    household, guardian, (child,) = make_family(children=1)
    client.force_login(guardian.user)
    page = html_of(client.get(planning_url(date="2026-12-01")))
    assert f"{child.first_name} n'a pas d'inscription validée sur cette période" in page
    assert reverse("portal:enrolments") in page
    assert 'type="checkbox"' not in page


def test_cells_show_booked_pending_full_and_past_deadline_states(family_client, setup):
    lea, tom = setup.children
    past = SessionFactory(unit=setup.unit, date=dt.date(2026, 11, 18))
    full = setup.sessions[2]
    full.capacity = 0
    full.save()
    booked = Booking.objects.create(
        child=lea, session=past, enrolment=setup.enrolments[0], price_cents=1000, channel=Channel.WEB
    )
    services.toggle_cell(
        household=setup.household, child=tom, session_id=setup.sessions[0].pk, actor=None, channel=Channel.WEB
    )
    november = html_of(family_client.get(planning_url(date="2026-11-01")))
    # Booked past its deadline: read-only, the reason and the absence link.
    assert "Délai dépassé (jusqu'au mercredi 18 novembre à minuit)" in november
    assert reverse("portal:absence_new", kwargs={"booking_id": booked.pk}) in november
    assert "déclarer une absence de Léa" in november
    december = html_of(family_client.get(planning_url(date="2026-12-01")))
    assert "state-pending_add is-ticked" in december
    assert "Complet" in december and "state-full" in december
    december = text_of(family_client.get(planning_url(date="2026-12-01")))
    assert "Modifications en cours : 1 réservation en attente, 0 annulation" in december
    assert "Coût de la période : 10,00 €" in december


def test_nav_links_to_the_planning(family_client, setup):
    page = family_client.get(reverse("portal:home")).content.decode()
    assert f'href="{reverse("portal:planning")}"' in page
    assert "/bientot/planning/" not in page


# --- Ticking -------------------------------------------------------------------------------------


def test_tick_adds_a_pending_booking_and_updates_the_banner(family_client, setup):
    lea = setup.children[0]
    session = setup.sessions[1]
    response = tick(family_client, lea, session)
    assert response.status_code == 200
    line = BasketLine.objects.get()
    assert (line.child, line.session, line.kind, line.price_cents) == (lea, session, LineKind.ADD, 1000)
    markup = html_of(response)
    assert f'id="cell-{lea.pk}-{session.pk}"' in markup and "checked" in markup
    assert 'id="basket-banner" hx-swap-oob="innerHTML"' in markup
    body = text_of(response)
    assert "Modifications en cours : 1 réservation en attente, 0 annulation" in body
    assert "Coût de la période : 10,00 €" in body
    assert not Booking.objects.exists()  # nothing is booked before "Valider"


def test_three_ticks_count_and_cost(family_client, setup):
    lea, tom = setup.children
    tick(family_client, lea, setup.sessions[0])
    tick(family_client, lea, setup.sessions[1])
    body = text_of(tick(family_client, tom, setup.sessions[0]))
    assert "Modifications en cours : 3 réservations en attente, 0 annulation" in body
    assert "Coût de la période : 30,00 €" in body


def test_ticking_again_undoes_the_pending_change(family_client, setup):
    lea = setup.children[0]
    tick(family_client, lea, setup.sessions[0])
    response = tick(family_client, lea, setup.sessions[0])
    assert response.status_code == 200
    assert not BasketLine.objects.exists()
    assert "0 réservation en attente" in text_of(response) and " checked" not in html_of(response)


def test_unticking_a_booked_cell_is_a_pending_cancellation(family_client, setup):
    lea = setup.children[0]
    Booking.objects.create(
        child=lea, session=setup.sessions[0], enrolment=setup.enrolments[0], price_cents=1000, channel=Channel.WEB
    )
    response = tick(family_client, lea, setup.sessions[0])
    assert response.status_code == 200
    assert BasketLine.objects.get().kind == LineKind.REMOVE
    body = text_of(response)
    assert "0 réservation en attente, 1 annulation" in body
    assert "Coût de la période : -10,00 €" in body
    assert "state-pending_remove" in html_of(response)


def test_full_session_answers_409_with_the_message_and_the_cell_unticked(family_client, setup):
    lea = setup.children[0]
    session = setup.sessions[0]
    session.capacity = 0
    session.save()
    response = tick(family_client, lea, session)
    assert response.status_code == 409
    body = text_of(response)
    assert "Complet : il n'y a plus de place le mercredi 2 décembre 2026 (Journée)." in body
    markup = html_of(response)
    assert 'id="planning-alert" hx-swap-oob="innerHTML"' in markup
    assert f'id="cell-{lea.pk}-{session.pk}"' in markup and " checked" not in markup
    assert not BasketLine.objects.exists()


def test_past_deadline_answers_409_with_the_message(family_client, setup):
    lea = setup.children[0]
    past = SessionFactory(unit=setup.unit, date=dt.date(2026, 11, 18))
    response = tick(family_client, lea, past)
    assert response.status_code == 409
    assert "Réservation possible jusqu'au mercredi 18 novembre à minuit : ce délai est dépassé." in text_of(response)
    assert not BasketLine.objects.exists()


def test_the_planning_page_configures_htmx_to_swap_409(family_client, setup):
    page = family_client.get(planning_url(date="2026-12-01")).content.decode()
    assert 'name="htmx-config"' in page and "409" in page
    assert 'id="planning-alert" class="planning-alert" role="alert"' in page


def test_tick_without_htmx_redirects_back_with_a_message(family_client, setup):
    lea = setup.children[0]
    response = family_client.post(
        reverse("portal:planning_toggle"),
        {"child": lea.pk, "session": setup.sessions[0].pk, "next": planning_url(date="2026-12-01")},
    )
    assert response.status_code == 302
    assert response["Location"] == planning_url(date="2026-12-01")
    page = text_of(family_client.get(response["Location"]))
    assert "Réservation en attente de validation : Léa, mercredi 2 décembre 2026." in page


def test_refused_tick_without_htmx_redirects_with_the_error(family_client, setup):
    session = setup.sessions[0]
    session.capacity = 0
    session.save()
    response = family_client.post(
        reverse("portal:planning_toggle"), {"child": setup.children[0].pk, "session": session.pk}, follow=True
    )
    assert response.redirect_chain[0][1] == 302
    assert "Complet : il n'y a plus de place" in text_of(response)


def test_tick_ignores_an_offsite_next(family_client, setup):
    response = family_client.post(
        reverse("portal:planning_toggle"),
        {"child": setup.children[0].pk, "session": setup.sessions[0].pk, "next": "https://evil.example/"},
    )
    assert response["Location"].startswith(reverse("portal:planning"))


def test_tick_for_another_households_child_is_404(family_client, setup):
    other = make_bookable(children=1)
    response = tick(family_client, other.children[0], other.sessions[0])
    assert response.status_code == 404
    assert not BasketLine.objects.exists()


def test_tick_on_an_unknown_session_is_409(family_client, setup):
    response = family_client.post(
        reverse("portal:planning_toggle"), {"child": setup.children[0].pk, "session": 999999}, **HTMX
    )
    assert response.status_code == 409
    assert not BasketLine.objects.exists()


def test_tick_with_a_malformed_session_is_404(family_client, setup):
    response = family_client.post(
        reverse("portal:planning_toggle"), {"child": setup.children[0].pk, "session": "x"}, **HTMX
    )
    assert response.status_code == 404


def test_toggle_refuses_get(family_client, setup):
    assert family_client.get(reverse("portal:planning_toggle")).status_code == 405


def test_paid_at_enrolment_activity_cells_are_read_only(client):
    setup = make_bookable(children=1, payment_mode=PaymentMode.AT_ENROLMENT)
    client.force_login(setup.guardian.user)
    page = html_of(client.get(planning_url(date="2026-12-01")))
    assert 'type="checkbox"' not in page
    assert "Séances comprises dans l'inscription" in page


def test_booking_awaiting_payment_is_read_only(family_client, setup):
    Booking.objects.create(
        child=setup.children[0],
        session=setup.sessions[0],
        enrolment=setup.enrolments[0],
        price_cents=1000,
        status=BookingStatus.AWAITING_PAYMENT,
    )
    page = html_of(family_client.get(planning_url(date="2026-12-01")))
    assert "state-awaiting_payment" in page and "Paiement en cours" in page


def test_the_htmx_fragment_keeps_a_csrf_token_for_the_plain_form(family_client, setup):
    response = tick(family_client, setup.children[0], setup.sessions[0])
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()
