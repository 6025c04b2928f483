"""Enrolments paid at once (seed 000, "École municipale des sports"): the cart, one payment for
several children × trimesters, the enrolments and their sessions' bookings created on PAID,
money never lost (credit + incident), no double payment while an attempt is pending."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.urls import include, path, reverse
from django.utils import timezone

from portail.bookings.models import Booking, BookingStatus
from portail.catalog.models import Activity, PaymentMode, UnitKind
from portail.core.models import LogEntry
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.enrolments.tests.factories import EnrolmentFactory
from portail.payments import enrolment_payment as paid_at_once
from portail.payments.errors import PaymentError
from portail.payments.models import (
    Allocation,
    AllocationKind,
    AttemptPurpose,
    IncidentKind,
    Means,
    Payment,
    PaymentAttempt,
    PaymentIncident,
    PaymentStatus,
    Regie,
)
from portail.payments.selectors import household_account
from tests.factories import (
    ActivityFactory,
    ActivityTypeFactory,
    ChildFactory,
    FacilityFactory,
    GroupFactory,
    PeriodFactory,
    SessionFactory,
    TownFactory,
    UnitFactory,
    make_family,
)

pytestmark = pytest.mark.django_db

PRICE = 4500
T1_WEDNESDAYS = [dt.date(2026, 9, 9), dt.date(2026, 9, 16), dt.date(2026, 9, 23), dt.date(2026, 10, 7)]
T2_WEDNESDAYS = [dt.date(2027, 1, 6), dt.date(2027, 1, 13), dt.date(2027, 1, 20)]


# --- A test URLconf: the family portal with the enrolment-payment URLs mounted ------------------


def _urlpatterns():
    from config import urls as project_urls
    from portail.portal import urls as portal_urls

    portal = [*portal_urls.urlpatterns, path("", include("portail.portal.urls_enrolment_payment"))]
    others = [pattern for pattern in project_urls.urlpatterns if getattr(pattern, "namespace", None) != "portal"]
    return [path("", include((portal, "portal"))), *others]


urlpatterns = _urlpatterns()


# --- Fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def ems():
    """An EMS-like activity: paid at enrolment, automatic validation, two trimesters at 45 €, two groups
    by age, a Wednesday unit with sessions in each trimester; its régie takes online payments."""
    facility = FacilityFactory(name="École municipale des sports", slug="ems")
    activity = ActivityFactory(
        facility=facility,
        activity_type=ActivityTypeFactory(name="Sport", slug="sport"),
        name="École municipale des sports",
        slug="ems-2026-2027",
        payment_mode=PaymentMode.AT_ENROLMENT,
        validation_mode=Activity.ValidationMode.AUTO,
    )
    t1 = PeriodFactory(
        activity=activity,
        name="Trimestre 1",
        start_date=dt.date(2026, 9, 1),
        end_date=dt.date(2026, 12, 18),
        enrolment_price_cents=PRICE,
    )
    t2 = PeriodFactory(
        activity=activity,
        name="Trimestre 2",
        start_date=dt.date(2027, 1, 4),
        end_date=dt.date(2027, 3, 31),
        enrolment_price_cents=PRICE,
    )
    escalade = GroupFactory(activity=activity, name="7/11 ans Escalade", min_age=7, max_age=11, capacity=12)
    badminton = GroupFactory(activity=activity, name="8/11 ans Badminton", min_age=8, max_age=11, capacity=16)
    unit = UnitFactory(activity=activity, name="Séance", kind=UnitKind.CLASS, price_cents=0, capacity=None)
    sessions = [SessionFactory(unit=unit, date=day) for day in T1_WEDNESDAYS + T2_WEDNESDAYS]
    SessionFactory(unit=unit, date=dt.date(2026, 11, 4), is_cancelled=True)  # no session that day
    SessionFactory(unit=unit, date=dt.date(2027, 4, 7))  # trimester 3: not paid for
    regie = Regie.objects.create(
        town=TownFactory(),
        name="Régie des sports",
        code="EMS1",
        backend="dummy",
        accepted_means=["online"],
        test_mode=True,
    )
    regie.activities.add(activity)
    return SimpleNamespace(
        activity=activity,
        t1=t1,
        t2=t2,
        escalade=escalade,
        badminton=badminton,
        unit=unit,
        sessions=sessions,
        regie=regie,
    )


@pytest.fixture
def family():
    household, guardian, kids = make_family(children=2)
    kids[0].first_name, kids[0].birth_date = "Léa", dt.date(2017, 3, 2)  # 9 years old in September 2026
    kids[1].first_name, kids[1].birth_date = "Tom", dt.date(2018, 5, 14)  # 8
    for kid in kids:
        kid.save(update_fields=["first_name", "birth_date"])
    return SimpleNamespace(household=household, guardian=guardian, user=guardian.user, lea=kids[0], tom=kids[1])


def fill_cart(session, family, ems):
    """Léa and Tom in trimesters 1 and 2 (escalade, then badminton for Tom in trimester 2)."""
    for child, period, group in [
        (family.lea, ems.t1, ems.escalade),
        (family.tom, ems.t1, ems.escalade),
        (family.lea, ems.t2, ems.escalade),
        (family.tom, ems.t2, ems.badminton),
    ]:
        paid_at_once.add_to_cart(session, family.household, child_id=child.pk, period_id=period.pk, group_id=group.pk)
    return paid_at_once.cart_items(session, family.household)


def paid_payment(household, regie, items, *, now):
    """What start_enrolment_payment leaves behind, with the bank's PAID applied to the rows."""
    payment = Payment.objects.create(
        regie=regie,
        household=household,
        means=Means.ONLINE,
        amount_cents=sum(item.price_cents for item in items),
        status=PaymentStatus.PAID,
        label=paid_at_once.payment_label(items),
        created_at=now,
        paid_at=now,
    )
    for item in items:
        Allocation.objects.create(
            payment=payment,
            kind=AllocationKind.ENROLMENT,
            amount_cents=item.price_cents,
            label=item.label,
            pending_enrolment=item.as_dict(),
        )
    attempt = PaymentAttempt.objects.create(
        payment=payment,
        regie=regie,
        household=household,
        purpose=AttemptPurpose.ENROLMENT,
        backend=regie.backend,
        reference="PEMS1TEST0001",
        external_id="bank-1",
        amount_cents=payment.amount_cents,
        status=PaymentStatus.PAID,
        created_at=now,
        lock_until=now + dt.timedelta(minutes=30),
        hold_until=now + dt.timedelta(minutes=15),
    )
    return payment, attempt


