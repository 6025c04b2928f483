"""Paying a prepaid basket end to end through the demo bank, for every backend: the family clicks
"Payer", follows the redirect to the bank, presses a button; the bank's notification (in-process)
settles the payment; the family's return page shows the result. Refused, cancelled, silent (expiry by
the reconciliation job) and late PAID with and without places left."""

import datetime as dt
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from portail.bookings import services as booking_services
from portail.bookings.models import BasketLine, Booking, BookingStatus
from portail.bookings.tests.factories import make_bookable
from portail.catalog.models import PaymentMode
from portail.core.models import Channel, LogEntry
from portail.payments import services
from portail.payments.models import (
    BankNotification,
    IncidentKind,
    NotificationOutcome,
    Payment,
    PaymentAttempt,
    PaymentIncident,
    PaymentStatus,
    Regie,
)
from portail.payments.selectors import household_account
from tests.factories import TownFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=timezone.get_current_timezone())
SYSTEMPAY_KEY = "CleDeTest1234"

BACKENDS = {
    "systempayv2": {"vads_site_id": "12345678", "secret_test": SYSTEMPAY_KEY, "signature_algo": "hmac_sha256"},
    "payzen": {"vads_site_id": "87654321", "secret_test": SYSTEMPAY_KEY, "signature_algo": "hmac_sha256"},
    "tipi": {"numcli": "123456"},
    "payfip_ws": {"numcli": "654321"},
    "dummy": {},
}
# The button names of the demo bank's pages for "paid", "refused", "cancelled", "no answer".
CHOICES = {
    "systempayv2": {"paid": "payer", "denied": "refuser", "cancelled": "annuler", "silent": "silence"},
    "payzen": {"paid": "payer", "denied": "refuser", "cancelled": "annuler", "silent": "silence"},
    "tipi": {"paid": "P", "denied": "R", "cancelled": "A", "silent": "silence"},
    "payfip_ws": {"paid": "P", "denied": "R", "cancelled": "A", "silent": "silence"},
    "dummy": {"paid": "payer", "denied": "refuser", "silent": "silence"},
}


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


def make_setup(backend, *, capacity=None, children=2, regie_options=None, code="ENF"):
    setup = make_bookable(children=children, payment_mode=PaymentMode.PREPAID, capacity=capacity, price_cents=1200)
    regie = Regie.objects.create(
        town=TownFactory(),
        name="Régie Enfance",
        code=code,
        accepted_means=["online", "cheque", "cash"],
        backend=backend,
        backend_options=regie_options if regie_options is not None else BACKENDS[backend],
        test_mode=True,
        lock_minutes=30 if backend in ("payfip_ws", "tipi") else 0,
        hold_minutes=15,
    )
    regie.activities.add(setup.activity)
    setup.regie = regie
    return setup


def tick(setup, child_index, session_index):
    return booking_services.toggle_cell(
        household=setup.household,
        child=setup.children[child_index],
        session_id=setup.sessions[session_index].pk,
        actor=setup.guardian.user,
        channel=Channel.WEB,
    )


def _form(html: str):
    """The first form of a page's main content: (action, method, {name: value}) from its hidden inputs."""
    if "<main" in html:
        html = html[html.index("<main") :]
    html = html[html.index("<form") :]
    html = html[: html.index("</form>")]
    action = unescape(re.search(r'<form[^>]*action="([^"]*)"', html).group(1))
    method = (re.search(r'<form[^>]*method="([^"]*)"', html) or re.search("(post)", "post")).group(1)
    fields = {
        unescape(name): unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', html)
    }
    return action, method.lower(), fields


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def pay(client, setup, choice, *, extra=None):
    """Click "Payer", go through the demo bank and press `choice`. Returns the final response."""
    response = client.post(reverse("portal:payment_basket"))
    assert response.status_code in (200, 302), response.content[:500]
    if response.status_code == 302:
        bank_page = client.get(_local(response["Location"]))
        bank_url = _local(response["Location"])
    else:
        action, _, fields = _form(response.content.decode())
        bank_url = _local(action)
        bank_page = client.post(bank_url, fields)
    assert bank_page.status_code == 200, bank_page.content[:800]
    html = bank_page.content.decode()
    action, _, fields = _form(html)
    fields = {**fields, "choix": CHOICES[setup.regie.backend][choice], **(extra or {})}
    answer = client.post(_local(action) if action else bank_url, fields)
    return answer


