"""Payment races on real PostgreSQL (QUALITY R1, §6 T2; PAYMENTS.md §3.3 and §4 tests).

1. Notification replay: the bank's PAID notification for a 2-booking basket, 20 times at once over
   HTTP against gunicorn (what a bank retrying does), 5 repetitions (PAYMENT_RACE_REPETITIONS): 20 ×
   HTTP 200, notification outcomes 1 "applied" + 19 "duplicate", one payment PAID with one receipt
   number, the 2 bookings confirmed once, one "payment.paid" entry, one receipt e-mail (the workers
   use Django's file e-mail backend in a temporary folder, so the e-mails are counted across
   processes). Then 100 sequential replays of a fresh attempt: 1 applied + 99 duplicates, still one.
2. Two tabs click "Payer" on the same basket at once (regie lock 30 min, dummy backend, no network):
   `start_basket_payment` from two threads, and two POSTs of one logged-in session to gunicorn, 10
   repetitions each: one attempt, the other refused with "Un paiement est déjà en cours…" or "Aucune
   réservation à payer.", no booking twice, the places counted once.
3. Receipt numbers: 100 desk cheques (`record_offline_payment`) for 100 households of one régie from
   16 threads: numbers 1..100 for that régie and year, no duplicate. The same with every 10th call
   failing after it was numbered (inside the transaction): 90 payments numbered 1..90, no gap.
4. Reconciliation: two `reconcile_payments` at once on 10 silent attempts whose hold has ended (5
   repetitions; the attempts are written as rows, the checkout itself is covered by 2): each attempt
   expired once, each held booking cancelled once, one "payment.failed" entry and one e-mail per payment.
5. "Payer" while a basket session stays locked beyond the 3 s lock timeout: a "réessayez" refusal
   (PaymentError "busy"), nothing created (this was an HTTP 500 before the fix).

Each test fails when the lock it relies on is removed. Checked on scratch copies of the project
(copied without .venv to /tmp, one lock removed per copy, this file run from the copy, whose
gunicorn runs the copy's code since it starts in the copy's folder; nothing changed in /work/main):
- 1: `select_for_update(of=("self",))` removed from `services._apply_answer` → the first burst of
  20 gave 4 "applied" + 16 "duplicate" (one per gunicorn worker settled the payment again);
- 2: `select_for_update()` on the basket removed from `start_basket_payment` → in the first
  repetition the second tab was refused by the session lock instead ("Enfant0 – … : Cette séance
  est déjà réservée."): still no double booking, but not the payment's refusal, which the test
  requires (the session lock is a second line of defence, not the checkout's rule);
- 3: `select_for_update()` removed from `receipts.next_receipt_number` → 88 of the 100 desk
  payments failed with IntegrityError on "unique_receipt_number" (the same number given twice);
- 4: `select_for_update()` removed from `services._fail_attempt` → the two jobs reported 7 + 9 = 16
  expirations for 10 attempts (payments failed, released and mailed twice).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portail .venv/bin/pytest tests/concurrency/test_payment_races.py -q -s
"""

import datetime as dt
import email
import email.header
import http.client
import os
import queue
import re
import threading
import time
from collections import Counter
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.db import connection, transaction
from django.middleware.csrf import CSRF_ALLOWED_CHARS
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import get_random_string

from portail.accounts.middleware import SEEN_KEY, STARTED_KEY
from portail.bookings import services as booking_services
from portail.bookings.models import HOLDING_STATUSES, BasketLine, Booking, BookingStatus, LineKind
from portail.bookings.tests.factories import make_bookable
from portail.catalog.models import PaymentMode, Session
from portail.core.errors import BusinessError
from portail.core.models import Channel, LogEntry
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.households.models import Child, Guardian, Household, HouseholdStatus
from portail.payments import emails, offline, services
from portail.payments.errors import PaymentError
from portail.payments.models import (
    Allocation,
    AllocationKind,
    AttemptPurpose,
    BankNotification,
    Means,
    NotificationOutcome,
    Payment,
    PaymentAttempt,
    PaymentStatus,
    ReceiptCounter,
    Regie,
)
from tests.concurrency.conftest import run_gunicorn
from tests.factories import ActivityFactory, GroupFactory, PeriodFactory, TownFactory, UnitFactory

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (set DATABASE_URL): SQLite serialises writers, so there is no race to observe",
    ),
    pytest.mark.django_db(transaction=True),
]