def absolute(path):
    return f"https://portail.example.org{path}"


# --- The cart -------------------------------------------------------------------------------------


def test_cart_lists_items_with_prices_and_total(ems, family):
    session = {}
    items = fill_cart(session, family, ems)
    assert [item.label for item in items] == [
        "Léa – Trimestre 1 – 7/11 ans Escalade",
        "Tom – Trimestre 1 – 7/11 ans Escalade",
        "Léa – Trimestre 2 – 7/11 ans Escalade",
        "Tom – Trimestre 2 – 8/11 ans Badminton",
    ]
    assert paid_at_once.cart_total(items) == 4 * PRICE
    assert items[0].price == "45,00 €"


def test_cart_refuses_another_households_child(ems, family):
    stranger = ChildFactory(first_name="Zoé", birth_date=dt.date(2017, 1, 1))
    session = {}
    with pytest.raises(PaymentError) as refusal:
        paid_at_once.add_to_cart(
            session, family.household, child_id=stranger.pk, period_id=ems.t1.pk, group_id=ems.escalade.pk
        )
    assert refusal.value.code == "invalid_item"
    assert "Zoé" not in refusal.value.message
    assert session.get(paid_at_once.SESSION_KEY) in (None, [])
    # A line slipped into the session by hand is dropped, not shown nor paid.
    session[paid_at_once.SESSION_KEY] = [
        {"child": stranger.pk, "period": ems.t1.pk, "group": ems.escalade.pk},
        {"child": family.lea.pk, "period": ems.t1.pk, "group": ems.escalade.pk},
        {"child": "x", "period": None},
    ]
    items = paid_at_once.cart_items(session, family.household)
    assert [item.child for item in items] == [family.lea]
    assert session[paid_at_once.SESSION_KEY] == [items[0].as_dict()]


