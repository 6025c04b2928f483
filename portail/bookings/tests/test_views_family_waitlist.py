"""Family pages of the session waiting list: the "Complet" answer (409) offers it, joining from the
alert or from the full cell (htmx and plain form), the cell "Sur liste d'attente", "Mes listes
d'attente" with "Retirer", the history, household scoping; the staff planning shows the counts."""

import datetime as dt
import html as htmllib
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from portail.bookings.models import SessionWaitlistEntry, WaitlistStatus
from portail.core.models import LogEntry

from .factories import make_bookable, make_booking, staff_member

pytestmark = pytest.mark.django_db

PARIS = timezone.get_current_timezone()
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=PARIS)  # the sessions are the Wednesdays of December
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def setup():
    setup = make_bookable(children=1, capacity=1)
    setup.activity.session_waiting_list = True
    setup.activity.save(update_fields=["session_waiting_list"])
    setup.children[0].first_name = "Léa"
    setup.children[0].save(update_fields=["first_name"])
    return setup


@pytest.fixture
def full(setup):
    """The first Wednesday (2 December) is full: another family booked its only place."""
    other = make_bookable(activity=setup.activity, unit=setup.unit)
    make_booking(other.children[0], setup.sessions[0])
    return setup.sessions[0]


@pytest.fixture
def family_client(client, setup):
    client.force_login(setup.guardian.user)
    return client


def html_of(response) -> str:
    return htmllib.unescape(re.sub(r"\s+", " ", response.content.decode()))


def text_of(response) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))).replace(" ,", ",")


def tick(client, child, session):
    return client.post(reverse("portal:planning_toggle"), {"child": child.pk, "session": session.pk}, **HTMX)


def join(client, child, session, htmx=True):
    extra = HTMX if htmx else {}
    return client.post(
        reverse("portal:planning_waitlist_join"),
        {"child": child.pk, "session": session.pk, "next": "/planning/?date=2026-12-01"},
        **extra,
    )


# --- the "Complet" answer offers the list -------------------------------------------------------------


def test_full_answer_offers_the_waiting_list(family_client, setup, full):
    lea = setup.children[0]
    response = tick(family_client, lea, full)
    assert response.status_code == 409
    body = text_of(response)
    assert "Complet : il n'y a plus de place le mercredi 2 décembre 2026 (Journée)." in body
    assert "M'inscrire sur la liste d'attente : Léa, mercredi 2 décembre 2026" in body
    assert "la place n'est pas gardée" in body
    markup = html_of(response)
    url = reverse("portal:planning_waitlist_join")
    assert f'hx-post="{url}" hx-target="#cell-{lea.pk}-{full.pk}"' in markup
    assert f'name="session" value="{full.pk}"' in markup and 'name="csrfmiddlewaretoken"' in markup


def test_full_answer_without_the_option_offers_nothing(family_client, setup, full):
    setup.activity.session_waiting_list = False
    setup.activity.save(update_fields=["session_waiting_list"])
    response = tick(family_client, setup.children[0], full)
    assert response.status_code == 409
    assert "liste d'attente" not in text_of(response)


def test_other_refusals_offer_nothing(family_client, setup, full):
    past = setup.sessions[0].__class__.objects.create(unit=setup.unit, date=dt.date(2026, 11, 18), capacity=0)
    response = tick(family_client, setup.children[0], past)
    assert response.status_code == 409
    assert "M'inscrire sur la liste d'attente" not in text_of(response)


# --- joining ---------------------------------------------------------------------------------------------


def test_join_with_htmx_answers_the_waiting_cell_and_a_confirmation(family_client, setup, full):
    lea = setup.children[0]
    response = join(family_client, lea, full)
    assert response.status_code == 200
    entry = SessionWaitlistEntry.objects.get()
    assert (entry.child, entry.session, entry.status) == (lea, full, WaitlistStatus.WAITING)
    markup = html_of(response)
    assert f'<div class="cell state-waitlisted is-locked" id="cell-{lea.pk}-{full.pk}">' in markup
    assert 'id="planning-alert" hx-swap-oob="innerHTML"' in markup
    body = text_of(response)
    assert "Léa est sur la liste d'attente du mercredi 2 décembre 2026 (Journée)" in body
    assert "Sur liste d'attente" in body


def test_join_without_javascript_redirects_with_the_message(family_client, setup, full):
    response = join(family_client, setup.children[0], full, htmx=False)
    assert response.status_code == 302 and response["Location"] == "/planning/?date=2026-12-01"
    page = text_of(family_client.get(response["Location"]))
    assert "Léa est sur la liste d'attente du mercredi 2 décembre 2026" in page
    assert SessionWaitlistEntry.objects.count() == 1


def test_join_refused_answers_409_with_the_reason(family_client, setup):
    response = join(family_client, setup.children[0], setup.sessions[1])  # not full
    assert response.status_code == 409
    assert "Il reste de la place le mercredi 9 décembre 2026 (Journée) : cochez la case" in text_of(response)
    assert not SessionWaitlistEntry.objects.exists()


