"""Enrolment list per activity/period/group and its CSV and XLSX exports."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from portail.accounts import roles
from portail.catalog.models import Activity
from portail.enrolments import exports
from portail.enrolments.models import EnrolmentStatus
from portail.households.models import SchoolLevel
from tests.factories import GroupFactory, GuardianFactory, HealthRecordFactory, StaffFactory

from .factories import make_child, make_offer, request

pytestmark = pytest.mark.django_db

HEADER = [
    "Référence",
    "Enfant",
    "Date de naissance",
    "Classe",
    "Foyer",
    "Responsable payeur",
    "Téléphone",
    "Activité",
    "Période",
    "Groupe",
    "État",
    "Date de demande",
]


@pytest.fixture
def manager(client):
    client.force_login(StaffFactory(role=roles.MANAGER))
    return client


@pytest.fixture
def listed():
    """Two validated children in group A, one refused in A, one validated in group B."""
    activity, period, group_a = make_offer(validation_mode=Activity.ValidationMode.AUTO, capacity=5)
    activity.slug = "pommiers-mercredis"
    activity.save(update_fields=["slug"])
    group_b = GroupFactory(activity=activity, name="Grands", capacity=5)
    lea = make_child(first_name="Léa", last_name="Àrnaud", birth_date=dt.date(2017, 3, 9), school_level=SchoolLevel.CM1)
    HealthRecordFactory(child=lea, allergies="Arachide secrète")
    payer = lea.household.guardians.get()
    payer.first_name, payer.last_name, payer.mobile_phone = "Hélène", "Àrnaud", "06 11 22 33 44"
    payer.save()
    GuardianFactory(household=lea.household, is_payer=False, user=None, first_name="Autre")
    a1 = request(lea, period, group_a)
    a2 = request(make_child(first_name="Tom"), period, group_a)
    refused = request(make_child(first_name="Refusé"), period, group_a)
    refused.status, refused.refusal_reason = EnrolmentStatus.REFUSED, "Complet"
    refused.save()
    b1 = request(make_child(first_name="Bob"), period, group_b)
    return {"activity": activity, "period": period, "a": group_a, "b": group_b, "rows": [a1, a2, b1]}


def _csv(response):
    content = response.content
    assert content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


def test_list_needs_an_activity(manager):
    response = manager.get(reverse("backoffice:enrolment_list"))
    assert response.status_code == 200 and response.context["rows"] is None
    response = manager.get(reverse("backoffice:enrolment_list"), {"activite": ""})
    assert "Choisissez une activité." in response.content.decode()


def test_list_shows_live_enrolments_by_default_and_filters_by_group(manager, listed):
    url = reverse("backoffice:enrolment_list")
    rows = manager.get(url, {"activite": listed["activity"].pk}).context["rows"]
    assert {e.child.first_name for e in rows} == {"Léa", "Tom", "Bob"}
    rows = manager.get(url, {"activite": listed["activity"].pk, "groupe": listed["b"].pk}).context["rows"]
    assert [e.child.first_name for e in rows] == ["Bob"]
    rows = manager.get(url, {"activite": listed["activity"].pk, "etat": "toutes"}).context["rows"]
    assert "Refusé" in {e.child.first_name for e in rows}
    rows = manager.get(url, {"activite": listed["activity"].pk, "etat": "refused"}).context["rows"]
    assert [e.child.first_name for e in rows] == ["Refusé"]


def test_csv_export_opens_in_excel_fr_with_every_column(manager, listed):
    activity, period = listed["activity"], listed["period"]
    response = manager.get(
        reverse("backoffice:enrolment_export_csv"), {"activite": activity.pk, "groupe": listed["a"].pk}
    )
    assert response["Content-Type"].startswith("text/csv")
    today = timezone.localdate()
    assert f'filename="inscriptions-pommiers-mercredis-{today:%Y-%m-%d}.csv"' in response["Content-Disposition"]
    table = _csv(response)
    assert table[0] == HEADER
    by_child = {row[1]: row for row in table[1:]}
    assert set(by_child) == {"Léa Àrnaud", listed["rows"][1].child.full_name}
    lea = by_child["Léa Àrnaud"]
    enrolment = listed["rows"][0]
    assert lea == [
        enrolment.reference,
        "Léa Àrnaud",
        "09/03/2017",
        "CM1",
        enrolment.child.household.reference,
        "Hélène Àrnaud",
        "06 11 22 33 44",
        activity.name,
        period.name,
        listed["a"].name,
        "Validée",
        f"{timezone.localtime(enrolment.created_at):%d/%m/%Y}",
    ]


def test_exports_carry_no_health_data(manager, listed):
    params = {"activite": listed["activity"].pk}
    csv_text = manager.get(reverse("backoffice:enrolment_export_csv"), params).content.decode("utf-8-sig")
    assert "Arachide" not in csv_text
    xlsx = load_workbook(io.BytesIO(manager.get(reverse("backoffice:enrolment_export_xlsx"), params).content))
    values = {str(cell.value) for row in xlsx.active.iter_rows() for cell in row}
    assert not any("Arachide" in value for value in values)


def test_xlsx_export_has_a_bold_header_widths_and_real_dates(manager, listed):
    response = manager.get(reverse("backoffice:enrolment_export_xlsx"), {"activite": listed["activity"].pk})
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert ".xlsx" in response["Content-Disposition"] and "pommiers-mercredis" in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    assert header == HEADER
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.column_dimensions["B"].width >= 20
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert len(rows) == 3
    lea = next(row for row in rows if row[1] == "Léa Àrnaud")
    assert lea[2] == dt.datetime(2017, 3, 9) and lea[5] == "Hélène Àrnaud" and lea[10] == "Validée"


def test_formula_like_names_are_neutralised(manager, listed):
    child = listed["rows"][1].child
    child.first_name = "=HYPERLINK(1)"
    child.save()
    params = {"activite": listed["activity"].pk}
    table = _csv(manager.get(reverse("backoffice:enrolment_export_csv"), params))
    assert any(row[1].startswith("'=HYPERLINK") for row in table)
    sheet = load_workbook(io.BytesIO(manager.get(reverse("backoffice:enrolment_export_xlsx"), params).content)).active
    cell = next(c for c in sheet["B"] if str(c.value).endswith("HYPERLINK(1) " + child.last_name))
    assert cell.data_type == "s" and cell.value.startswith("'=")
    assert exports.safe_text("+33 6 12 34 56 78") == "+33 6 12 34 56 78"


def test_export_without_activity_goes_back_to_the_list(manager):
    response = manager.get(reverse("backoffice:enrolment_export_csv"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("backoffice:enrolment_list"))


def test_export_query_count_does_not_grow_with_the_rows(manager, listed):
    url = reverse("backoffice:enrolment_export_csv")
    params = {"activite": listed["activity"].pk}
    manager.get(url, params)
    with CaptureQueriesContext(connection) as few:
        manager.get(url, params)
    for _ in range(6):
        request(make_child(), listed["period"], listed["b"])
    with CaptureQueriesContext(connection) as many:
        response = manager.get(url, params)
    assert len(_csv(response)) == 1 + 3 + 6
    assert len(many) == len(few)
