"""The payment journey in a real browser (Debian chromium, phone-sized screen): the demo family books
two prepaid Wednesdays of the Christmas holidays for Léa at "Pommiers vacances" (12 € each), pays 24 € on the demo bank's
PayFiP page, comes back to the portal's return page that shows the payment accepted, downloads the
receipt, and finds the two cells "Payée et réservée" on its planning. A second journey has the bank
confirm only after the family is back: the return page, polling every 5 s, reloads by itself.
"""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from playwright.sync_api import expect

from portail.bookings.models import Booking, BookingStatus
from portail.catalog.models import Activity, PaymentMode
from portail.catalog.wording import format_euros
from portail.demo import constants as demo
from portail.payments.models import Means, Payment, PaymentStatus

from .test_family_journey import basket_cost, login_with_email, open_menu_item

pytestmark = pytest.mark.django_db(transaction=True)

# Tuesday 1 December 2026, 10:00 in Paris: the Christmas Wednesday is open until Friday 18 December, noon.
TUESDAY = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
VACANCES = "pommiers-vacances-2026-2027"
# (child, the day as the cell names it, the date): Léa's two Christmas-holiday Wednesdays.
TICKED = [
    ("Léa", "mercredi 23 décembre 2026", dt.date(2026, 12, 23)),
    ("Léa", "mercredi 30 décembre 2026", dt.date(2026, 12, 30)),
]


@pytest.fixture
def demo_bank_here(live_server, settings):
    """The bank pages the family is sent to, and the bank's calls back to the portal, are this live server."""
    settings.PAYMENT_DEMO_BANK_BASE_URL = live_server.url


def cell_label(child, day, activity):
    return f"{child}, {day}, {activity.name}, Journée"


def christmas_bookings(activity):
    return Booking.objects.filter(
        child__household__reference="D000001",
        session__unit__activity=activity,
        session__date__in=[date for _, _, date in TICKED],
    )


def tick_and_pay(page) -> Activity:
    """Load the demo, log in, tick the two days, check the recap, click "Payer": the demo bank's page."""
    call_command("load_demo", verbosity=0)
    activity = Activity.objects.get(slug=VACANCES)
    assert activity.payment_mode == PaymentMode.PREPAID
    assert not christmas_bookings(activity).exists()
    mail.outbox.clear()

    # The planning opens on the current month: tick Léa's two Christmas-holiday Wednesdays.
    login_with_email(page, demo.MARTIN_EMAIL, demo.FAMILY_PASSWORD)
    open_menu_item(page, "Planning")
    expect(page.get_by_role("heading", name="Décembre 2026")).to_be_visible()
    banner = page.locator("#basket-banner")
    expect(banner).to_contain_text("0 réservation en attente, 0 annulation")
    for count, (child, day, _) in enumerate(TICKED, start=1):
        box = page.get_by_role("checkbox", name=cell_label(child, day, activity), exact=True)
        box.check()
        expect(box).to_be_checked()
        expect(banner).to_contain_text(f"{count} réservation{'s' if count > 1 else ''} en attente")
    cost = basket_cost("D000001")
    expect(banner).to_contain_text(f"Coût de la période : {cost}")

    # The recap: both days are to be paid online (nothing to "Valider").
    banner.get_by_role("link", name="Terminer les modifications").click()
    expect(page.get_by_role("heading", name="Récapitulatif de vos modifications")).to_be_visible()
    expect(page.get_by_role("heading", name="À payer en ligne")).to_be_visible()
    table = page.get_by_role("table", name="Réservations à payer en ligne")
    expect(table.get_by_role("row")).to_have_count(4)  # header, 2 lines, total
    for child, _, date in TICKED:
        expect(table.get_by_role("row").filter(has_text=f"{date:%d/%m/%Y}")).to_contain_text(child)
    expect(page.get_by_role("button", name="Valider")).to_have_count(0)
    page.get_by_role("button", name=f"Payer {cost}").click()

    # The demo bank's PayFiP page; the places are held meanwhile.
    expect(page).to_have_url(re.compile(r"/_banque-demo/tpa/paiementws\.web\?idop="))
    expect(page.get_by_role("note")).to_contain_text("Banque de démonstration")
    expect(page.get_by_role("heading", level=1)).to_contain_text("PayFiP de démonstration")
    expect(page.locator("main")).to_contain_text("Régie Enfance-Jeunesse")
    expect(page.locator("main")).to_contain_text(cost)
    assert christmas_bookings(activity).filter(status=BookingStatus.AWAITING_PAYMENT).count() == 2
    return activity