def test_join_with_another_households_child_or_an_unknown_session_is_404(family_client, setup, full):
    stranger = make_bookable(activity=setup.activity, unit=setup.unit)
    assert join(family_client, stranger.children[0], full).status_code == 404
    response = family_client.post(
        reverse("portal:planning_waitlist_join"), {"child": setup.children[0].pk, "session": "999999"}, **HTMX
    )
    assert response.status_code == 404
    assert family_client.get(reverse("portal:planning_waitlist_join")).status_code == 405
    assert not SessionWaitlistEntry.objects.exists()


# --- the planning page ------------------------------------------------------------------------------------


def test_a_full_cell_offers_the_list_and_a_waiting_cell_says_so(family_client, setup, full):
    lea = setup.children[0]
    url = reverse("portal:planning") + "?date=2026-12-01"
    markup = html_of(family_client.get(url))
    assert "Attente : m'inscrire sur la liste d'attente, Léa, mercredi 2 décembre 2026, Journée" in text_of(
        family_client.get(url)
    )
    assert f'action="{reverse("portal:planning_waitlist_join")}"' in markup
    join(family_client, lea, full)
    response = family_client.get(url)
    markup, page = html_of(response), text_of(response)
    assert f'class="cell state-waitlisted is-locked" id="cell-{lea.pk}-{full.pk}"' in markup
    assert f"Léa, mercredi 2 décembre 2026, {setup.activity.name}, Journée : Sur liste d'attente." in page
    assert "m'inscrire sur la liste d'attente" not in page
    assert '<span class="swatch state-waitlisted" aria-hidden="true"></span> Sur liste d\'attente' in markup
    assert f'href="{reverse("portal:planning_waitlist")}"' in markup


def test_no_offer_in_cells_of_an_activity_without_the_option(family_client, setup, full):
    setup.activity.session_waiting_list = False
    setup.activity.save(update_fields=["session_waiting_list"])
    page = text_of(family_client.get(reverse("portal:planning") + "?date=2026-12-01"))
    assert "Complet" in page and "m'inscrire sur la liste d'attente" not in page


# --- "Mes listes d'attente" and "Retirer" -------------------------------------------------------------------


def test_the_list_page_shows_the_entries_with_their_rank_and_withdraws_one(family_client, setup, full):
    other = make_bookable(activity=setup.activity, unit=setup.unit)
    SessionWaitlistEntry.objects.create(
        child=other.children[0], household=other.household, session=full, created_at=NOW - dt.timedelta(hours=1)
    )
    join(family_client, setup.children[0], full)
    entry = SessionWaitlistEntry.objects.get(household=setup.household)
    response = family_client.get(reverse("portal:planning_waitlist"))
    assert response.status_code == 200
    page = text_of(response)
    assert "Léa – mercredi 2 décembre 2026" in page and "En attente" in page
    assert "1 inscription avant vous" in page
    assert other.children[0].first_name not in page.replace("Léa", "")
    leave_url = reverse("portal:planning_waitlist_leave", kwargs={"entry_id": entry.pk})
    assert f'action="{leave_url}"' in html_of(response)
    assert family_client.get(leave_url).status_code == 405
    response = family_client.post(leave_url)
    assert response.status_code == 302 and response["Location"] == reverse("portal:planning_waitlist")
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.WITHDRAWN
    page = text_of(family_client.get(reverse("portal:planning_waitlist")))
    assert "Léa n'est plus sur la liste d'attente du mercredi 2 décembre 2026." in page
    assert "Retirée" in page and "Retirer Léa" not in page


def test_withdrawing_another_households_entry_is_404(family_client, setup, full):
    other = make_bookable(activity=setup.activity, unit=setup.unit)
    theirs = SessionWaitlistEntry.objects.create(child=other.children[0], household=other.household, session=full)
    url = reverse("portal:planning_waitlist_leave", kwargs={"entry_id": theirs.pk})
    assert family_client.post(url).status_code == 404
    assert family_client.get(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == WaitlistStatus.WAITING


def test_the_history_shows_the_waiting_list(family_client, setup, full):
    join(family_client, setup.children[0], full)
    page = text_of(family_client.get(reverse("portal:planning_history")))
    assert "Inscription sur liste d'attente : Léa – mercredi 2 décembre 2026" in page
    assert LogEntry.objects.filter(action="booking.waitlist_joined", household=setup.household).count() == 1


# --- staff planning ---------------------------------------------------------------------------------------


def test_staff_planning_shows_the_waiting_count_and_no_book_button_on_full_cells(client, setup, full):
    join_as = make_bookable(activity=setup.activity, unit=setup.unit)
    SessionWaitlistEntry.objects.create(child=join_as.children[0], household=join_as.household, session=full)
    SessionWaitlistEntry.objects.create(child=setup.children[0], household=setup.household, session=full)
    client.force_login(staff_member())
    url = reverse("backoffice:household_planning", args=[setup.household.pk]) + "?mois=2026-12"
    response = client.get(url)
    assert response.status_code == 200
    page = text_of(response)
    assert "Sur liste d'attente" in page and "Liste d'attente : 2 enfants" in page
    assert f"Réserver : Léa, {full.date:%d}" not in page
    assert "Réserver : Léa, mercredi 2 décembre 2026" not in page
    assert "Réserver : Léa, mercredi 9 décembre 2026" in page