def test_cart_drops_groups_of_another_activity_and_activities_not_paid_at_enrolment(ems, family):
    other_group = GroupFactory(name="Groupe ailleurs")
    invoiced = ActivityFactory(payment_mode=PaymentMode.INVOICED)
    invoiced_period = PeriodFactory(activity=invoiced, enrolment_price_cents=PRICE)
    invoiced_group = GroupFactory(activity=invoiced)
    session = {}
    for period, group in [(ems.t1, other_group), (invoiced_period, invoiced_group)]:
        with pytest.raises(PaymentError):
            paid_at_once.add_to_cart(
                session, family.household, child_id=family.lea.pk, period_id=period.pk, group_id=group.pk
            )
    assert paid_at_once.cart_items(session, family.household) == []


def test_cart_replaces_a_childs_line_for_the_same_period_and_remove_and_clear(ems, family):
    session = {}
    paid_at_once.add_to_cart(
        session, family.household, child_id=family.lea.pk, period_id=ems.t1.pk, group_id=ems.escalade.pk
    )
    paid_at_once.add_to_cart(
        session, family.household, child_id=family.lea.pk, period_id=ems.t1.pk, group_id=ems.badminton.pk
    )
    items = paid_at_once.cart_items(session, family.household)
    assert [(item.child, item.group) for item in items] == [(family.lea, ems.badminton)]
    assert paid_at_once.remove_from_cart(session, family.household, child_id=family.lea.pk, period_id=ems.t1.pk)
    assert not paid_at_once.remove_from_cart(session, family.household, child_id=family.lea.pk, period_id=ems.t1.pk)
    fill_cart(session, family, ems)
    paid_at_once.clear_cart(session)
    assert paid_at_once.cart_items(session, family.household) == []


def test_cart_refuses_an_ineligible_child_naming_the_child_and_the_reason(ems, family):
    young = ChildFactory(household=family.household, first_name="Noé", birth_date=dt.date(2021, 1, 1))
    with pytest.raises(PaymentError) as refusal:
        paid_at_once.add_to_cart({}, family.household, child_id=young.pk, period_id=ems.t1.pk, group_id=ems.escalade.pk)
    assert refusal.value.code == "ineligible"
    assert refusal.value.message.startswith("Noé – Trimestre 1 – 7/11 ans Escalade : Noé aura 5 ans")


def test_cart_forgets_an_enrolment_already_made(ems, family):
    session = {}
    fill_cart(session, family, ems)
    EnrolmentFactory(child=family.lea, group=ems.escalade, activity=ems.activity, period=ems.t1)
    labels = [item.label for item in paid_at_once.cart_items(session, family.household)]
    assert "Léa – Trimestre 1 – 7/11 ans Escalade" not in labels
    assert len(labels) == 3


# --- Starting the payment -------------------------------------------------------------------------


