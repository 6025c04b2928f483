"""The "attestation d'inscription" PDF: its content, and only for validated enrolments."""

import datetime as dt
import html as htmllib

import pytest
import weasyprint
from django.urls import reverse

from portail.enrolments.certificate import certificate_filename, certificate_html, certificate_pdf
from portail.enrolments.models import EnrolmentStatus
from tests.factories import TownFactory, make_family

from .factories import EnrolmentFactory, make_child, make_offer, request

pytestmark = pytest.mark.django_db


@pytest.fixture
def validated():
    TownFactory(name="Ville-sur-Test", address="1 place de la Mairie", postcode="75001", city="Ville-sur-Test")
    household, guardian, (child,) = make_family(children=1)
    child.first_name, child.last_name, child.birth_date = "Léa", "Martin", dt.date(2018, 5, 14)
    child.save()
    activity, period, group = make_offer(capacity=5)
    activity.name = "Pommiers mercredis"
    activity.facility.name = "Centre de loisirs Les Pommiers"
    activity.facility.save()
    activity.save()
    group.name = "6-11 ans"
    group.save()
    return request(child, period, group), guardian


def url(enrolment):
    return reverse("portal:enrolment_certificate", kwargs={"enrolment_id": enrolment.pk})


def test_certificate_states_who_is_enrolled_in_what(validated):
    enrolment, _ = validated
    html = htmllib.unescape(certificate_html(enrolment, issued_on=dt.date(2026, 9, 15)))
    for text in [
        "Ville-sur-Test",
        "1 place de la Mairie",
        "75001 Ville-sur-Test",
        "Attestation d'inscription",
        "La commune de Ville-sur-Test atteste que l'enfant",
        "Léa MARTIN",
        "née le 14/05/2018",
        "Pommiers mercredis",
        "Centre de loisirs Les Pommiers",
        "Année 2026-2027",
        "du 02/09/2026 au 03/07/2027",
        "6-11 ans",
        enrolment.reference,
        "le 15/09/2026",
    ]:
        assert text in html, text


def test_certificate_pdf_is_a_pdf_titled_with_the_reference(validated):
    enrolment, _ = validated
    pdf = certificate_pdf(enrolment)
    assert pdf.startswith(b"%PDF")
    document = weasyprint.HTML(string=certificate_html(enrolment)).render()
    assert document.metadata.title == f"Attestation d'inscription {enrolment.reference}"
    assert len(document.pages) == 1


def test_certificate_view_serves_the_pdf_as_an_attachment(client, validated):
    enrolment, guardian = validated
    client.force_login(guardian.user)
    response = client.get(url(enrolment))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="attestation-{enrolment.reference}.pdf"'
    assert response.content.startswith(b"%PDF")
    assert certificate_filename(enrolment) == f"attestation-{enrolment.reference}.pdf"


@pytest.mark.parametrize(
    "status",
    [
        EnrolmentStatus.REQUESTED,
        EnrolmentStatus.PRE_ENROLMENT,
        EnrolmentStatus.WAITING,
        EnrolmentStatus.OFFERED,
        EnrolmentStatus.REFUSED,
        EnrolmentStatus.CANCELLED,
    ],
)
def test_no_certificate_unless_validated(client, status):
    _, guardian, (child,) = make_family(children=1)
    enrolment = EnrolmentFactory(child=child, status=status, refusal_reason="motif")
    client.force_login(guardian.user)
    assert client.get(url(enrolment)).status_code == 404


def test_no_certificate_for_another_households_enrolment(client, validated):
    _, period, group = make_offer()
    theirs = request(make_child(), period, group)
    _, guardian = validated
    client.force_login(guardian.user)
    assert theirs.status == EnrolmentStatus.VALIDATED
    assert client.get(url(theirs)).status_code == 404