def attempt_of(setup) -> PaymentAttempt:
    return PaymentAttempt.objects.filter(household=setup.household).latest("created_at")


@pytest.fixture
def family_client(client):
    def login(setup):
        client.force_login(setup.guardian.user)
        return client

    return login


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_paid_confirms_the_bookings_numbers_a_receipt_and_mails_it_once(
    backend, family_client, django_capture_on_commit_callbacks
):
    setup = make_setup(backend)
    tick(setup, 0, 0)
    tick(setup, 0, 1)
    tick(setup, 1, 0)
    client = family_client(setup)
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, setup, "paid")
    attempt = attempt_of(setup)
    assert attempt.status == PaymentStatus.PAID
    payment = attempt.payment
    assert payment.status == PaymentStatus.PAID
    assert payment.amount_cents == 3600
    assert re.fullmatch(r"RENF2026\d{6}", payment.receipt_number)
    bookings = Booking.objects.filter(child__household=setup.household)
    assert bookings.count() == 3
    assert all(b.status == BookingStatus.CONFIRMED and b.paid_at for b in bookings)
    assert not BasketLine.objects.filter(basket__household=setup.household).exists()
    assert [m.subject for m in mail.outbox].count(f"Reçu de paiement n° {payment.receipt_number}") == 1
    # The return page shows it as paid, with the receipt, without logging out and in.
    page = client.get(reverse("portal:payment_return", args=[attempt.uid]))
    assert "Paiement accepté" in page.content.decode()
    receipt = client.get(reverse("portal:payment_receipt", args=[payment.pk]))
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
    assert LogEntry.objects.filter(action="payment.paid", object_id=str(payment.pk)).count() == 1


@pytest.mark.parametrize("backend", [b for b in BACKENDS if "denied" in CHOICES[b]])
def test_refused_releases_the_places_and_the_lock(backend, family_client, django_capture_on_commit_callbacks):
    setup = make_setup(backend, capacity=1)
    tick(setup, 0, 0)
    client = family_client(setup)
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, setup, "denied")
    attempt = attempt_of(setup)
    # eopayment's dummy backend only knows PAID, WAITING and ERROR: a refusal there is an error.
    expected = PaymentStatus.ERROR if backend == "dummy" else PaymentStatus.DENIED
    assert attempt.status == expected
    assert attempt.payment.status == expected
    booking = Booking.objects.get(child=setup.children[0])
    assert booking.status == BookingStatus.CANCELLED
    # The place is free again: the other child can take it.
    tick(setup, 1, 0)
    # and no lock remains: a new payment may start at once.
    assert services.open_basket_attempt(setup.household) is None
    page = client.get(reverse("portal:payment_return", args=[attempt.uid]))
    assert "n'a pas abouti" in page.content.decode()


@pytest.mark.parametrize("backend", [b for b in BACKENDS if "cancelled" in CHOICES[b]])
def test_cancelled_by_the_family_releases_the_places(backend, family_client, frozen_clock):
    setup = make_setup(backend)
    tick(setup, 0, 0)
    pay(family_client(setup), setup, "cancelled")
    attempt = attempt_of(setup)
    if backend == "payfip_ws":
        # PayFiP reports an abandon as "in progress" for 2 minutes (the payer may come back): the
        # hold is extended a little, and the reconciliation job then reads the abandon.
        assert attempt.status == PaymentStatus.PENDING
        frozen_clock.shift(dt.timedelta(minutes=16))
        services.reconcile_payments()
        attempt.refresh_from_db()
    assert attempt.status == PaymentStatus.CANCELLED
    assert Booking.objects.get(child=setup.children[0]).status == BookingStatus.CANCELLED


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_no_answer_holds_then_expires_exactly_once(backend, family_client, frozen_clock):
    setup = make_setup(backend)
    tick(setup, 0, 0)
    client = family_client(setup)
    pay(client, setup, "silent")
    attempt = attempt_of(setup)
    assert attempt.status == PaymentStatus.PENDING
    booking = Booking.objects.get(child=setup.children[0])
    assert booking.status == BookingStatus.AWAITING_PAYMENT
    page = client.get(reverse("portal:payment_return", args=[attempt.uid]))
    assert "en cours de vérification" in page.content.decode()
    # 14 minutes later nothing moves; after 15 the job releases the place (PayFiP is asked first).
    frozen_clock.shift(dt.timedelta(minutes=14))
    assert services.reconcile_payments().expired == 0
    frozen_clock.shift(dt.timedelta(minutes=2))
    report = services.reconcile_payments()
    if backend == "payfip_ws":
        # PayFiP still says "in progress" (P5): the hold is extended, up to two hours.
        assert report.still_pending == 1
        frozen_clock.shift(dt.timedelta(hours=2))
        report = services.reconcile_payments()
    assert report.expired == 1
    assert services.reconcile_payments().expired == 0
    attempt.refresh_from_db()
    booking.refresh_from_db()
    assert attempt.status == PaymentStatus.EXPIRED
    assert booking.status == BookingStatus.CANCELLED
    assert LogEntry.objects.filter(action="payment.failed", object_id=str(attempt.payment_id)).count() == 1


