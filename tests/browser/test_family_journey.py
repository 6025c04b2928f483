"""The foundation's key journey in a real browser (Debian chromium, phone-sized screen):
the demo family logs in both ways, sees and edits its record, files a request that an agent
accepts, and finds it accepted in its dashboard."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from portail.demo import constants as demo
from portail.households.models import ChangeRequest, Guardian, RequestStatus

pytestmark = pytest.mark.django_db(transaction=True)


def login_with_email(page, email, password):
    page.goto("/compte/connexion/")
    section = page.locator("#connexion-email")
    section.get_by_label("Adresse e-mail").fill(email)
    section.get_by_label("Mot de passe").fill(password)
    section.get_by_role("button", name="Se connecter").click()


def logout(page):
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(re.compile("/compte/connexion/"))


def basket_cost(household_reference) -> str:
    """What the ticked cells cost, as stored on the basket lines (priced once by the tariff engine at the
    tick): the banner, the recap and the bank must all show this amount."""
    from portail.bookings.models import BasketLine
    from portail.catalog.wording import format_euros

    lines = BasketLine.objects.filter(basket__household__reference=household_reference, kind="add")
    assert lines.exists() and all(line.price_trail for line in lines)  # priced by the demo's tariff grid
    return format_euros(sum(line.price_cents for line in lines))


def open_menu_item(page, name):
    page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name=name).click()


def test_demo_family_logs_in_and_opens_ma_famille(page):
    call_command("load_demo", verbosity=0)
    login_with_email(page, demo.MARTIN_EMAIL, demo.FAMILY_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bienvenue")
    open_menu_item(page, "Ma famille")
    expect(page.get_by_role("heading", name="Ma famille", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Enfants")).to_be_visible()
    expect(page.get_by_role("link", name="Léa Martin", exact=True)).to_be_visible()


def test_family_edits_record_files_request_staff_accepts_family_sees_it(page):
    call_command("load_demo", verbosity=0)
    payer = Guardian.objects.get(user__email=demo.MARTIN_EMAIL)

    # 1. The family edits its coordinates: saved at once.
    login_with_email(page, demo.MARTIN_EMAIL, demo.FAMILY_PASSWORD)
    open_menu_item(page, "Ma famille")
    page.get_by_role("link", name=re.compile(f"Modifier les coordonnées de {payer.full_name}")).click()
    page.get_by_label("Téléphone portable").fill("06 39 98 12 34")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("06 39 98 12 34").first).to_be_visible()
    payer.refresh_from_db()
    assert payer.mobile_phone.replace(" ", "") == "0639981234"

    # 2. It asks for a change that the town must approve.
    open_menu_item(page, "Ma famille")
    page.get_by_role("link", name="Modifier mon régime ou mon numéro d'allocataire").click()
    page.get_by_label("N° allocataire").fill("7654321")
    page.get_by_role("button", name="Envoyer ma demande").click()
    open_menu_item(page, "Tableau de bord")
    expect(page.get_by_text("En attente").first).to_be_visible()
    request = ChangeRequest.objects.get(
        household=payer.household, status=RequestStatus.PENDING, kind="update_household"
    )
    logout(page)

    # 3. An agent accepts it from the single queue.
    login_with_email(page, "agent.accueil@demo.portail-famille.fr", demo.STAFF_PASSWORD)
    page.goto("/gestion/demandes/")
    page.locator(f"a[href='/gestion/demandes/{request.pk}/']").click()
    page.get_by_role("button", name="Accepter").click()
    request.refresh_from_db()
    assert request.status == RequestStatus.ACCEPTED
    logout(page)

    # 4. The family, logged in with the child's two codes this time, sees it accepted.
    page.goto("/compte/connexion/")
    codes = page.locator("#connexion-codes")
    codes.get_by_label("Code enfant").fill(demo.DEMO_CHILD_CODE)
    codes.get_by_label("Code payeur").fill(demo.DEMO_PAYER_CODE)
    codes.get_by_role("button", name="Se connecter").click()
    open_menu_item(page, "Tableau de bord")
    expect(page.get_by_text("Acceptée").first).to_be_visible()
    open_menu_item(page, "Ma famille")
    expect(page.get_by_text("7654321")).to_be_visible()