def test_start_makes_one_payment_with_one_allocation_per_enrolment(ems, family):
    session = {}
    items = fill_cart(session, family, ems)
    started = paid_at_once.start_enrolment_payment(
        household=family.household, items=items, actor=family.user, absolute_url=absolute
    )
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PENDING
    assert payment.means == Means.ONLINE
    assert payment.amount_cents == 4 * PRICE
    assert payment.label == "Inscription École municipale des sports (2 trimestres, 2 enfants)"
    assert payment.regie == ems.regie
    allocations = list(payment.allocations.order_by("pk"))
    assert [a.kind for a in allocations] == [AllocationKind.ENROLMENT] * 4
    assert [a.amount_cents for a in allocations] == [PRICE] * 4
    assert allocations[0].label == "Léa – Trimestre 1 – 7/11 ans Escalade"
    assert allocations[3].pending_enrolment == {"child": family.tom.pk, "period": ems.t2.pk, "group": ems.badminton.pk}
    assert all(a.enrolment_id is None for a in allocations)
    attempt = started.attempt
    assert attempt.payment == payment
    assert attempt.purpose == AttemptPurpose.ENROLMENT
    assert attempt.status == PaymentStatus.PENDING  # the (dummy) bank accepted the request
    assert attempt.amount_cents == 4 * PRICE
    assert started.checkout.method == "GET"
    assert LogEntry.objects.filter(action="payment.started", object_id=str(payment.pk)).count() == 1
    # Nothing is created before the money arrives.
    assert not Enrolment.objects.exists()
    assert not Booking.objects.exists()


def test_start_refuses_an_item_no_longer_eligible(ems, family):
    session = {}
    items = fill_cart(session, family, ems)
    family.tom.is_active = False
    family.tom.save(update_fields=["is_active"])
    with pytest.raises(PaymentError) as refusal:
        paid_at_once.start_enrolment_payment(
            household=family.household, items=items, actor=family.user, absolute_url=absolute
        )
    assert refusal.value.code == "ineligible"
    assert "Tom – Trimestre 1 – 7/11 ans Escalade : Le dossier de Tom n'est plus actif." in refusal.value.message
    assert not Payment.objects.exists()
    assert not PaymentAttempt.objects.exists()


def test_start_refuses_a_full_group_counting_the_carts_own_items(ems, family):
    ems.escalade.capacity = 2
    ems.escalade.save(update_fields=["capacity"])
    EnrolmentFactory(group=ems.escalade, activity=ems.activity, period=ems.t1)  # one place left in trimester 1
    session = {}
    items = fill_cart(session, family, ems)
    with pytest.raises(PaymentError) as refusal:
        paid_at_once.start_enrolment_payment(
            household=family.household, items=items, actor=family.user, absolute_url=absolute
        )
    # Léa takes the last place; Tom is the one refused.
    assert refusal.value.message == (
        "Tom – Trimestre 1 – 7/11 ans Escalade : Le groupe « 7/11 ans Escalade » est complet pour « Trimestre 1 »."
    )
    assert not Payment.objects.exists()


def test_start_refuses_without_online_payment(ems, family):
    ems.regie.accepted_means = ["cheque"]
    ems.regie.save(update_fields=["accepted_means"])
    items = fill_cart({}, family, ems)
    with pytest.raises(PaymentError) as refusal:
        paid_at_once.start_enrolment_payment(
            household=family.household, items=items, actor=family.user, absolute_url=absolute
        )
    assert refusal.value.code == "no_online"
    assert not Payment.objects.exists()


def test_no_new_attempt_while_one_is_pending_with_the_time_to_wait(ems, family):
    items = fill_cart({}, family, ems)
    now = timezone.now().replace(second=0, microsecond=0)
    first = paid_at_once.start_enrolment_payment(
        household=family.household, items=items, actor=family.user, absolute_url=absolute, now=now
    )
    later = now + dt.timedelta(minutes=10)
    with pytest.raises(PaymentError) as refusal:
        paid_at_once.start_enrolment_payment(
            household=family.household, items=items, actor=family.user, absolute_url=absolute, now=later
        )
    assert refusal.value.code == "locked"
    at = timezone.localtime(first.attempt.lock_until)
    assert refusal.value.message.startswith("Un paiement est déjà en cours pour ces inscriptions.")
    assert f"recommencer à {at:%H:%M} (dans 21 minutes)" in refusal.value.message
    assert "inutile de payer une seconde fois" in refusal.value.message
    assert Payment.objects.count() == 1
    assert paid_at_once.payment_blocked(family.household, items, later) == refusal.value.message
    # Once the lock time is over (the family gave up at the bank), paying again is possible.
    again = paid_at_once.start_enrolment_payment(
        household=family.household,
        items=items,
        actor=family.user,
        absolute_url=absolute,
        now=first.attempt.lock_until + dt.timedelta(seconds=1),
    )
    assert again.attempt.pk != first.attempt.pk