def _late_paid_notification(_family_client, setup, attempt):
    """The bank confirms after the hold ended: replay what a PAID notification carries (the bank has
    no session: a fresh client)."""
    from django.test import Client

    client = Client()
    backend = setup.regie.backend
    if backend == "dummy":
        return client.get(
            reverse("payments:notification", args=[setup.regie.pk]),
            {"transaction_id": attempt.external_id, "ok": "1", "signed": "1"},
        )
    if backend == "payfip_ws":
        from portail.demobank.models import DemoPayFiPOperation

        DemoPayFiPOperation.objects.filter(idop=attempt.external_id).update(
            resultrans="P", numauto="123456", dattrans="20112026", heurtrans="1030"
        )
        return client.post(
            reverse("payments:notification", args=[setup.regie.pk]),
            f"idop={attempt.external_id}",
            content_type="application/x-www-form-urlencoded",
        )
    raise AssertionError(backend)


@pytest.mark.parametrize("backend", ["dummy", "payfip_ws"])
def test_late_paid_books_again_when_places_remain(backend, family_client, frozen_clock):
    setup = make_setup(backend)
    tick(setup, 0, 0)
    client = family_client(setup)
    pay(client, setup, "silent")
    attempt = attempt_of(setup)
    frozen_clock.shift(dt.timedelta(hours=3))
    services.reconcile_payments()
    attempt.refresh_from_db()
    assert attempt.status == PaymentStatus.EXPIRED
    _late_paid_notification(client, setup, attempt)
    attempt.refresh_from_db()
    assert attempt.status == PaymentStatus.PAID
    live = Booking.objects.get(child=setup.children[0], status=BookingStatus.CONFIRMED)
    assert live.paid_at is not None
    account = household_account(setup.household, with_payments=False)
    assert account.credit_cents == 0
    assert not PaymentIncident.objects.exists()


@pytest.mark.parametrize("backend", ["dummy", "payfip_ws"])
def test_late_paid_without_places_becomes_credit_and_an_incident(backend, family_client, frozen_clock):
    setup = make_setup(backend, capacity=1)
    tick(setup, 0, 0)
    client = family_client(setup)
    pay(client, setup, "silent")
    attempt = attempt_of(setup)
    frozen_clock.shift(dt.timedelta(hours=3))
    services.reconcile_payments()
    # Meanwhile another family takes the only place.
    other = make_bookable(children=1, activity=setup.activity, unit=setup.unit)
    booking_services.staff_book(child=other.children[0], session_id=setup.sessions[0].pk, actor=None)
    _late_paid_notification(client, setup, attempt)
    attempt.refresh_from_db()
    assert attempt.status == PaymentStatus.PAID
    assert not Booking.objects.filter(child=setup.children[0], status=BookingStatus.CONFIRMED).exists()
    assert household_account(setup.household, with_payments=False).credit_cents == 1200
    incident = PaymentIncident.objects.get()
    assert incident.kind == IncidentKind.NO_PLACE_LEFT
    # Never over capacity.
    assert Booking.objects.filter(session=setup.sessions[0], status=BookingStatus.CONFIRMED).count() == 1


def test_a_second_payment_is_refused_while_one_is_pending(family_client):
    setup = make_setup("payfip_ws")
    tick(setup, 0, 0)
    client = family_client(setup)
    pay(client, setup, "silent")
    tick(setup, 0, 1)
    response = client.post(reverse("portal:payment_basket"), follow=True)
    text = unescape(response.content.decode())
    assert "Un paiement est déjà en cours" in text
    assert PaymentAttempt.objects.filter(household=setup.household).count() == 1


