"""The enrolment journey in a real browser (Debian chromium, phone-sized screen): the demo family
enrols Léa in "Pommiers mercredis" (manual validation) through the guided form, an agent validates
the request from the staff queue, and the family finds it validated and downloads the attestation."""

import datetime as dt
import re
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from playwright.sync_api import expect

from portail.core.models import Channel, LogEntry
from portail.demo import constants as demo
from portail.enrolments.models import Enrolment, EnrolmentStatus

from .test_family_journey import login_with_email, logout, open_menu_item

pytestmark = pytest.mark.django_db(transaction=True)

# The demo's school year is fixed (2026-2027): pin the clock inside its enrolment window so the
# journey does not depend on the day the suite runs.
MONDAY = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))


@pytest.fixture(autouse=True)
def inside_the_enrolment_window():
    with time_machine.travel(MONDAY, tick=True):
        yield


ACTIVITY = "Pommiers mercredis 2026-2027"
AGENT_EMAIL = f"agent.accueil@{demo.DEMO_DOMAIN}"  # "Agent d'accueil": may change enrolments
MEMO = "Léa mangera à la cantine le mercredi midi."

# htmx is loaded, and neither requesting nor swapping/settling: it wires the freshly swapped
# step during the settle phase, so a change made before that would be lost.
HTMX_IDLE = """() => document.readyState === "complete" && window.htmx !== undefined
    && !document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")"""


def choose(page, label, option):
    """Pick one step of the guided choice as a person would, once the page is ready for it."""
    page.wait_for_function(HTMX_IDLE)
    page.get_by_label(label, exact=True).select_option(label=option)


def lea_enrolment_card(page):
    """Léa's card for the activity in "Mes inscriptions" (the V/?/! marker is aria-hidden)."""
    return page.get_by_role("region", name="Léa Martin").get_by_role("article", name=ACTIVITY)


def test_family_enrols_lea_agent_validates_family_downloads_attestation(page):
    call_command("load_demo", verbosity=0)

    # 1. The family asks for an enrolment through the guided form (one step at a time).
    login_with_email(page, demo.MARTIN_EMAIL, demo.FAMILY_PASSWORD)
    open_menu_item(page, "Inscriptions")
    expect(page.get_by_role("heading", name="Mes inscriptions", level=1)).to_be_visible()
    page.get_by_role("link", name="Nouvelle inscription", exact=True).click()
    expect(page.get_by_role("heading", name="Nouvelle inscription", level=1)).to_be_visible()

    choose(page, "Équipement", "Centre de loisirs Les Pommiers")
    choose(page, "Type d'activité", "Mercredis")
    # A level with a single option is chosen for the family: the activity and its only period.
    expect(page.get_by_label("Activité", exact=True)).to_have_value("pommiers-mercredis-2026-2027")
    expect(page.get_by_label("Période")).to_contain_text("Année 2026-2027")
    group_label = page.get_by_label("Groupe").get_by_role("option", name=re.compile(r"^6-11 ans")).text_content()
    choose(page, "Groupe", group_label.strip())

    request_form = page.get_by_role("region", name="Votre demande")
    lea = request_form.get_by_label("Léa", exact=True)
    expect(lea).to_have_accessible_description("Peut être inscrite dans ce groupe.")
    lea.check()
    request_form.get_by_label("Mémo pour le service").fill(MEMO)
    request_form.get_by_role("button", name="Enregistrer la demande").click()

    expect(page).to_have_url(re.compile(r"/inscriptions/$"))
    expect(page.get_by_role("status")).to_contain_text(
        "Léa : demande enregistrée, en attente de validation par le service."
    )
    card = lea_enrolment_card(page)
    expect(card.get_by_role("heading", name=ACTIVITY)).to_have_text(f"? {ACTIVITY}")
    expect(card).to_contain_text("En attente de validation par le service")
    enrolment = Enrolment.objects.get(child__first_name="Léa", activity__name=ACTIVITY)
    assert enrolment.status == EnrolmentStatus.REQUESTED
    assert enrolment.memo == MEMO

    open_menu_item(page, "Tableau de bord")
    row = page.get_by_role("row").filter(has_text=f"Léa – {ACTIVITY}")
    expect(row.get_by_role("rowheader")).to_have_text("Inscription")
    expect(row).to_contain_text("En attente de validation")
    logout(page)

    # 2. An agent validates the request from the staff queue.
    login_with_email(page, AGENT_EMAIL, demo.STAFF_PASSWORD)
    page.get_by_role("link", name="Espace agents").click()
    page.get_by_role("navigation", name="Navigation des agents").get_by_role("link", name="Inscriptions").click()
    expect(page.get_by_role("heading", name="Inscriptions à traiter", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Léa Martin", exact=True))
    expect(row).to_contain_text(ACTIVITY)
    expect(row).to_contain_text(MEMO)
    row.get_by_role("button", name="Valider la demande de Léa Martin").click()
    expect(page.get_by_role("status").first).to_contain_text(f"L'inscription de Léa Martin ({enrolment.reference})")
    expect(page.get_by_role("button", name="Valider la demande de Léa Martin")).to_have_count(0)
    logout(page)

    # 3. The family sees it validated and downloads the attestation.
    login_with_email(page, demo.MARTIN_EMAIL, demo.FAMILY_PASSWORD)
    open_menu_item(page, "Inscriptions")
    card = lea_enrolment_card(page)
    expect(card.get_by_role("heading", name=ACTIVITY)).to_have_text(f"V {ACTIVITY}")
    expect(card).to_contain_text("Validée")
    card.get_by_role("link", name=f"Voir le détail : {ACTIVITY}, Léa").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{ACTIVITY} – Léa")
    expect(page.get_by_text("Inscription validée par le service")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger l'attestation d'inscription (PDF)").click()
    download = info.value
    assert download.suggested_filename == f"attestation-{enrolment.reference}.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")

    open_menu_item(page, "Tableau de bord")
    expect(page.get_by_role("row").filter(has_text=f"Léa – {ACTIVITY}")).to_contain_text("Validée")

    # The decision is in the database and in the audit trail, made by the agent from the staff pages.
    enrolment.refresh_from_db()
    assert enrolment.status == EnrolmentStatus.VALIDATED
    assert enrolment.decided_by.email == AGENT_EMAIL
    decision = LogEntry.objects.get(
        action="enrolment.validated", object_type="enrolments.Enrolment", object_id=str(enrolment.pk)
    )
    assert decision.actor.email == AGENT_EMAIL
    assert decision.channel == Channel.STAFF
    assert decision.household_id == enrolment.child.household_id
    assert decision.after["status"] == EnrolmentStatus.VALIDATED
