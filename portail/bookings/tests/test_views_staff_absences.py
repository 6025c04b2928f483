"""The queue of absences to decide ("gestion/absences/"): oldest first, excuse or bill (billing
needs a reason), certificates downloaded through a permission-checked, logged view."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from portail.bookings import services
from portail.bookings.models import AbsenceReason, AbsenceStatus
from portail.bookings.selectors import booking_history
from portail.core.models import Channel, LogEntry

from .factories import make_bookable, make_booking, make_rule, paris, staff_member

pytestmark = pytest.mark.django_db
DAYS = [dt.date(2026, 11, 18), dt.date(2026, 11, 25)]
QUEUE = "backoffice:absences"


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def absences():
    """Two pending absences (the older one with a certificate) and one already excused."""
    setup = make_bookable(children=2, dates=DAYS, deadline_rule=make_rule())
    first, second = setup.children
    older = services.declare_absence(
        household=setup.household,
        booking=make_booking(first, setup.sessions[0]),
        reason=AbsenceReason.ILLNESS,
        comment="Fièvre",
        certificate=SimpleUploadedFile("certificat.pdf", b"%PDF-1.4 certificat", content_type="application/pdf"),
        actor=setup.guardian.user,
        channel=Channel.WEB,
        now=paris(2026, 11, 22, 9),  # four days after: too late to be excused at once
    )
    newer = services.declare_absence(
        household=setup.household,
        booking=make_booking(second, setup.sessions[1]),
        reason=AbsenceReason.FAMILY,
        comment="Mariage",
        actor=setup.guardian.user,
        channel=Channel.WEB,
        now=paris(2026, 11, 24, 9),
    )
    excused = services.declare_absence(
        household=setup.household,
        booking=make_booking(first, setup.sessions[1]),
        reason=AbsenceReason.ILLNESS,
        certificate=SimpleUploadedFile("c.pdf", b"%PDF-1.4", content_type="application/pdf"),
        actor=None,
        channel=Channel.WEB,
        now=paris(2026, 11, 24, 9),
    )
    assert (older.status, newer.status, excused.status) == ("pending", "pending", "excused")
    return setup, older, newer


def manager(client):
    client.force_login(staff_member("Gestionnaire"))
    return client


def test_queue_lists_pending_absences_oldest_first(client, absences):
    setup, older, newer = absences
    response = manager(client).get(reverse(QUEUE))
    assert list(response.context["page"].object_list) == [older, newer]
    page = response.content.decode()
    assert "2 absences à traiter." in page
    for text in ("mercredi 18 novembre 2026", "Maladie", "Fièvre", "Raison familiale", "Mariage", setup.activity.name):
        assert text in page
    assert reverse("backoffice:absence_certificate", args=[older.pk]) in page
    assert page.index(setup.children[0].full_name) < page.index(setup.children[1].full_name)


def test_nav_shows_the_pending_count_to_those_who_may_decide(client, absences):
    page = manager(client).get(reverse("backoffice:home")).content.decode()
    assert 'Absences <span class="badge">2<span class="visually-hidden"> à traiter</span>' in page


def test_agent_and_cashier_cannot_open_the_queue_nor_the_certificates(absences):
    _, older, _ = absences
    for role in ("Agent d'accueil", "Régisseur"):
        client = Client()
        client.force_login(staff_member(role))
        assert client.get(reverse(QUEUE)).status_code == 403
        assert client.get(reverse("backoffice:absence_certificate", args=[older.pk])).status_code == 403
        response = client.post(reverse("backoffice:absence_decide", args=[older.pk]), {"decision": "excuser"})
        assert response.status_code == 403
        assert 'href="/gestion/absences/"' not in client.get(reverse("backoffice:home")).content.decode()
    older.refresh_from_db()
    assert older.status == AbsenceStatus.PENDING


def test_excuse_from_the_queue(client, absences, django_capture_on_commit_callbacks, mailoutbox):
    setup, older, newer = absences
    manager(client)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("backoffice:absence_decide", args=[older.pk]), {"decision": "excuser", "next": reverse(QUEUE)}
        )
    assert response.status_code == 302 and response["Location"] == reverse(QUEUE)
    older.refresh_from_db()
    assert older.status == AbsenceStatus.EXCUSED and older.decided_by.groups.get().name == "Gestionnaire"
    entry = LogEntry.objects.get(action="absence.decided")
    assert (entry.channel, entry.household) == (Channel.STAFF, setup.household)
    (mail,) = mailoutbox
    assert "Décision : Absence excusée" in mail.body
    page = client.get(reverse(QUEUE))
    assert list(page.context["page"].object_list) == [newer]
    assert "absence excusée. La famille est prévenue par e-mail." in page.content.decode()


def test_billing_needs_a_reason(client, absences):
    _, _, newer = absences
    manager(client)
    url = reverse("backoffice:absence_decide", args=[newer.pk])
    page = client.get(client.post(url, {"decision": "facturer", "note": ""})["Location"]).content.decode()
    newer.refresh_from_db()
    assert newer.status == AbsenceStatus.PENDING
    assert "Indiquez le motif : il sera envoyé à la famille." in page
    client.post(url, {"decision": "facturer", "note": "Prévenu le jour même"})
    newer.refresh_from_db()
    assert (newer.status, newer.decision_note) == (AbsenceStatus.BILLED, "Prévenu le jour même")


def test_deciding_twice_says_it_was_done(client, absences):
    _, older, _ = absences
    manager(client)
    url = reverse("backoffice:absence_decide", args=[older.pk])
    client.post(url, {"decision": "excuser"})
    page = client.get(client.post(url, {"decision": "facturer", "note": "x"})["Location"]).content.decode()
    assert "Cette absence a déjà été traitée." in page
    older.refresh_from_db()
    assert older.status == AbsenceStatus.EXCUSED


def test_next_outside_the_queue_is_ignored(client, absences):
    _, older, _ = absences
    response = manager(client).post(
        reverse("backoffice:absence_decide", args=[older.pk]), {"decision": "excuser", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse(QUEUE)


def test_certificate_download_is_an_attachment_and_logged(client, absences):
    setup, older, _ = absences
    response = manager(client).get(reverse("backoffice:absence_certificate", args=[older.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="justificatif-absence-{older.pk}.pdf"'
    assert b"".join(response.streaming_content) == b"%PDF-1.4 certificat"
    entry = LogEntry.objects.get(action="absence_certificate.viewed")
    assert (entry.household, entry.channel, entry.object_id) == (setup.household, Channel.STAFF, str(older.pk))
    # A staff read, not a change of the family's bookings: not in the family's "Historique".
    assert entry not in booking_history(setup.household, since=dt.date(2026, 9, 1))


def test_absence_without_certificate_has_nothing_to_download(client, absences):
    _, _, newer = absences
    assert manager(client).get(reverse("backoffice:absence_certificate", args=[newer.pk])).status_code == 404
    assert client.get(reverse("backoffice:absence_certificate", args=[999999])).status_code == 404


def test_manager_sees_the_link_from_the_household_planning(client, absences):
    setup, older, _ = absences
    url = reverse("backoffice:household_planning", args=[setup.household.pk]) + "?mois=2026-11"
    page = manager(client).get(url).content.decode()
    assert "Voir la demande" in page and "Absence excusée" in page