REPETITIONS = int(os.environ.get("PAYMENT_RACE_REPETITIONS", "5"))
PARALLEL_NOTIFICATIONS = 20
SEQUENTIAL_NOTIFICATIONS = 100
CHECKOUT_REPETITIONS = 10
DESK_PAYMENTS = 100
DESK_THREADS = 16
EXPIRED_ATTEMPTS = 10
RECONCILE_REPETITIONS = 5
PRICE_CENTS = 1200
# A month ahead the sessions are bookable whatever today is (no deadline rule); the period is made around them.
FIRST_DAY = timezone.localdate() + dt.timedelta(days=30)
DAYS = [FIRST_DAY, FIRST_DAY + dt.timedelta(days=7)]
REFUSALS = ("Un paiement est déjà en cours", "Aucune réservation à payer")


# --- The world: a prepaid activity collected by a dummy-backend régie ------------------------------------


def make_world(*, code="ENF", lock_minutes=30, capacity=10):
    activity = ActivityFactory(payment_mode=PaymentMode.PREPAID)
    unit = UnitFactory(activity=activity, capacity=capacity, price_cents=PRICE_CENTS)
    period = PeriodFactory(
        activity=activity, start_date=FIRST_DAY - dt.timedelta(days=1), end_date=FIRST_DAY + dt.timedelta(days=90)
    )
    regie = Regie.objects.create(
        town=TownFactory(),
        name=f"Régie {code}",
        code=code,
        accepted_means=["online", "cheque", "cash"],
        backend="dummy",
        backend_options={},
        test_mode=True,
        lock_minutes=lock_minutes,  # payfip-like "mise en sécurité"; the dummy backend needs no network
        hold_minutes=15,
    )
    regie.activities.add(activity)
    return SimpleNamespace(activity=activity, unit=unit, period=period, regie=regie)


def new_family(world, *, children=2):
    """A household whose children are enrolled; sessions are made on the first call, then shared."""
    return make_bookable(children=children, dates=DAYS, activity=world.activity, unit=world.unit)


def fill_basket(family, cells):
    for child_index, session_index in cells:
        booking_services.toggle_cell(
            household=family.household,
            child=family.children[child_index],
            session_id=family.sessions[session_index].pk,
            actor=family.guardian.user,
            channel=Channel.WEB,
        )


def two_booking_basket(world):
    """A family with 2 prepaid lines in its basket (two children, the same day)."""
    family = new_family(world)
    fill_basket(family, [(0, 0), (1, 0)])
    return family


def start_payment(family, now=None):
    return services.start_basket_payment(
        household=family.household,
        actor=family.guardian.user,
        absolute_url=lambda path: f"http://127.0.0.1{path}",
        now=now,
    ).attempt


def audit_count(action, obj_or_objs) -> int:
    objs = obj_or_objs if isinstance(obj_or_objs, list) else [obj_or_objs]
    return LogEntry.objects.filter(
        action=action, object_type=objs[0]._meta.label, object_id__in=[str(o.pk) for o in objs]
    ).count()


def receipt_sequence(regie, year) -> list[int]:
    numbers = Payment.objects.filter(regie=regie).exclude(receipt_number="").values_list("receipt_number", flat=True)
    prefix = f"{regie.receipt_prefix}{regie.code}{year}"
    assert all(n.startswith(prefix) and re.fullmatch(r"\d{6}", n[len(prefix) :]) for n in numbers), list(numbers)[:5]
    return sorted(int(n[len(prefix) :]) for n in numbers)


def places_taken(unit) -> dict[int, int]:
    """{session id: places taken} from the rows (holding bookings + live add lines), not the selectors."""
    now = timezone.now()
    return {
        session.pk: Booking.objects.filter(session=session, status__in=HOLDING_STATUSES).count()
        + BasketLine.objects.filter(session=session, kind=LineKind.ADD, expires_at__gt=now).count()
        for session in unit.sessions.all()
    }


