"""Security matrices over the whole URLconf (QUALITY T5 IDOR, T7 CSRF, staff-only pages).

The tests enumerate the URL patterns, so a new family page with an id is covered the day it
is added — and the IDOR test fails if it takes an id kind this file does not know yet.
"""

from dataclasses import dataclass

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from portail.bookings.models import Absence, AbsenceReason, Booking, SessionWaitlistEntry
from portail.catalog.models import Activity
from portail.core.models import Channel
from portail.enrolments.models import EnrolmentStatus
from portail.enrolments.services import request_enrolment
from portail.households.models import AuthorizedPerson, ChangeRequest, FamilyQuotient, RequestKind
from tests.factories import (
    ActivityFactory,
    GroupFactory,
    HealthRecordFactory,
    PeriodFactory,
    SessionFactory,
    StaffFactory,
    UnitFactory,
    make_family,
)
from tests.urlwalk import routes

pytestmark = pytest.mark.django_db

# Route kwargs that are not household-owned objects (public catalog slugs, tokens…).
PUBLIC_KWARGS = {"section", "slug", "uidb64", "token", "activity_slug"}


@dataclass
class Persona:
    household: object
    guardian: object
    child: object
    request: object
    person: object
    quotient: object
    enrolment: object
    booking: object
    absence: object
    waitlist_entry: object
    payment: object = None
    attempt: object = None
    certificate: object = None
    invoice: object = None
    credit_note: object = None
    recipient: object = None


def make_persona(email):
    household, guardian, (child,) = make_family(children=1, email=email)
    HealthRecordFactory(child=child)
    request = ChangeRequest.objects.create(
        household=household, kind=RequestKind.UPDATE_HOUSEHOLD, payload={"benefit_number": "123"}
    )
    person = AuthorizedPerson.objects.create(child=child, first_name="Jo", last_name="Durand", phone="0612345678")
    quotient = FamilyQuotient.objects.create(
        household=household, value=800, valid_from="2026-01-01", valid_until="2026-12-31"
    )
    activity = ActivityFactory(validation_mode=Activity.ValidationMode.AUTO)
    period = PeriodFactory(activity=activity)
    group = GroupFactory(activity=activity, capacity=5)
    enrolment = request_enrolment(child=child, period=period, group=group, actor=None, channel=Channel.WEB)
    assert enrolment.status == EnrolmentStatus.VALIDATED  # so every enrolment page (attestation too) exists
    # Planning: a booking on a past session, with a declared absence and its certificate file.
    session = SessionFactory(unit=UnitFactory(activity=activity), date=period.start_date)
    booking = Booking.objects.create(child=child, session=session, enrolment=enrolment, price_cents=1000)
    absence = Absence(booking=booking, household=household, reason=AbsenceReason.ILLNESS)
    absence.certificate.save("certificat.pdf", ContentFile(b"%PDF-1.4 test"), save=False)
    absence.save()
    # A waiting-list entry on a full session of the same activity.
    entry = SessionWaitlistEntry.objects.create(
        child=child, household=household, session=SessionFactory(unit=session.unit, date=period.end_date)
    )
    # Money: a paid online payment (with its receipt) and its attempt.
    from portail.payments.models import Payment, PaymentAttempt, Regie

    regie, _ = Regie.objects.get_or_create(
        code="SEC", defaults={"town": activity.facility.town, "name": "Régie", "accepted_means": ["online"]}
    )
    payment = Payment.objects.create(
        regie=regie,
        household=household,
        means="online",
        amount_cents=1000,
        status="paid",
        label="Réservations",
        receipt_number=f"RSEC2026{household.pk:06d}",
    )
    attempt = PaymentAttempt.objects.create(
        payment=payment,
        regie=regie,
        household=household,
        purpose="basket",
        backend="dummy",
        reference=f"PSEC{household.pk:010d}",
        amount_cents=1000,
        lock_until=payment.created_at,
        hold_until=payment.created_at,
    )
    from portail.billing.models import TaxCertificate

    certificate = TaxCertificate.objects.create(
        regie=regie, household=household, year=2025, number=f"CSEC2025{household.pk:06d}", amounts=[]
    )
    # Billing: an invoice, a credit note on it, an extra invoice recipient.
    from django.utils import timezone

    from portail.billing.models import CreditNote, InvoiceRecipient
    from portail.billing.tests.factories import make_invoice

    invoice = make_invoice(household, regie, lines=[(child, "Cantine", 1, 400)], number=f"FSEC2026{household.pk:06d}")
    credit_note = CreditNote.objects.create(
        regie=regie,
        household=household,
        invoice=invoice,
        number=f"ASEC2026{household.pk:06d}",
        issued_at=timezone.now(),
        reason="Erreur de saisie",
        total_cents=100,
        payer={},
        issuer={},
    )
    recipient = InvoiceRecipient.objects.create(household=household, email=f"autre{household.pk}@example.org")
    return Persona(
        household,
        guardian,
        child,
        request,
        person,
        quotient,
        enrolment,
        booking,
        absence,
        entry,
        payment,
        attempt,
        certificate,
        invoice,
        credit_note,
        recipient,
    )