def test_notification_replayed_100_times_is_one_payment_one_email(family_client, django_capture_on_commit_callbacks):
    setup = make_setup("dummy")
    tick(setup, 0, 0)
    client = family_client(setup)
    pay(client, setup, "silent")
    attempt = attempt_of(setup)
    url = reverse("payments:notification", args=[setup.regie.pk])
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(100):
            assert client.get(url, {"transaction_id": attempt.external_id, "ok": "1", "signed": "1"}).status_code == 200
    assert Payment.objects.filter(household=setup.household, status=PaymentStatus.PAID).count() == 1
    assert len([m for m in mail.outbox if m.subject.startswith("Reçu de paiement")]) == 1
    outcomes = list(BankNotification.objects.filter(attempt=attempt).values_list("outcome", flat=True))
    assert outcomes.count(NotificationOutcome.APPLIED) == 1
    assert outcomes.count(NotificationOutcome.DUPLICATE) == 99
    # A refusal after PAID is logged and ignored: PAID is terminal.
    client.get(url, {"transaction_id": attempt.external_id, "signed": "1"})
    attempt.refresh_from_db()
    assert attempt.status == PaymentStatus.PAID
    assert BankNotification.objects.latest("pk").outcome == NotificationOutcome.IGNORED


def test_browser_return_alone_changes_nothing(family_client):
    setup = make_setup("dummy")
    tick(setup, 0, 0)
    client = family_client(setup)
    pay(client, setup, "silent")
    attempt = attempt_of(setup)
    client.get(reverse("portal:payment_return", args=[attempt.uid]), {"transaction_id": attempt.external_id, "ok": 1})
    attempt.refresh_from_db()
    assert attempt.status == PaymentStatus.PENDING


def test_another_households_attempt_and_receipt_are_404(family_client, client):
    setup = make_setup("dummy")
    tick(setup, 0, 0)
    owner = family_client(setup)
    pay(owner, setup, "paid")
    attempt = attempt_of(setup)
    other = make_bookable(children=1)
    client.force_login(other.guardian.user)
    assert client.get(reverse("portal:payment_return", args=[attempt.uid])).status_code == 404
    assert client.get(reverse("portal:payment_receipt", args=[attempt.payment_id])).status_code == 404


def _credit(setup, amount_cents):
    """Money already received by the régie and not allocated (e.g. a cheque paid in advance)."""
    return Payment.objects.create(
        regie=setup.regie,
        household=setup.household,
        means="cheque",
        amount_cents=amount_cents,
        status=PaymentStatus.PAID,
        paid_at=timezone.now(),
        label="Prépaiement",
        receipt_number=f"RENF2026{Payment.objects.count() + 1:06d}",
    )


def test_basket_paid_with_credit_books_at_once_and_uses_the_oldest_money_first(family_client):
    setup = make_setup("payfip_ws")
    first, second = _credit(setup, 1500), _credit(setup, 1500)
    tick(setup, 0, 0)
    tick(setup, 1, 0)
    client = family_client(setup)
    recap = client.get(reverse("portal:planning_recap")).content.decode()
    assert "Payer avec mon crédit (30,00 € disponibles)" in unescape(recap)
    response = client.post(reverse("portal:payment_basket_with_credit"), follow=True)
    assert "2 réservations payées avec votre crédit" in unescape(response.content.decode())
    bookings = Booking.objects.filter(child__household=setup.household)
    assert [b.status for b in bookings] == [BookingStatus.CONFIRMED] * 2 and all(b.paid_at for b in bookings)
    # 24 € taken: 15 € from the first payment, 9 € from the second; 6 € left.
    assert sum(a.amount_cents for a in first.allocations.all()) == 1500
    assert sum(a.amount_cents for a in second.allocations.all()) == 900
    assert services.credit_for(setup.household, setup.regie) == 600
    assert household_account(setup.household, with_payments=False).credit_cents == 600
    assert not PaymentAttempt.objects.exists()
    assert LogEntry.objects.filter(action="payment.credit_used").count() == 1


def test_not_enough_credit_changes_nothing(family_client):
    setup = make_setup("payfip_ws")
    _credit(setup, 1000)
    tick(setup, 0, 0)
    client = family_client(setup)
    assert "Payer avec mon crédit" not in client.get(reverse("portal:planning_recap")).content.decode()
    response = client.post(reverse("portal:payment_basket_with_credit"), follow=True)
    assert "ne couvre pas ces réservations" in unescape(response.content.decode())
    assert not Booking.objects.filter(child__household=setup.household).exists()
    assert BasketLine.objects.filter(basket__household=setup.household).count() == 1
