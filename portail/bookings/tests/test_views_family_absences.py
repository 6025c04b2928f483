"""Family absences and the weekly pattern: declaring an absence on a booking past its deadline
(with or without a certificate), adding a certificate later, downloading it (household-scoped),
and applying the enrolment's "semaine type" to a date range."""

import datetime as dt
import html as htmllib
import re

import pytest
import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from portail.bookings.models import Absence, AbsenceReason, AbsenceStatus, BasketLine, Booking
from portail.core.models import Channel, LogEntry
from portail.enrolments.models import EnrolmentStatus, WeeklyPattern
from tests.factories import SessionFactory

from .factories import make_bookable

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=timezone.get_current_timezone())
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def setup():
    setup = make_bookable(children=1)
    setup.children[0].first_name = "Léa"
    setup.children[0].save(update_fields=["first_name"])
    return setup


@pytest.fixture
def family_client(client, setup):
    client.force_login(setup.guardian.user)
    return client


def text_of(response) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def book(setup, day):
    session = SessionFactory(unit=setup.unit, date=day)
    return Booking.objects.create(
        child=setup.children[0], session=session, enrolment=setup.enrolments[0], price_cents=1000
    )


def certificate(name="certificat.pdf", content=PDF, content_type="application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def declare_url(booking):
    return reverse("portal:absence_new", kwargs={"booking_id": booking.pk})


# --- Declaring ---------------------------------------------------------------------------------------


def test_declare_form_lists_the_reasons(family_client, setup):
    booking = book(setup, dt.date(2026, 11, 18))
    response = family_client.get(declare_url(booking))
    assert response.status_code == 200
    page = text_of(response)
    assert "Déclarer une absence" in page and "Léa – mercredi 18 novembre 2026" in page
    for label in AbsenceReason.labels:
        assert label in page
    assert 'enctype="multipart/form-data"' in response.content.decode()


def test_illness_with_a_certificate_is_excused(family_client, setup, django_capture_on_commit_callbacks):
    booking = book(setup, dt.date(2026, 11, 18))
    with django_capture_on_commit_callbacks(execute=True):
        response = family_client.post(
            declare_url(booking),
            {"motif": AbsenceReason.ILLNESS, "precisions": "Fièvre", "justificatif": certificate()},
            follow=True,
        )
    assert response.redirect_chain[-1][0] == reverse("portal:absences")
    absence = Absence.objects.get()
    assert (absence.status, absence.reason, absence.comment, absence.channel) == (
        AbsenceStatus.EXCUSED,
        AbsenceReason.ILLNESS,
        "Fièvre",
        Channel.WEB,
    )
    assert absence.certificate and absence.certificate.read() == PDF
    page = text_of(response)
    assert "Absence de Léa le mercredi 18 novembre 2026 enregistrée : absence excusée." in page
    assert "Absence excusée" in page and "Maladie" in page
    assert len(mail.outbox) == 1
    assert LogEntry.objects.filter(action="absence.declared", household=setup.household).exists()


def test_absence_without_certificate_waits_for_the_service(family_client, setup):
    booking = book(setup, dt.date(2026, 11, 18))
    family_client.post(declare_url(booking), {"motif": AbsenceReason.FAMILY})
    absence = Absence.objects.get()
    assert absence.status == AbsenceStatus.PENDING and not absence.certificate
    page = text_of(family_client.get(reverse("portal:absences")))
    assert "Demande d'annulation en cours" in page and "Ajouter un justificatif" in page


def test_declare_needs_a_reason(family_client, setup):
    booking = book(setup, dt.date(2026, 11, 18))
    response = family_client.post(declare_url(booking), {"motif": ""})
    assert response.status_code == 200
    assert "Le formulaire contient des erreurs" in text_of(response)
    assert not Absence.objects.exists()


def test_a_forged_certificate_is_refused(family_client, setup):
    booking = book(setup, dt.date(2026, 11, 18))
    fake = certificate("virus.pdf", b"<?php system($_GET['x']); ?>")
    response = family_client.post(declare_url(booking), {"motif": AbsenceReason.ILLNESS, "justificatif": fake})
    assert response.status_code == 200
    assert "Le justificatif doit être un PDF, JPEG ou PNG de 5 Mo au plus." in text_of(response)
    assert not Absence.objects.exists()


def test_before_the_deadline_the_family_is_told_to_untick(family_client, setup):
    booking = book(setup, dt.date(2026, 12, 23))
    page = text_of(family_client.get(declare_url(booking)))
    assert "décochez-la dans le planning" in page
    response = family_client.post(declare_url(booking), {"motif": AbsenceReason.ILLNESS})
    assert "décochez-la dans le planning" in text_of(response)
    assert not Absence.objects.exists()


def test_a_second_declaration_redirects_to_the_list(family_client, setup):
    booking = book(setup, dt.date(2026, 11, 18))
    family_client.post(declare_url(booking), {"motif": AbsenceReason.FAMILY})
    response = family_client.get(declare_url(booking))
    assert response.status_code == 302 and response["Location"] == reverse("portal:absences")
    assert Absence.objects.count() == 1


def test_declare_on_a_cancelled_or_foreign_booking_is_404(family_client, setup):
    booking = book(setup, dt.date(2026, 11, 18))
    booking.status = "cancelled"
    booking.save()
    assert family_client.get(declare_url(booking)).status_code == 404
    other = make_bookable(children=1)
    foreign = Booking.objects.create(
        child=other.children[0], session=other.sessions[0], enrolment=other.enrolments[0], price_cents=1000
    )
    assert family_client.get(declare_url(foreign)).status_code == 404
    assert family_client.post(declare_url(foreign), {"motif": AbsenceReason.FAMILY}).status_code == 404


# --- Certificates --------------------------------------------------------------------------------------


def _pending_absence(client, setup, reason=AbsenceReason.ILLNESS):
    booking = book(setup, dt.date(2026, 11, 18))
    client.post(declare_url(booking), {"motif": reason})
    return Absence.objects.get(booking=booking)


def test_a_certificate_added_later_excuses_an_illness(family_client, setup):
    absence = _pending_absence(family_client, setup)
    assert absence.status == AbsenceStatus.PENDING
    url = reverse("portal:absence_certificate", kwargs={"absence_id": absence.pk})
    response = family_client.post(url, {"justificatif": certificate()}, follow=True)
    absence.refresh_from_db()
    assert absence.status == AbsenceStatus.EXCUSED and absence.certificate_at is not None
    assert "Justificatif enregistré : absence excusée." in text_of(response)


def test_adding_a_certificate_needs_a_file(family_client, setup):
    absence = _pending_absence(family_client, setup)
    url = reverse("portal:absence_certificate", kwargs={"absence_id": absence.pk})
    response = family_client.post(url, {}, follow=True)
    assert "Choisissez le fichier du justificatif" in text_of(response)


def test_a_decided_absence_takes_no_certificate(family_client, setup):
    absence = _pending_absence(family_client, setup)
    Absence.objects.filter(pk=absence.pk).update(status=AbsenceStatus.BILLED)
    url = reverse("portal:absence_certificate", kwargs={"absence_id": absence.pk})
    response = family_client.post(url, {"justificatif": certificate()}, follow=True)
    assert "Cette absence a déjà été traitée." in text_of(response)


def test_certificate_download_is_an_attachment_of_the_own_file(family_client, setup):
    booking = book(setup, dt.date(2026, 11, 18))
    family_client.post(declare_url(booking), {"motif": AbsenceReason.ILLNESS, "justificatif": certificate()})
    absence = Absence.objects.get()
    url = reverse("portal:absence_certificate_file", kwargs={"absence_id": absence.pk})
    response = family_client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert f"justificatif-absence-{absence.pk}.pdf" in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == PDF
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    # The absences page links to it, never to a media URL.
    page = family_client.get(reverse("portal:absences")).content.decode()
    assert url in page and "/media/" not in page


def test_certificate_of_another_household_is_404(family_client, setup, client):
    other = make_bookable(children=1)
    session = SessionFactory(unit=other.unit, date=dt.date(2026, 11, 18))
    foreign = Booking.objects.create(
        child=other.children[0], session=session, enrolment=other.enrolments[0], price_cents=1000
    )
    absence = Absence.objects.create(
        booking=foreign, household=other.household, reason=AbsenceReason.ILLNESS, certificate=certificate()
    )
    assert family_client.get(reverse("portal:absence_certificate_file", args=[absence.pk])).status_code == 404
    assert (
        family_client.post(
            reverse("portal:absence_certificate", args=[absence.pk]), {"justificatif": certificate()}
        ).status_code
        == 404
    )


def test_absence_without_certificate_has_no_file(family_client, setup):
    absence = _pending_absence(family_client, setup, AbsenceReason.FAMILY)
    assert family_client.get(reverse("portal:absence_certificate_file", args=[absence.pk])).status_code == 404


def test_absences_list_is_empty_at_first(family_client, setup):
    assert "Aucune absence déclarée." in text_of(family_client.get(reverse("portal:absences")))


# --- Semaine type --------------------------------------------------------------------------------------


@pytest.fixture
def with_pattern(setup):
    enrolment = setup.enrolments[0]
    WeeklyPattern.objects.create(enrolment=enrolment, weekday=2, unit=setup.unit)
    return enrolment


def pattern_url(enrolment):
    return reverse("portal:planning_pattern", kwargs={"enrolment_id": enrolment.pk})


def test_pattern_page_shows_the_pattern_and_the_range(family_client, with_pattern):
    response = family_client.get(pattern_url(with_pattern))
    assert response.status_code == 200
    page = text_of(response)
    assert "Semaine type" in page and "Mercredi : Journée" in page
    assert 'value="2026-11-20"' in response.content.decode()  # from today, not before


def test_pattern_applies_to_the_range_with_a_summary(family_client, setup, with_pattern):
    SessionFactory(unit=setup.unit, date=dt.date(2026, 11, 18))  # past its deadline
    full = setup.sessions[2]
    full.capacity = 0
    full.save()
    Booking.objects.create(child=setup.children[0], session=setup.sessions[1], enrolment=with_pattern, price_cents=1000)
    response = family_client.post(pattern_url(with_pattern), {"debut": "2026-11-02", "fin": "2026-12-31"})
    assert response.status_code == 200
    page = text_of(response)
    assert "1 séance ajoutée à vos modifications en cours" in page
    assert "1 déjà réservée ou en attente" in page
    assert "2 impossibles à réserver" in page
    assert "mercredi 18 novembre 2026 (Journée) : Réservation possible jusqu'au" in page
    assert "mercredi 16 décembre 2026 (Journée) : Complet" in page
    assert "Modifications en cours : 1 réservation en attente, 0 annulation" in page
    assert BasketLine.objects.get().session == setup.sessions[0]


def test_pattern_range_outside_the_period_is_refused(family_client, with_pattern):
    response = family_client.post(pattern_url(with_pattern), {"debut": "2026-01-01", "fin": "2026-12-31"})
    assert "Choisissez une date de fin postérieure à la date de début" in text_of(response)
    assert not BasketLine.objects.exists()


def test_pattern_with_bad_dates_shows_the_form_errors(family_client, with_pattern):
    response = family_client.post(pattern_url(with_pattern), {"debut": "demain", "fin": ""})
    assert response.status_code == 200
    assert "Le formulaire contient des erreurs" in text_of(response)


def test_enrolment_without_pattern_says_so(family_client, setup):
    page = text_of(family_client.get(pattern_url(setup.enrolments[0])))
    assert "Aucune semaine type n'est enregistrée" in page


def test_pattern_of_a_not_validated_enrolment_is_explained(family_client, setup, with_pattern):
    with_pattern.status = EnrolmentStatus.REQUESTED
    with_pattern.save()
    page = text_of(family_client.get(pattern_url(with_pattern)))
    assert "Cette inscription n'est pas validée" in page


def test_pattern_of_another_household_is_404(family_client):
    other = make_bookable(children=1)
    assert family_client.get(pattern_url(other.enrolments[0])).status_code == 404
    assert (
        family_client.post(pattern_url(other.enrolments[0]), {"debut": "2026-12-01", "fin": "2026-12-31"}).status_code
        == 404
    )


def test_certificate_upload_url_takes_only_post(family_client, setup):
    absence = _pending_absence(family_client, setup)
    assert family_client.get(reverse("portal:absence_certificate", args=[absence.pk])).status_code == 405