# How to find, for each kind of id a family URL can take, the object of a given household.
FAMILY_OBJECT_KWARGS = {
    "child_id": lambda p: p.child.pk,
    "guardian_id": lambda p: p.guardian.pk,
    "request_id": lambda p: p.request.pk,
    "change_request_id": lambda p: p.request.pk,
    "person_id": lambda p: p.person.pk,
    "authorized_person_id": lambda p: p.person.pk,
    "quotient_id": lambda p: p.quotient.pk,
    "household_id": lambda p: p.household.pk,
    "enrolment_id": lambda p: p.enrolment.pk,
    "booking_id": lambda p: p.booking.pk,
    "absence_id": lambda p: p.absence.pk,
    "entry_id": lambda p: p.waitlist_entry.pk,
    "payment_id": lambda p: p.payment.pk,
    "uid": lambda p: p.attempt.uid,
    "certificate_id": lambda p: p.certificate.pk,
    "invoice_id": lambda p: p.invoice.pk,
    "credit_note_id": lambda p: p.credit_note.pk,
    "recipient_id": lambda p: p.recipient.pk,
}


def _family_routes_with_ids():
    return [r for r in routes("portal") if set(r.kwargs) - PUBLIC_KWARGS]


def _url(route, persona):
    kwargs = {}
    for name in route.kwargs:
        if name in PUBLIC_KWARGS:
            return None
        kwargs[name] = FAMILY_OBJECT_KWARGS[name](persona)
    return reverse(route.name, kwargs=kwargs)


def test_every_family_id_kind_is_known_to_the_idor_matrix():
    unknown = {
        f"{r.name}: {k}"
        for r in _family_routes_with_ids()
        for k in r.kwargs
        if k not in FAMILY_OBJECT_KWARGS | dict.fromkeys(PUBLIC_KWARGS)
    }
    assert not unknown, f"Add these URL kwargs to FAMILY_OBJECT_KWARGS: {sorted(unknown)}"


def test_another_households_ids_give_404_on_every_family_url(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # the absence certificates are private files
    mine = make_persona("a@example.org")
    theirs = make_persona("b@example.org")
    client.force_login(mine.guardian.user)
    checked = 0
    for route in _family_routes_with_ids():
        url = _url(route, theirs)
        if url is None:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 404, f"{method.upper()} {route.name} {url} -> {response.status_code}"
            assert theirs.child.first_name not in response.content.decode(errors="ignore")
        # The same URL with the family's own ids is not a 404: the matrix tests something real.
        own = client.get(_url(route, mine))
        assert own.status_code != 404, f"GET {route.name} with own ids -> 404"
        checked += 1
    assert checked == len(_family_routes_with_ids())


ANY_VALUE = {"SlugConverter": "x", "StringConverter": "x", "UUIDConverter": "00000000-0000-4000-8000-000000000000"}


def _any_url(route):
    return reverse(route.name, kwargs={k: ANY_VALUE.get(conv, 1) for k, conv in route.converters.items()})


def test_staff_pages_refuse_families_and_anonymous_visitors(client):
    _, guardian, _ = make_family()
    staff_routes = routes("backoffice")
    assert staff_routes
    anonymous = Client()
    client.force_login(guardian.user)
    for route in staff_routes:
        url = _any_url(route)
        assert client.get(url).status_code == 403, f"family GET {route.name}"
        assert client.post(url).status_code == 403, f"family POST {route.name}"
        response = anonymous.get(url)
        assert response.status_code == 302 and reverse("accounts:login") in response["Location"], route.name


def test_every_post_without_csrf_token_is_refused():
    _, guardian, _ = make_family()
    agent = StaffFactory(role="Administrateur")
    for user in (guardian.user, agent, None):
        client = Client(enforce_csrf_checks=True)
        if user is not None:
            client.force_login(user)
        for route in routes("portal") + routes("accounts") + routes("backoffice"):
            response = client.post(_any_url(route), {"x": "1"})
            assert response.status_code == 403, f"POST {route.name} without CSRF token -> {response.status_code}"