# --- The bank said PAID ---------------------------------------------------------------------------


def test_settle_creates_validated_enrolments_and_paid_bookings_for_every_session(ems, family):
    now = timezone.now()
    items = fill_cart({}, family, ems)
    payment, attempt = paid_payment(family.household, ems.regie, items, now=now)
    created = paid_at_once.settle_enrolments(payment, attempt, now)
    assert len(created) == 4
    enrolments = Enrolment.objects.filter(child__household=family.household)
    assert enrolments.count() == 4
    assert {e.status for e in enrolments} == {EnrolmentStatus.VALIDATED}
    assert all(e.reference and e.decided_at == now for e in enrolments)
    lea_t1 = enrolments.get(child=family.lea, period=ems.t1)
    bookings = Booking.objects.filter(enrolment=lea_t1).order_by("session__date")
    # Every session of trimester 1, not the cancelled one, not trimester 3's.
    assert [b.session.date for b in bookings] == T1_WEDNESDAYS
    assert {(b.status, b.price_cents, b.paid_at) for b in bookings} == {(BookingStatus.CONFIRMED, 0, now)}
    tom_t2 = enrolments.get(child=family.tom, period=ems.t2)
    assert tom_t2.group == ems.badminton
    assert [b.session.date for b in tom_t2.bookings.order_by("session__date")] == T2_WEDNESDAYS
    allocations = payment.allocations.order_by("pk")
    assert [a.enrolment for a in allocations] == [
        enrolments.get(child=family.lea, period=ems.t1),
        enrolments.get(child=family.tom, period=ems.t1),
        lea_t2 := enrolments.get(child=family.lea, period=ems.t2),
        tom_t2,
    ]
    assert lea_t2.bookings.count() == len(T2_WEDNESDAYS)
    # Audit: the enrolment is "paid", its sessions are one entry for the whole enrolment.
    assert LogEntry.objects.filter(action="enrolment.paid").count() == 4
    entry = LogEntry.objects.get(action="booking.enrolment_sessions", object_id=str(lea_t1.pk))
    assert (
        entry.message
        == "Léa – École municipale des sports, Trimestre 1 : 4 séances réservées et payées avec l'inscription."
    )
    # All the money is used: no credit, no incident.
    assert household_account(family.household, with_payments=False).credit_cents == 0
    assert not PaymentIncident.objects.exists()


def test_settle_twice_creates_nothing_more(ems, family):
    now = timezone.now()
    items = fill_cart({}, family, ems)
    payment, attempt = paid_payment(family.household, ems.regie, items, now=now)
    paid_at_once.settle_enrolments(payment, attempt, now)
    assert paid_at_once.settle_enrolments(payment, attempt, now + dt.timedelta(minutes=1)) == []
    assert Enrolment.objects.count() == 4
    assert Booking.objects.count() == 2 * len(T1_WEDNESDAYS) + 2 * len(T2_WEDNESDAYS)
    assert payment.allocations.count() == 4
    assert not PaymentIncident.objects.exists()


def test_settle_after_the_window_closed_still_enrols(ems, family):
    items = fill_cart({}, family, ems)[:1]
    payment, attempt = paid_payment(family.household, ems.regie, items, now=timezone.now())
    after_close = ems.t1.enrolment_closes_at + dt.timedelta(hours=1)
    assert len(paid_at_once.settle_enrolments(payment, attempt, after_close)) == 1


