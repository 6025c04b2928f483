"""Staff catalog pages: permissions, ModelForms with audit, session generation, cancel and reopen."""

import datetime as dt
import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portail.catalog.models import BookingDeadlineRule, Group, Period, Session, Unit
from portail.core.models import LogEntry
from tests.factories import (
    ActivityFactory,
    FacilityFactory,
    GroupFactory,
    PeriodFactory,
    StaffFactory,
    UnitFactory,
    make_family,
)

from .factories import BookingDeadlineRuleFactory, SessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client):
    manager = StaffFactory(role="Gestionnaire")
    client.force_login(manager)
    client.user = manager
    return client


@pytest.fixture
def agent_client(client):
    client.force_login(StaffFactory(role="Agent d'accueil"))
    return client


@pytest.fixture
def unit():
    return UnitFactory(deadline_rule=BookingDeadlineRuleFactory())


def staff_urls(unit, session):
    return [
        ("get", reverse("backoffice:catalog")),
        ("get", reverse("backoffice:catalog_add", args=["periodes"])),
        ("get", reverse("backoffice:catalog_edit", args=["groupes", GroupFactory().pk])),
        ("get", reverse("backoffice:catalog_unit_sessions", args=[unit.pk])),
        ("post", reverse("backoffice:catalog_generate_sessions", args=[unit.pk])),
        ("post", reverse("backoffice:catalog_session_cancel", args=[session.pk])),
        ("post", reverse("backoffice:catalog_session_reopen", args=[session.pk])),
    ]


def test_family_users_get_403_on_every_staff_catalog_page(client, unit):
    _, guardian, _ = make_family()
    client.force_login(guardian.user)
    for method, url in staff_urls(unit, SessionFactory(unit=unit)):
        assert getattr(client, method)(url).status_code == 403, url


def test_anonymous_users_are_sent_to_login(client, unit):
    for method, url in staff_urls(unit, SessionFactory(unit=unit)):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/compte/" in response["Location"], url


def test_front_desk_agent_reads_but_cannot_change(agent_client, unit):
    session = SessionFactory(unit=unit)
    assert agent_client.get(reverse("backoffice:catalog")).status_code == 200
    assert agent_client.get(reverse("backoffice:catalog_unit_sessions", args=[unit.pk])).status_code == 200
    assert agent_client.get(reverse("backoffice:catalog_add", args=["periodes"])).status_code == 403
    assert agent_client.get(reverse("backoffice:catalog_edit", args=["unites", unit.pk])).status_code == 403
    generate_url = reverse("backoffice:catalog_generate_sessions", args=[unit.pk])
    assert (
        agent_client.post(generate_url, {"start": "2026-09-01", "end": "2026-09-30", "weekdays": ["2"]}).status_code
        == 403
    )
    assert agent_client.post(reverse("backoffice:catalog_session_cancel", args=[session.pk])).status_code == 403
    assert not Session.objects.filter(unit=unit).exclude(pk=session.pk).exists()
    session.refresh_from_db()
    assert not session.is_cancelled


def test_overview_shows_capacities_and_rules_in_words(manager_client, unit):
    GroupFactory(activity=unit.activity, name="6-8 ans Rémond", min_age=6, max_age=8, capacity=24)
    PeriodFactory(activity=unit.activity, name="Automne 2026")
    ActivityFactory(name="Brouillon", is_published=False)
    html = manager_client.get(reverse("backoffice:catalog")).content.decode()
    for text in [
        "6-8 ans Rémond",
        "6 à 8 ans",
        ">24<",
        "Automne 2026",
        "vendredi 12 h pour la semaine suivante",
        "jours fériés exclus",
        "Brouillon",
        "non publiée",
    ]:
        assert text in html, text


def test_overview_query_count_does_not_grow(manager_client, django_assert_max_num_queries):
    from tests.factories import SchoolYearFactory

    school_year = SchoolYearFactory()  # shown per activity: must come with the activity, not one query each

    def add(count):
        for _ in range(count):
            activity = ActivityFactory(facility=FacilityFactory(), school_year=school_year)
            PeriodFactory(activity=activity)
            GroupFactory(activity=activity)
            UnitFactory(activity=activity, deadline_rule=BookingDeadlineRuleFactory())

    add(2)
    with CaptureQueriesContext(connection) as two:
        manager_client.get(reverse("backoffice:catalog"))
    add(8)
    with django_assert_max_num_queries(len(two)):
        manager_client.get(reverse("backoffice:catalog"))