# --- Threads: each its own database connection, released together ------------------------------------


def in_parallel(calls) -> list[tuple[str, object]]:
    """Run each call in its own thread and connection, released by a barrier once all are connected.
    Returns ("ok", result), ("refused", BusinessError) or ("error", exception) per call, in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def work(index, call):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=60)
            results[index] = ("ok", call())
        except BusinessError as refusal:
            results[index] = ("refused", refusal)
        except Exception as exc:  # noqa: BLE001 - reported by the test, not swallowed
            results[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck"
    return results


# --- gunicorn with e-mails written to files (countable across processes) --------------------------------


@pytest.fixture(scope="module")
def payment_server(django_db_setup, tmp_path_factory):
    mail_dir = tmp_path_factory.mktemp("mails")
    worker_init = f"from django.conf import settings\nsettings.EMAIL_FILE_PATH = {str(mail_dir)!r}\n"
    with run_gunicorn(
        log_dir=tmp_path_factory.mktemp("gunicorn"),
        workers=4,
        worker_init=worker_init,
        extra_env={"DJANGO_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend"},
    ) as server:
        server.mail_dir = mail_dir
        yield server


def mail_subjects(mail_dir: Path) -> list[str]:
    """Subjects of every e-mail the workers wrote (one file per connection; a file may hold several)."""
    subjects = []
    for path in mail_dir.iterdir():
        for chunk in path.read_text(errors="replace").split("\n" + "-" * 79 + "\n"):
            if chunk.strip():
                message = email.message_from_string(chunk)
                subjects.append(str(email.header.make_header(email.header.decode_header(message["Subject"]))))
    return subjects


def http_request(server, method, path, *, headers=None, body=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace"), response.getheaders()
    except Exception as exc:  # noqa: BLE001 - an error is an answer the test counts
        return 0, repr(exc), []
    finally:
        if own:
            conn.close()


def http_together(server, requests) -> list[tuple[int, str, list]]:
    """One thread and one TCP connection per request, connected first, then released by a barrier."""
    barrier = threading.Barrier(len(requests))
    answers: list = [None] * len(requests)

    def work(index, method, path, headers, body):
        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        try:
            conn.connect()
            barrier.wait(timeout=60)
            answers[index] = http_request(server, method, path, headers=headers, body=body, conn=conn)
        except Exception as exc:  # noqa: BLE001
            answers[index] = (0, repr(exc), [])
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(i, *request)) for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a client is stuck"
    return answers


def notification_path(attempt) -> str:
    query = urlencode({"transaction_id": attempt.external_id, "ok": "1", "signed": "1"})
    return f"{reverse('payments:notification', args=[attempt.regie_id])}?{query}"


# --- 1. The bank's PAID notification, 20 at once and 100 in a row -----------------------------------------


def assert_paid_once(attempt, family, server, *, notifications):
    attempt.refresh_from_db()
    payment = Payment.objects.get(pk=attempt.payment_id)
    assert attempt.status == PaymentStatus.PAID and payment.status == PaymentStatus.PAID
    assert payment.receipt_number and payment.paid_at
    outcomes = Counter(BankNotification.objects.filter(attempt=attempt).values_list("outcome", flat=True))
    assert outcomes == {NotificationOutcome.APPLIED: 1, NotificationOutcome.DUPLICATE: notifications - 1}, outcomes
    bookings = list(Booking.objects.filter(child__household=family.household))
    assert len(bookings) == 2 and {b.status for b in bookings} == {BookingStatus.CONFIRMED}
    assert all(b.paid_at for b in bookings)
    assert audit_count("booking.paid", bookings) == 2  # each booking confirmed once
    assert audit_count("payment.paid", payment) == 1
    subjects = mail_subjects(server.mail_dir)
    assert subjects.count(f"Reçu de paiement n° {payment.receipt_number}") == 1, subjects
    return payment


def test_paid_notification_replayed_in_parallel_and_in_a_row_makes_one_payment(payment_server):
    world = make_world(capacity=None)
    year = timezone.localdate().year
    figures = []
    for repetition in range(REPETITIONS):
        family = two_booking_basket(world)
        attempt = start_payment(family)
        assert attempt.status == PaymentStatus.PENDING and attempt.external_id
        path = notification_path(attempt)
        started = time.perf_counter()
        answers = http_together(payment_server, [("GET", path, {}, None)] * PARALLEL_NOTIFICATIONS)
        seconds = round(time.perf_counter() - started, 2)
        assert [status for status, _, _ in answers] == [200] * PARALLEL_NOTIFICATIONS, (
            f"{[a[:2] for a in answers if a[0] != 200][:3]}\n{payment_server.log_tail()}"
        )
        assert len({body for _, body, _ in answers}) == 1  # the same short answer to every delivery
        payment = assert_paid_once(attempt, family, payment_server, notifications=PARALLEL_NOTIFICATIONS)
        # One number per repetition, and no number lost: 1..n for the régie and the year.
        assert receipt_sequence(world.regie, year) == list(range(1, repetition + 2))
        assert ReceiptCounter.objects.get(regie=world.regie, year=year).last_number == repetition + 1
        figures.append((payment.receipt_number, seconds))
    print(f"\nnotification replay: {REPETITIONS} × {PARALLEL_NOTIFICATIONS} parallel → (receipt, seconds): {figures}")

    # The same notification 100 times in a row (a bank retrying for hours): still one payment.
    family = two_booking_basket(world)
    attempt = start_payment(family)
    path = notification_path(attempt)
    started = time.perf_counter()
    statuses = Counter(http_request(payment_server, "GET", path)[0] for _ in range(SEQUENTIAL_NOTIFICATIONS))
    seconds = round(time.perf_counter() - started, 2)
    assert statuses == {200: SEQUENTIAL_NOTIFICATIONS}, f"{statuses}\n{payment_server.log_tail()}"
    assert_paid_once(attempt, family, payment_server, notifications=SEQUENTIAL_NOTIFICATIONS)
    assert receipt_sequence(world.regie, year) == list(range(1, REPETITIONS + 2))
    assert not BankNotification.objects.filter(outcome=NotificationOutcome.REJECTED).exists()
    print(f"notification replay: {SEQUENTIAL_NOTIFICATIONS} sequential in {seconds} s → 1 applied, 99 duplicates")


# --- 2. Two tabs click "Payer" on the same basket ---------------------------------------------------------


def assert_one_checkout(family, refusal_message):
    assert refusal_message.startswith(REFUSALS), refusal_message
    attempts = list(PaymentAttempt.objects.filter(household=family.household))
    assert len(attempts) == 1, attempts
    assert Payment.objects.filter(household=family.household).count() == 1
    bookings = list(Booking.objects.filter(child__household=family.household))
    cells = Counter((b.child_id, b.session_id) for b in bookings)
    assert len(bookings) == 2 and set(cells.values()) == {1}, cells  # no booking twice
    assert {b.status for b in bookings} == {BookingStatus.AWAITING_PAYMENT}
    assert attempts[0].payment.allocations.count() == 2
    assert attempts[0].amount_cents == 2 * PRICE_CENTS
    assert not BasketLine.objects.filter(basket__household=family.household).exists()
    assert audit_count("payment.started", attempts[0].payment) == 1
    assert audit_count("booking.awaiting_payment", bookings) == 2


def log_in(user) -> tuple[str, str]:
    """A session row as django.contrib.auth.login() writes it (plus the portal's timeout stamps),
    and a CSRF token. Returns (session key, csrf token)."""
    now = int(time.time())
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[STARTED_KEY] = store[SEEN_KEY] = now
    store.create()
    return store.session_key, get_random_string(32, CSRF_ALLOWED_CHARS)


def flash_messages(headers) -> list[str]:
    """The messages a redirect left in the messages cookie (decoded with the shared secret key)."""
    cookie = SimpleCookie()
    for name, value in headers:
        if name.lower() == "set-cookie":
            cookie.load(value)
    if "messages" not in cookie or not cookie["messages"].value:
        return []
    storage = CookieStorage(SimpleNamespace(COOKIES={}))
    return [str(message) for message in storage._decode(cookie["messages"].value) or []]


def test_two_tabs_clicking_payer_at_once_start_one_payment(payment_server):
    """Threads calling the service, then two POSTs of one logged-in session to gunicorn."""
    # Exactly the places 10 families × 2 children need on the first day: a place counted twice would
    # make a later family's tick "complet".
    world = make_world(capacity=2 * CHECKOUT_REPETITIONS)
    codes = Counter()
    for repetition in range(CHECKOUT_REPETITIONS):
        family = two_booking_basket(world)
        results = in_parallel([lambda f=family: start_payment(f)] * 2)
        kinds = sorted(kind for kind, _ in results)
        assert kinds == ["ok", "refused"], f"repetition {repetition}: {results}"
        refusal = next(value for kind, value in results if kind == "refused")
        codes[refusal.code] += 1
        assert_one_checkout(family, refusal.message)
    assert places_taken(world.unit)[world.unit.sessions.order_by("date").first().pk] == 2 * CHECKOUT_REPETITIONS
    print(f"\ntwo tabs (threads): {CHECKOUT_REPETITIONS} × 1 attempt; refusal codes: {dict(codes)}")

    world = make_world(code="TAB", capacity=2 * CHECKOUT_REPETITIONS)
    path = reverse("portal:payment_basket")
    recap = reverse("portal:planning_recap")
    for repetition in range(CHECKOUT_REPETITIONS):
        family = two_booking_basket(world)
        session_key, csrf = log_in(family.guardian.user)
        headers = {
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}; {settings.CSRF_COOKIE_NAME}={csrf}",
            "X-CSRFToken": csrf,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        answers = http_together(payment_server, [("POST", path, headers, "")] * 2)
        assert [status for status, _, _ in answers] == [302, 302], f"{answers}\n{payment_server.log_tail()}"
        locations = [dict((k.lower(), v) for k, v in h)["location"] for _, _, h in answers]
        refused = [i for i, location in enumerate(locations) if urlsplit(location).path == recap]
        assert len(refused) == 1, f"repetition {repetition}: {locations}"
        messages = flash_messages(answers[refused[0]][2])
        assert len(messages) == 1, messages
        assert_one_checkout(family, messages[0])
    assert places_taken(world.unit)[world.unit.sessions.order_by("date").first().pk] == 2 * CHECKOUT_REPETITIONS
    print(f"two tabs (HTTP, one session): {CHECKOUT_REPETITIONS} × (1 redirect to the bank, 1 refusal)")


def test_checkout_waiting_beyond_the_lock_timeout_is_refused_as_busy():
    """A session of the basket stays locked longer than LOCK_TIMEOUT (3 s; heavy ticking on the same
    day): "Payer" must be refused with the "réessayez" message as a PaymentError, nothing created."""
    world = make_world(code="BSY", capacity=None)
    family = two_booking_basket(world)
    holding, release = threading.Event(), threading.Event()

    def hold_the_sessions():
        try:
            with transaction.atomic():
                list(Session.objects.select_for_update().filter(unit=world.unit))
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_sessions)
    holder.start()
    try:
        assert holding.wait(timeout=30)
        [(kind, value)] = in_parallel([lambda: start_payment(family)])
    finally:
        release.set()
        holder.join(timeout=30)
    assert kind == "refused", value
    assert not PaymentAttempt.objects.exists() and not Booking.objects.exists()  # rolled back either way
    assert isinstance(value, PaymentError) and value.code == "busy", f"{type(value).__name__}: {value}"


# --- 3. Gapless receipt numbers under 16 desk connections -------------------------------------------------


def desk_run(regie, households, *, fail_every=0, monkeypatch=None) -> list[str]:
    """Record one cheque per household from DESK_THREADS connections. Returns the error messages."""
    if fail_every:
        calls = {"n": 0}
        guard = threading.Lock()
        real_log_action = offline.log_action

        def failing_log_action(**kwargs):
            # Runs inside record_offline_payment's transaction, after the number was given and saved.
            with guard:
                calls["n"] += 1
                fail = calls["n"] % fail_every == 0
            if fail:
                raise RuntimeError("failure after numbering")
            return real_log_action(**kwargs)

        monkeypatch.setattr(offline, "log_action", failing_log_action)
    jobs = queue.SimpleQueue()
    for index, household in enumerate(households):
        jobs.put((index, household))
    barrier = threading.Barrier(DESK_THREADS)
    errors = []

    def work():
        try:
            connection.ensure_connection()
            barrier.wait(timeout=60)
            while True:
                try:
                    index, household = jobs.get_nowait()
                except queue.Empty:
                    return
                try:
                    offline.record_offline_payment(
                        regie=regie,
                        household=household,
                        means="cheque",
                        amount_cents=1000 + index,
                        actor=None,
                        reference=f"{index:07d}",
                        cheque_bank="Banque Postale",
                        drawer=f"Payeur {index}",
                    )
                except Exception as exc:  # noqa: BLE001 - counted by the test
                    errors.append(str(exc) if isinstance(exc, RuntimeError) else repr(exc))
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(DESK_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck"
    return errors


def desk_world(code):
    """A cheque-taking régie (no counter row yet: the first numbers also race to create it) and 100
    households (one each: the household lock of record_offline_payment does not serialise them, so
    only the counter's lock does)."""
    regie = make_world(code=code).regie
    households = Household.objects.bulk_create(Household(reference=f"{code}{n:06d}") for n in range(DESK_PAYMENTS))
    return regie, households


def test_receipt_numbers_stay_gapless_under_parallel_desk_payments_and_failures(monkeypatch):
    delivered = []  # receipt e-mails are recorded after each commit, not rendered (no PDF for 190 receipts)
    monkeypatch.setattr(emails, "deliver_receipt", delivered.append)
    year = timezone.localdate().year

    regie, households = desk_world("CHQ")
    started = time.perf_counter()
    errors = desk_run(regie, households)
    seconds = round(time.perf_counter() - started, 2)
    assert errors == [], errors[:3]
    assert receipt_sequence(regie, year) == list(range(1, DESK_PAYMENTS + 1))
    assert ReceiptCounter.objects.get(regie=regie, year=year).last_number == DESK_PAYMENTS
    payments = set(Payment.objects.filter(regie=regie).values_list("pk", flat=True))
    assert sorted(delivered) == sorted(payments)  # one receipt e-mail per payment, after its commit
    assert LogEntry.objects.filter(action="payment.recorded").count() == DESK_PAYMENTS
    print(f"\nreceipts: {DESK_PAYMENTS} cheques from {DESK_THREADS} connections in {seconds} s → 1..{DESK_PAYMENTS}")

    # Every 10th call fails inside its transaction after it was numbered: the number is given again.
    regie, households = desk_world("CHF")
    delivered.clear()
    errors = desk_run(regie, households, fail_every=10, monkeypatch=monkeypatch)
    failed = DESK_PAYMENTS // 10
    assert errors == ["failure after numbering"] * failed, errors[:3]
    kept = DESK_PAYMENTS - failed
    assert Payment.objects.filter(regie=regie).count() == kept
    assert receipt_sequence(regie, year) == list(range(1, kept + 1))
    assert ReceiptCounter.objects.get(regie=regie, year=year).last_number == kept
    assert len(delivered) == kept  # a rolled-back payment mails nobody
    print(f"receipts: {DESK_PAYMENTS} cheques, {failed} failing after numbering → 1..{kept}, no gap")


# --- 4. Two reconciliation jobs at once ---------------------------------------------------------------------


def silent_attempts(world, tag, now) -> list[PaymentAttempt]:
    """EXPIRED_ATTEMPTS basket attempts whose hold has ended, as start_basket_payment leaves them
    (payment pending, 2 bookings "en cours de paiement" allocated to it, attempt pending), written
    directly: the checkout itself is exercised above, here only the release races."""
    households = Household.objects.bulk_create(
        Household(reference=f"{tag}{n:04d}", status=HouseholdStatus.ACTIVE) for n in range(EXPIRED_ATTEMPTS)
    )
    Guardian.objects.bulk_create(
        Guardian(
            household=h,
            civility="mme",
            first_name="Camille",
            last_name=f"Silence{n}",
            email=f"{tag.lower()}{n}@example.org",
            is_payer=True,
        )
        for n, h in enumerate(households)
    )
    children = Child.objects.bulk_create(
        Child(household=h, first_name=f"Enfant{n}", last_name=f"Silence{n}", birth_date="2018-05-14", sex="F")
        for n, h in enumerate(households)
    )
    enrolments = Enrolment.objects.bulk_create(
        Enrolment(
            child=c, activity=world.activity, period=world.period, group=world.group, status=EnrolmentStatus.VALIDATED
        )
        for c in children
    )
    created = now - dt.timedelta(minutes=world.regie.hold_minutes + 1)
    sessions = list(world.unit.sessions.order_by("date"))
    bookings = Booking.objects.bulk_create(
        Booking(
            child=c,
            session=s,
            enrolment=e,
            status=BookingStatus.AWAITING_PAYMENT,
            price_cents=PRICE_CENTS,
            created_at=created,
        )
        for c, e in zip(children, enrolments, strict=True)
        for s in sessions
    )
    payments = Payment.objects.bulk_create(
        Payment(
            regie=world.regie,
            household=h,
            means=Means.ONLINE,
            amount_cents=len(sessions) * PRICE_CENTS,
            status=PaymentStatus.PENDING,
            label="Réservations (2 séances)",
            created_at=created,
        )
        for h in households
    )
    by_household = {p.household_id: p for p in payments}
    Allocation.objects.bulk_create(
        Allocation(
            payment=by_household[b.child.household_id],
            kind=AllocationKind.BOOKING,
            amount_cents=PRICE_CENTS,
            label=str(b.session),
            booking=b,
            created_at=created,
        )
        for b in bookings
    )
    return PaymentAttempt.objects.bulk_create(
        PaymentAttempt(
            payment=p,
            regie=world.regie,
            household_id=p.household_id,
            purpose=AttemptPurpose.BASKET,
            backend=world.regie.backend,
            reference=f"P{tag}{n:06d}",
            external_id=f"{tag}{n}",
            amount_cents=p.amount_cents,
            status=PaymentStatus.PENDING,
            test=True,
            created_at=created,
            lock_until=created + dt.timedelta(minutes=world.regie.lock_minutes),
            hold_until=created + dt.timedelta(minutes=world.regie.hold_minutes),
        )
        for n, p in enumerate(payments)
    )


def test_two_reconciliations_at_once_expire_each_attempt_once():
    world = make_world(code="REC", capacity=None)
    for day in DAYS:
        world.unit.sessions.create(date=day)
    world.group = GroupFactory(activity=world.activity, capacity=None)
    figures = []
    for repetition in range(RECONCILE_REPETITIONS):
        now = timezone.now()
        attempts = silent_attempts(world, f"S{repetition}", now)
        bookings = list(Booking.objects.filter(allocations__payment__attempts__in=attempts))
        assert len(bookings) == 2 * EXPIRED_ATTEMPTS
        mail.outbox.clear()
        results = in_parallel([lambda at=now: services.reconcile_payments(now=at)] * 2)
        assert [kind for kind, _ in results] == ["ok", "ok"], results
        expired = [report.expired for _, report in results]
        assert sum(expired) == EXPIRED_ATTEMPTS, expired
        for attempt in attempts:
            attempt.refresh_from_db()
            assert attempt.status == PaymentStatus.EXPIRED
            assert Payment.objects.get(pk=attempt.payment_id).status == PaymentStatus.EXPIRED
            assert audit_count("payment.failed", attempt.payment) == 1
        for booking in bookings:
            booking.refresh_from_db()
            assert booking.status == BookingStatus.CANCELLED
            assert audit_count("booking.cancelled", booking) == 1  # released once
        assert all(taken == 0 for taken in places_taken(world.unit).values())
        recipients = Counter(tuple(message.to) for message in mail.outbox)
        assert len(mail.outbox) == EXPIRED_ATTEMPTS and set(recipients.values()) == {1}, recipients
        figures.append(tuple(expired))
    print(
        f"\nreconciliation: {RECONCILE_REPETITIONS} × 2 jobs on {EXPIRED_ATTEMPTS} attempts; expired per job: {figures}"
    )