def test_a_full_group_at_payment_time_becomes_credit_and_an_incident_the_others_are_created(ems, family):
    now = timezone.now()
    items = fill_cart({}, family, ems)
    payment, attempt = paid_payment(family.household, ems.regie, items, now=now)
    # Meanwhile the escalade group of trimester 2 filled up.
    ems.escalade.capacity = 1
    ems.escalade.save(update_fields=["capacity"])
    EnrolmentFactory(group=ems.escalade, activity=ems.activity, period=ems.t2)
    created = paid_at_once.settle_enrolments(payment, attempt, now)
    assert len(created) == 2  # one place in trimester 1 (Léa first, Tom refused), none for Léa in trimester 2
    assert {(e.child, e.period) for e in created} == {(family.lea, ems.t1), (family.tom, ems.t2)}
    refused_labels = {"Tom – Trimestre 1 – 7/11 ans Escalade", "Léa – Trimestre 2 – 7/11 ans Escalade"}
    assert not payment.allocations.filter(label__in=refused_labels).exists()
    assert payment.allocations.count() == 2
    assert not Booking.objects.filter(child=family.lea, session__date__in=T2_WEDNESDAYS).exists()
    account = household_account(family.household, with_payments=False)
    assert account.paid_cents == 4 * PRICE
    assert account.credit_cents == 2 * PRICE
    incident = PaymentIncident.objects.get()
    assert incident.kind == IncidentKind.ENROLMENT_REFUSED
    assert incident.regie == ems.regie
    assert incident.household == family.household
    assert incident.payment == payment and incident.attempt == attempt
    assert "2 inscriptions n'ont pas pu être créées : 90,00 € restent en crédit" in incident.details
    assert "Léa – Trimestre 2 – 7/11 ans Escalade (45,00 €) : Le groupe « 7/11 ans Escalade » est complet." in (
        incident.details
    )
    # Settling again neither refunds twice nor opens a second incident.
    paid_at_once.settle_enrolments(payment, attempt, now)
    assert PaymentIncident.objects.count() == 1
    assert household_account(family.household, with_payments=False).credit_cents == 2 * PRICE


def test_a_child_no_longer_eligible_at_payment_time_becomes_credit(ems, family):
    now = timezone.now()
    items = fill_cart({}, family, ems)[:2]
    payment, attempt = paid_payment(family.household, ems.regie, items, now=now)
    family.tom.is_active = False
    family.tom.save(update_fields=["is_active"])
    created = paid_at_once.settle_enrolments(payment, attempt, now)
    assert [e.child for e in created] == [family.lea]
    incident = PaymentIncident.objects.get()
    assert "1 inscription n'a pas pu être créée : 45,00 € restent en crédit" in incident.details
    assert "Le dossier de Tom n'est plus actif." in incident.details
    assert household_account(family.household, with_payments=False).credit_cents == PRICE


def test_the_whole_flow_through_the_bank_notification(ems, family):
    """Start with the dummy bank, then its signed PAID notification: the lead's handler settles."""
    from portail.payments import services

    items = fill_cart({}, family, ems)
    started = paid_at_once.start_enrolment_payment(
        household=family.household, items=items, actor=family.user, absolute_url=absolute
    )
    query = f"transaction_id={started.attempt.external_id}&signed=1&ok=1"
    for _ in range(2):  # the bank may notify twice
        services.handle_notification(regie_id=ems.regie.pk, method="GET", query_string=query, body="")
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PAID
    assert Enrolment.objects.filter(status=EnrolmentStatus.VALIDATED).count() == 4
    assert Booking.objects.filter(paid_at__isnull=False).count() == 2 * len(T1_WEDNESDAYS) + 2 * len(T2_WEDNESDAYS)
    assert household_account(family.household, with_payments=False).credit_cents == 0


# --- Family pages ---------------------------------------------------------------------------------


@pytest.fixture
def family_client(client, family):
    client.force_login(family.user)
    return client


