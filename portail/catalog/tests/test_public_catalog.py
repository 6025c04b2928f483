"""The public catalog: readable without login, filtered without JavaScript, constant query count."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portail.catalog.models import PaymentMode, UnitKind
from tests.factories import (
    ActivityFactory,
    ActivityTypeFactory,
    FacilityFactory,
    GroupFactory,
    PeriodFactory,
    UnitFactory,
)

from .factories import BookingDeadlineRuleFactory, SessionFactory

pytestmark = pytest.mark.django_db
PARIS = dt.timezone(dt.timedelta(hours=2))


@pytest.fixture
def pommiers():
    facility = FacilityFactory(name="Centre de loisirs Les Pommiers", slug="pommiers")
    activity = ActivityFactory(
        facility=facility,
        name="Pommiers mercredis 2026-2027",
        slug="pommiers-mercredis",
        payment_mode=PaymentMode.PREPAID,
        price_info="Tarif selon le quotient familial.",
    )
    PeriodFactory(
        activity=activity,
        name="Année 2026-2027",
        start_date=dt.date(2026, 9, 2),
        end_date=dt.date(2099, 7, 3),
        enrolment_opens_at=dt.datetime(2026, 6, 1, 8, 0, tzinfo=PARIS),
        enrolment_closes_at=dt.datetime(2026, 8, 31, 18, 0, tzinfo=PARIS),
    )
    GroupFactory(activity=activity, name="Grands", min_age=7, max_age=11, capacity=12)
    GroupFactory(activity=activity, name="Élémentaire", min_school_level="CP", max_school_level="CM2", capacity=None)
    GroupFactory(activity=activity, name="Tous", capacity=None)
    rule = BookingDeadlineRuleFactory()
    UnitFactory(
        activity=activity,
        name="Matin",
        kind=UnitKind.MORNING,
        start_time=dt.time(8, 30),
        end_time=dt.time(12),
        price_cents=400,
        deadline_rule=rule,
    )
    return activity


def test_catalog_renders_without_login(client, pommiers):
    response = client.get(reverse("portal:catalog"))
    assert response.status_code == 200
    html = response.content.decode()
    for text in [
        "Centre de loisirs Les Pommiers",
        "Mercredis",
        "Pommiers mercredis 2026-2027",
        "Période d'inscription du 01/06/2026 au 31/08/2026",
        "7 à 11 ans",
        "12 places",
        "du CP au CM2",
        "sans restriction",
        "Matin 8 h 30 – 12 h : 4,00 €",
        "vendredi 12 h pour la semaine suivante",
        "Payée à la réservation",
        "Tarif selon le quotient familial.",
    ]:
        assert text in html, text
    assert html.count("<h1") == 1


def test_unpublished_activities_inactive_facilities_and_past_periods_are_hidden(client, pommiers):
    ActivityFactory(name="Brouillon caché", is_published=False, facility=pommiers.facility)
    ActivityFactory(name="Structure fermée", facility=FacilityFactory(is_active=False))
    PeriodFactory(activity=pommiers, name="Été 2020", start_date=dt.date(2020, 7, 1), end_date=dt.date(2020, 7, 31))
    html = client.get(reverse("portal:catalog")).content.decode()
    assert "Brouillon caché" not in html
    assert "Structure fermée" not in html
    assert "Été 2020" not in html


def test_filter_by_facility_and_type(client, pommiers):
    sport = ActivityTypeFactory(name="Sport", slug="sport")
    ActivityFactory(
        name="Escalade 7/11 ans", facility=FacilityFactory(name="École des sports", slug="sports"), activity_type=sport
    )
    url = reverse("portal:catalog")

    html = client.get(url, {"structure": "sports"}).content.decode()
    assert "Escalade 7/11 ans" in html and "Pommiers mercredis" not in html

    html = client.get(url, {"type": "mercredis"}).content.decode()
    assert "Pommiers mercredis" in html and "Escalade 7/11 ans" not in html

    html = client.get(url, {"structure": "pommiers", "type": "sport"}).content.decode()
    assert "Aucune activité ne correspond à votre recherche" in html


def test_unknown_filter_value_shows_error_and_everything(client, pommiers):
    response = client.get(reverse("portal:catalog"), {"structure": "nulle-part"})
    assert response.status_code == 200
    assert "Pommiers mercredis" in response.content.decode()
    assert response.context["form"].errors


def test_activity_detail_lists_upcoming_open_sessions_by_month(client, pommiers):
    today = timezone.localdate()
    unit = pommiers.units.get()
    soon = today + dt.timedelta(days=3)
    SessionFactory(unit=unit, date=soon)
    SessionFactory(unit=unit, date=today + dt.timedelta(days=4), is_cancelled=True)
    SessionFactory(unit=unit, date=today - dt.timedelta(days=3))
    response = client.get(reverse("portal:activity_detail", args=["pommiers-mercredis"]))
    assert response.status_code == 200
    months = response.context["months"]
    assert [[s.date for row in m.units for s in row.sessions] for m in months] == [[soon]]
    assert f'datetime="{soon:%Y-%m-%d}"' in response.content.decode()


@pytest.mark.parametrize("slug", ["inconnue", "brouillon"])
def test_unpublished_or_unknown_activity_is_404(client, slug):
    ActivityFactory(slug="brouillon", is_published=False)
    assert client.get(reverse("portal:activity_detail", args=[slug])).status_code == 404


def _add_activities(count):
    for _ in range(count):
        activity = ActivityFactory(facility=FacilityFactory())
        PeriodFactory(activity=activity)
        GroupFactory(activity=activity)
        GroupFactory(activity=activity, min_age=3, max_age=5)
        UnitFactory(activity=activity, deadline_rule=BookingDeadlineRuleFactory())


def test_catalog_query_count_does_not_grow_with_activities(client, django_assert_max_num_queries):
    _add_activities(2)
    url = reverse("portal:catalog")
    with CaptureQueriesContext(connection) as two:
        assert client.get(url).status_code == 200
    _add_activities(8)
    with django_assert_max_num_queries(len(two)):
        response = client.get(url)
    assert len(response.context["sections"]) == 10


def test_activity_detail_query_count_does_not_grow_with_sessions(client, pommiers, django_assert_max_num_queries):
    unit = pommiers.units.get()
    today = timezone.localdate()
    url = reverse("portal:activity_detail", args=[pommiers.slug])
    SessionFactory(unit=unit, date=today + dt.timedelta(days=1))
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for n in range(2, 40):
        SessionFactory(unit=unit, date=today + dt.timedelta(days=n))
    with django_assert_max_num_queries(len(one)):
        client.get(url)