def test_manager_creates_a_period(manager_client):
    activity = ActivityFactory()
    url = reverse("backoffice:catalog_add", args=["periodes"])
    assert manager_client.get(url, {"activite": activity.pk}).context["form"].initial["activity"] == activity.pk
    response = manager_client.post(
        url,
        {
            "activity": activity.pk,
            "name": "Automne 2026",
            "start_date": "2026-10-19",
            "end_date": "2026-10-30",
            "enrolment_opens_at": "2026-09-01T08:00",
            "enrolment_closes_at": "2026-10-09T12:00",
        },
    )
    assert response.status_code == 302
    period = Period.objects.get(name="Automne 2026")
    assert period.enrolment_closes_at == dt.datetime(2026, 10, 9, 10, 0, tzinfo=dt.UTC)  # 12 h Paris, summer time
    entry = LogEntry.objects.get(action="catalog.period_created")
    assert entry.actor == manager_client.user and entry.channel == "staff" and entry.after["name"] == "Automne 2026"


def test_period_with_end_before_start_is_refused(manager_client):
    activity = ActivityFactory()
    response = manager_client.post(
        reverse("backoffice:catalog_add", args=["periodes"]),
        {
            "activity": activity.pk,
            "name": "À l'envers",
            "start_date": "2026-10-30",
            "end_date": "2026-10-19",
            "enrolment_opens_at": "2026-10-09T12:00",
            "enrolment_closes_at": "2026-09-01T08:00",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "La fin de la période doit être égale ou postérieure à son début." in html
    assert "La clôture des inscriptions doit suivre leur ouverture." in html
    assert not Period.objects.exists() and not LogEntry.objects.exists()


def test_manager_creates_a_group_then_changes_its_capacity(manager_client):
    activity = ActivityFactory()
    response = manager_client.post(
        reverse("backoffice:catalog_add", args=["groupes"]),
        {
            "activity": activity.pk,
            "name": "7/11 ans Escalade",
            "min_age": "7",
            "max_age": "11",
            "capacity": "10",
            "position": "0",
        },
    )
    assert response.status_code == 302
    group = Group.objects.get(name="7/11 ans Escalade")
    assert group.capacity == 10
    response = manager_client.post(
        reverse("backoffice:catalog_edit", args=["groupes", group.pk]),
        {
            "activity": activity.pk,
            "name": "7/11 ans Escalade",
            "min_age": "7",
            "max_age": "11",
            "capacity": "25",
            "position": "0",
        },
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.capacity == 25
    entry = LogEntry.objects.get(action="catalog.group_changed")
    assert (entry.before, entry.after) == ({"capacity": 10}, {"capacity": 25})


def test_group_with_reversed_bands_is_refused(manager_client):
    response = manager_client.post(
        reverse("backoffice:catalog_add", args=["groupes"]),
        {
            "activity": ActivityFactory().pk,
            "name": "Faux",
            "min_age": "11",
            "max_age": "7",
            "min_school_level": "CM2",
            "max_school_level": "CP",
            "position": "0",
        },
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"max_age", "max_school_level"}
    assert not Group.objects.exists()


def test_unit_price_typed_in_euros_is_stored_in_cents(manager_client):
    activity = ActivityFactory()
    rule = BookingDeadlineRuleFactory()
    response = manager_client.post(
        reverse("backoffice:catalog_add", args=["unites"]),
        {
            "activity": activity.pk,
            "name": "Matin",
            "kind": "matin",
            "start_time": "08:30",
            "end_time": "12:00",
            "price": "4,50",
            "deadline_rule": rule.pk,
            "position": "0",
        },
    )
    assert response.status_code == 302
    unit = Unit.objects.get(name="Matin")
    assert (unit.price_cents, unit.deadline_rule) == (450, rule)
    form = manager_client.get(reverse("backoffice:catalog_edit", args=["unites", unit.pk])).context["form"]
    assert form.initial["price"] == 4.5


def test_previous_week_day_rule_needs_a_weekday(manager_client):
    url = reverse("backoffice:catalog_add", args=["delais"])
    data = {
        "name": "Vendredi midi",
        "kind": "previous_week_day",
        "days": "0",
        "at_time": "12:00",
        "weekday": "",
        "skip_public_holidays": "on",
    }
    response = manager_client.post(url, data)
    assert response.status_code == 200 and "weekday" in response.context["form"].errors
    assert manager_client.post(url, {**data, "weekday": "4"}).status_code == 302
    assert BookingDeadlineRule.objects.get().weekday == 4


def test_unknown_kind_is_404(manager_client):
    assert manager_client.get(reverse("backoffice:catalog_add", args=["inconnu"])).status_code == 404
    assert manager_client.get(reverse("backoffice:catalog_edit", args=["groupes", 999999])).status_code == 404


def test_manager_generates_sessions_and_sees_how_many(manager_client, unit):
    url = reverse("backoffice:catalog_generate_sessions", args=[unit.pk])
    data = {
        "start": "2026-10-01",
        "end": "2026-11-30",
        "weekdays": ["2"],
        "skip_public_holidays": "on",
        "skip_school_holidays": "on",
    }
    response = manager_client.post(url, data, follow=True)
    assert response.status_code == 200
    got = set(Session.objects.filter(unit=unit).values_list("date", flat=True))
    # 8 Wednesdays, minus Toussaint zone A (21 and 28 October) and 11 November.
    assert got == {
        dt.date(2026, 10, 7),
        dt.date(2026, 10, 14),
        dt.date(2026, 11, 4),
        dt.date(2026, 11, 18),
        dt.date(2026, 11, 25),
    }
    assert dt.date(2026, 10, 21) not in got and dt.date(2026, 11, 11) not in got
    assert "5 séances créées." in response.content.decode()
    response = manager_client.post(url, data, follow=True)
    assert "Aucune nouvelle séance" in response.content.decode()
    assert Session.objects.filter(unit=unit).count() == 5


def test_generation_without_weekday_is_refused(manager_client, unit):
    url = reverse("backoffice:catalog_generate_sessions", args=[unit.pk])
    response = manager_client.post(url, {"start": "2026-10-01", "end": "2026-11-30"})
    assert response.status_code == 400
    assert "Choisissez au moins un jour de la semaine." in response.content.decode()
    assert not Session.objects.exists()


def test_generation_with_contradictory_flags_is_refused(manager_client, unit):
    url = reverse("backoffice:catalog_generate_sessions", args=[unit.pk])
    response = manager_client.post(
        url,
        {
            "start": "2026-10-01",
            "end": "2026-11-30",
            "weekdays": ["2"],
            "skip_school_holidays": "on",
            "only_school_holidays": "on",
        },
    )
    assert response.status_code == 400
    assert not Session.objects.exists()


def test_manager_cancels_and_reopens_a_session(manager_client, unit):
    session = SessionFactory(unit=unit, date=dt.date(2026, 10, 7))
    response = manager_client.post(reverse("backoffice:catalog_session_cancel", args=[session.pk]), {"reason": "Grève"})
    assert response.status_code == 302 and "mois=2026-10" in response["Location"]
    session.refresh_from_db()
    assert session.is_cancelled
    assert LogEntry.objects.get(action="catalog.session_cancelled").message == "Grève"
    page = manager_client.get(response["Location"]).content.decode()
    assert "annulée" in page and "Rouvrir" in page
    manager_client.post(reverse("backoffice:catalog_session_reopen", args=[session.pk]))
    session.refresh_from_db()
    assert not session.is_cancelled


def test_cancelling_an_already_cancelled_session_shows_the_message(manager_client, unit):
    session = SessionFactory(unit=unit, is_cancelled=True)
    response = manager_client.post(reverse("backoffice:catalog_session_cancel", args=[session.pk]), follow=True)
    assert "Cette séance est déjà annulée." in response.content.decode()


def test_session_actions_refuse_get(manager_client, unit):
    session = SessionFactory(unit=unit)
    assert manager_client.get(reverse("backoffice:catalog_session_cancel", args=[session.pk])).status_code == 405


def test_unit_page_shows_the_chosen_month(manager_client, unit):
    SessionFactory(unit=unit, date=dt.date(2026, 10, 7))
    SessionFactory(unit=unit, date=dt.date(2026, 11, 4))
    url = reverse("backoffice:catalog_unit_sessions", args=[unit.pk])
    response = manager_client.get(url, {"mois": "2026-10"})
    assert [s.date for s in response.context["sessions"]] == [dt.date(2026, 10, 7)]
    assert manager_client.get(url, {"mois": "n'importe quoi"}).status_code == 200
    december = manager_client.get(url, {"mois": "2026-12"}).context
    assert (december["previous_month"], december["next_month"]) == (dt.date(2026, 11, 1), dt.date(2027, 1, 1))


def test_saving_without_change_writes_no_audit_entry(manager_client):
    group = GroupFactory(capacity=10, name="Petits")
    manager_client.post(
        reverse("backoffice:catalog_edit", args=["groupes", group.pk]),
        {
            "activity": group.activity_id,
            "name": "Petits",
            "capacity": "10",
            "position": "0",
        },
    )
    assert not LogEntry.objects.filter(action="catalog.group_changed").exists()


def test_manager_turns_on_the_waiting_list_of_full_sessions(manager_client):
    activity = ActivityFactory()
    url = reverse("backoffice:catalog_edit", args=["activites", activity.pk])
    page = html.unescape(manager_client.get(url).content.decode())
    assert "Liste d'attente sur les séances complètes" in page and 'name="session_waiting_list"' in page
    data = {
        "facility": activity.facility_id,
        "activity_type": activity.activity_type_id,
        "name": activity.name,
        "slug": activity.slug,
        "payment_mode": activity.payment_mode,
        "is_published": "on",
        "position": "0",
        "validation_mode": activity.validation_mode,
        "capacity": "",
        "offer_delay_hours": activity.offer_delay_hours,
        "waiting_list_priority": activity.waiting_list_priority,
        "session_waiting_list": "on",
    }
    response = manager_client.post(url, data)
    assert response.status_code == 302
    activity.refresh_from_db()
    assert activity.session_waiting_list is True