def _choice_url(ems, period, group):
    return (
        reverse("portal:enrolment_new")
        + f"?structure=ems&type=sport&activite=ems-2026-2027&periode={period.pk}&groupe={group.pk}"
    )


@pytest.mark.urls(__name__)
def test_the_request_form_adds_to_the_cart_then_the_cart_pays(ems, family, family_client):
    url = _choice_url(ems, ems.t1, ems.escalade)
    page = family_client.get(url).content.decode()
    assert "Ajouter au panier d'inscriptions" in page
    assert "45,00 € par enfant" in page
    assert "Semaine type" not in page
    response = family_client.post(url, {"enfants": [family.lea.pk, family.tom.pk]})
    assert response.status_code == 302 and response.url == reverse("portal:enrolment_cart")
    assert not Enrolment.objects.exists()

    cart = family_client.get(reverse("portal:enrolment_cart")).content.decode()
    assert "Inscriptions à payer" in cart
    assert "Léa" in cart and "Tom" in cart and "7/11 ans Escalade" in cart
    assert "Payer 90,00 €" in cart
    listing = family_client.get(reverse("portal:enrolments")).content.decode()
    assert reverse("portal:enrolment_cart") in listing

    response = family_client.post(
        reverse("portal:enrolment_cart_remove"), {"enfant": family.tom.pk, "periode": ems.t1.pk}
    )
    assert response.status_code == 302
    assert "Payer 45,00 €" in family_client.get(reverse("portal:enrolment_cart")).content.decode()

    # A total that no longer matches the cart (another tab changed it) is not paid.
    response = family_client.post(reverse("portal:enrolment_cart_pay"), {"total": 9000})
    assert response.status_code == 302 and not Payment.objects.exists()
    response = family_client.post(reverse("portal:enrolment_cart_pay"), {"total": 4500})
    assert response.status_code == 302
    assert response.url.startswith("http://testserver/_banque-demo/dummy/")  # the demo bank in tests
    attempt = PaymentAttempt.objects.get()
    assert attempt.purpose == AttemptPurpose.ENROLMENT and attempt.amount_cents == PRICE
    # While it is pending, the cart says why "Payer" must wait.
    cart = family_client.get(reverse("portal:enrolment_cart")).content.decode()
    assert "Un paiement est déjà en cours pour ces inscriptions" in cart
    assert "Payer 45,00 €" not in cart


@pytest.mark.urls(__name__)
def test_another_households_child_cannot_be_added_through_the_form(ems, family, family_client):
    stranger = ChildFactory(first_name="Zoé", birth_date=dt.date(2017, 1, 1))
    response = family_client.post(_choice_url(ems, ems.t1, ems.escalade), {"enfants": [stranger.pk]})
    assert response.status_code == 200  # the form refuses a child that is not the family's
    assert paid_at_once.cart_items(family_client.session, family.household) == []


@pytest.mark.urls(__name__)
def test_a_paid_enrolment_is_listed_and_cannot_be_cancelled_by_the_family(ems, family, family_client):
    now = timezone.now()
    items = fill_cart({}, family, ems)[:1]
    payment, attempt = paid_payment(family.household, ems.regie, items, now=now)
    (enrolment,) = paid_at_once.settle_enrolments(payment, attempt, now)
    listing = family_client.get(reverse("portal:enrolments")).content.decode()
    assert "École municipale des sports" in listing and "Validée" in listing
    assert reverse("portal:enrolment_cancel", kwargs={"enrolment_id": enrolment.pk}) not in listing
    response = family_client.post(reverse("portal:enrolment_cancel", kwargs={"enrolment_id": enrolment.pk}))
    assert response.status_code == 302
    enrolment.refresh_from_db()
    assert enrolment.status == EnrolmentStatus.VALIDATED
    detail = family_client.get(reverse("portal:enrolment_detail", kwargs={"enrolment_id": enrolment.pk}))
    assert "Inscription payée en ligne et validée" in detail.content.decode()
    assert "Séances de la période réservées" in detail.content.decode()