def paid_payment() -> Payment:
    # The online one: the demo's September invoice was paid by cheque at the desk (portail/demo/billing.py).
    payment = Payment.objects.get(household__reference="D000001", status=PaymentStatus.PAID, means=Means.ONLINE)
    assert payment.receipt_number
    return payment


def test_family_pays_two_prepaid_days_on_the_demo_bank_and_downloads_the_receipt(page, demo_bank_here):
    with time_machine.travel(TUESDAY, tick=True):
        activity = tick_and_pay(page)
        page.get_by_role("button", name="Payer par carte").click()

        # Back on the portal: the return page shows the payment accepted.
        expect(page).to_have_url(re.compile(r"/paiements/retour/"))
        online = Payment.objects.filter(household__reference="D000001", means=Means.ONLINE).latest("pk")
        cost = format_euros(online.amount_cents)
        expect(page.get_by_role("heading", name=f"Votre paiement de {cost}", level=1)).to_be_visible()
        state = page.locator("#etat-paiement")
        expect(state).to_contain_text("Paiement accepté", timeout=20_000)
        payment = paid_payment()
        expect(state).to_contain_text(f"Reçu n° {payment.receipt_number}")
        expect(state).to_contain_text("Vos réservations sont confirmées.")

        # The receipt, a PDF named after its number.
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Télécharger le reçu").click()
        download = download_info.value
        assert download.suggested_filename == f"recu-{payment.receipt_number}.pdf"
        with open(download.path(), "rb") as receipt:
            assert receipt.read(5) == b"%PDF-"

        # The planning shows the two days paid: read-only cells, no checkbox any more.
        page.get_by_role("link", name="Retour au planning").click()
        expect(page.get_by_role("heading", name="Décembre 2026")).to_be_visible()
        expect(page.locator("#basket-banner")).to_contain_text("0 réservation en attente, 0 annulation")
        for child, day, _ in TICKED:
            expect(page.get_by_role("checkbox", name=cell_label(child, day, activity), exact=True)).to_have_count(0)
            cell = page.locator(".cell.state-paid").filter(
                has_text=f"{child}, {day}, {activity.name}, Journée : Payée et réservée"
            )
            expect(cell).to_have_count(1)

        # In the database: two confirmed bookings, paid; one paid payment; the receipt e-mailed once.
        booked = christmas_bookings(activity)
        assert sorted(booked.values_list("child__first_name", "session__date")) == [(c, d) for c, _, d in TICKED]
        for booking in booked:
            assert booking.status == BookingStatus.CONFIRMED
            assert booking.paid_at is not None
            assert booking.price_trail  # priced by the demo's grid at the tick, not the unit's 12,00 €
        assert payment.amount_cents == sum(booking.price_cents for booking in booked)
        assert payment.paid_at is not None
        receipts = [message for message in mail.outbox if message.subject.startswith("Reçu de paiement")]
        assert [message.subject for message in receipts] == [f"Reçu de paiement n° {payment.receipt_number}"]
        assert demo.MARTIN_EMAIL in receipts[0].to
        assert receipts[0].attachments[0][0] == f"recu-{payment.receipt_number}.pdf"


def test_the_return_page_updates_itself_when_the_bank_confirms_later(page, demo_bank_here):
    with time_machine.travel(TUESDAY, tick=True):
        activity = tick_and_pay(page)
        bank_page_url = page.url

        # The bank does not answer yet: the family is back on a page "en cours de vérification".
        page.get_by_role("button", name="Ne pas répondre").click()
        expect(page).to_have_url(re.compile(r"/paiements/retour/"))
        state = page.locator("#etat-paiement")
        expect(state).to_contain_text("Paiement en cours de vérification")
        expect(page.get_by_role("link", name="Télécharger le reçu")).to_have_count(0)
        assert not Payment.objects.filter(
            household__reference="D000001", status=PaymentStatus.PAID, means=Means.ONLINE
        ).exists()

        # The bank confirms later (here from another tab of the same browser).
        bank = page.context.new_page()
        bank.goto(bank_page_url)
        bank.get_by_role("button", name="Payer par carte").click()
        expect(bank).to_have_url(re.compile(r"/paiements/retour/"))
        bank.close()
        payment = paid_payment()

        # The first tab, polling every 5 s, reloads once settled: the receipt link appears.
        expect(state).to_contain_text("Paiement accepté", timeout=15_000)
        expect(state).to_contain_text(f"Reçu n° {payment.receipt_number}")
        expect(page.get_by_role("link", name="Télécharger le reçu")).to_be_visible()
        assert christmas_bookings(activity).filter(status=BookingStatus.CONFIRMED, paid_at__isnull=False).count() == 2
