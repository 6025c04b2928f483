"""Family enrolment pages: "Mes inscriptions", the detail and its actions (cancel, answer an
offer, duplicate), household scoping and query budgets."""

import datetime as dt
import html as htmllib
from types import SimpleNamespace

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portail.catalog.models import Activity
from portail.core.models import Channel, LogEntry
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.enrolments.services import cancel_enrolment, refuse_enrolment
from tests.factories import GroupFactory, PeriodFactory, UnitFactory, make_family

from .factories import EnrolmentFactory, make_child, make_offer, request, staff

pytestmark = pytest.mark.django_db

ID_URLS = [
    "portal:enrolment_detail",
    "portal:enrolment_cancel",
    "portal:enrolment_offer_accept",
    "portal:enrolment_offer_decline",
    "portal:enrolment_duplicate",
    "portal:enrolment_certificate",
]


@pytest.fixture
def family():
    household, guardian, kids = make_family(children=2)
    kids[0].first_name, kids[1].first_name = "Léa", "Tom"
    for kid in kids:
        kid.save(update_fields=["first_name"])
    return SimpleNamespace(household=household, guardian=guardian, user=guardian.user, kids=kids)


@pytest.fixture
def family_client(client, family):
    client.force_login(family.user)
    return client


def url(name, enrolment):
    return reverse(name, kwargs={"enrolment_id": enrolment.pk})


def html_of(response):
    return htmllib.unescape(response.content.decode())


# --- Access ------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login_on_every_enrolment_page(client):
    enrolment = EnrolmentFactory()
    login = reverse("accounts:login")
    for target in [reverse("portal:enrolments"), reverse("portal:enrolment_new")] + [
        url(name, enrolment) for name in ID_URLS
    ]:
        for method in ("get", "post"):
            response = getattr(client, method)(target)
            assert response.status_code == 302 and response["Location"].startswith(login), (method, target)
    assert Enrolment.objects.get().status == EnrolmentStatus.VALIDATED


@pytest.mark.parametrize("name", ID_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_households_enrolment_is_404_and_left_untouched(family_client, name, method):
    activity, period, group = make_offer(capacity=5)
    theirs = request(make_child(first_name="Zoé"), period, group)
    response = getattr(family_client, method)(url(name, theirs), {"motif": "x", "enfant": theirs.child_id})
    assert response.status_code == 404
    assert "Zoé" not in html_of(response)
    theirs.refresh_from_db()
    assert theirs.status == EnrolmentStatus.VALIDATED
    assert Enrolment.objects.count() == 1


def test_staff_without_household_cannot_use_family_enrolment_pages(client):
    client.force_login(staff())
    assert client.get(reverse("portal:enrolments")).status_code == 403


# --- Mes inscriptions ----------------------------------------------------------------------


def test_my_enrolments_show_each_state_with_its_marker_rank_offer_and_reason(family_client, family):
    lea, tom = family.kids
    EnrolmentFactory(child=lea, status=EnrolmentStatus.VALIDATED, group__activity__name="Pommiers mercredis")
    EnrolmentFactory(child=lea, status=EnrolmentStatus.REQUESTED, group__activity__name="Judo")
    EnrolmentFactory(child=lea, status=EnrolmentStatus.PRE_ENROLMENT, group__activity__name="Crèche")
    waiting_group = GroupFactory(activity__name="Piscine", capacity=1)
    waiting_period = PeriodFactory(activity=waiting_group.activity)
    start = timezone.now() - dt.timedelta(days=3)
    for days in (0, 1):
        EnrolmentFactory(
            group=waiting_group,
            period=waiting_period,
            status=EnrolmentStatus.WAITING,
            created_at=start + dt.timedelta(days=days),
        )
    EnrolmentFactory(child=tom, group=waiting_group, period=waiting_period, status=EnrolmentStatus.WAITING)
    offered = EnrolmentFactory(child=tom, status=EnrolmentStatus.OFFERED, group__activity__name="Escalade")
    EnrolmentFactory(
        child=tom, status=EnrolmentStatus.REFUSED, refusal_reason="Dossier incomplet", group__activity__name="Voile"
    )
    EnrolmentFactory(child=tom, status=EnrolmentStatus.CANCELLED, group__activity__name="Poney")

    response = family_client.get(reverse("portal:enrolments"))
    html = html_of(response)
    assert response.status_code == 200
    assert html.count("<h1") == 1
    expires = timezone.localtime(offered.offer_expires_at)
    for text in [
        "Validée",
        "En attente de validation par le service",
        "Pré-inscription à compléter",
        "3e sur la liste d'attente",
        f"Une place vous est proposée jusqu'au {expires:%d/%m/%Y à %H:%M}",
        "Dossier incomplet",
        "Annulée",
        "Réserver dans le planning",
        "Détail financier : ",
    ]:
        assert text in html, text
    assert '<strong aria-hidden="true">V</strong> Pommiers mercredis' in html
    assert '<strong aria-hidden="true">?</strong> Judo' in html
    assert '<strong aria-hidden="true">!</strong> Crèche' in html
    assert url("portal:enrolment_offer_accept", offered) in html
    # Grouped by child: Léa's section comes first and holds her enrolments.
    lea_part, tom_part = html.split(f'id="enfant-{tom.pk}"')
    assert "Pommiers mercredis" in lea_part and "Escalade" in tom_part and "Escalade" not in lea_part


def test_attestation_link_only_for_validated_and_cancel_link_only_for_live(family_client, family):
    lea = family.kids[0]
    validated = EnrolmentFactory(child=lea, status=EnrolmentStatus.VALIDATED)
    requested = EnrolmentFactory(child=lea, status=EnrolmentStatus.REQUESTED)
    cancelled = EnrolmentFactory(child=lea, status=EnrolmentStatus.CANCELLED)
    html = html_of(family_client.get(reverse("portal:enrolments")))
    assert url("portal:enrolment_certificate", validated) in html
    assert url("portal:enrolment_certificate", requested) not in html
    assert url("portal:enrolment_cancel", validated) in html
    assert url("portal:enrolment_cancel", requested) in html
    assert url("portal:enrolment_cancel", cancelled) not in html
    assert url("portal:enrolment_duplicate", cancelled) in html


def test_my_enrolments_lists_only_my_household(family_client, family):
    EnrolmentFactory(child=family.kids[0], group__activity__name="Mine")
    EnrolmentFactory(child=make_child(first_name="Zoé"), group__activity__name="Theirs")
    html = html_of(family_client.get(reverse("portal:enrolments")))
    assert "Mine" in html and "Theirs" not in html and "Zoé" not in html


def _add_enrolments(child, count):
    """Every kind of row, each waiting one in its own group (so its own waiting list)."""
    statuses = [EnrolmentStatus.WAITING, EnrolmentStatus.VALIDATED, EnrolmentStatus.OFFERED, EnrolmentStatus.WAITING]
    for index in range(count):
        enrolment = EnrolmentFactory(child=child, status=statuses[index % len(statuses)])
        UnitFactory(activity=enrolment.activity)
        enrolment.weekly_pattern.create(weekday=2, unit=enrolment.activity.units.get())


def test_my_enrolments_query_count_does_not_grow_with_enrolments(client, django_assert_max_num_queries):
    counts = []
    for count in (1, 5):
        household, guardian, (child,) = make_family(children=1)
        _add_enrolments(child, count)
        client.force_login(guardian.user)
        client.get(reverse("portal:enrolments"))  # warm up the session
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("portal:enrolments")).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(counts[0]):
        client.get(reverse("portal:enrolments"))


# --- Detail --------------------------------------------------------------------------------


def test_detail_shows_state_memo_weekly_pattern_and_history(family_client, family):
    activity, period, group = make_offer(capacity=5, validation_mode=Activity.ValidationMode.MANUAL)
    unit = UnitFactory(activity=activity, name="Matin")
    enrolment = request(
        family.kids[0], period, group, memo="Allergie au soleil", weekly_pattern=[(2, unit.pk)], actor=family.user
    )
    refuse_enrolment(enrolment=enrolment, actor=staff(), reason="Plus de car")
    html = html_of(family_client.get(url("portal:enrolment_detail", enrolment)))
    for text in [enrolment.reference, "Allergie au soleil", "Mercredi – Matin", "Refusée", "Plus de car"]:
        assert text in html, text
    assert "Demande envoyée" in html and "Demande refusée" in html
    assert url("portal:enrolment_certificate", enrolment) not in html
    assert url("portal:enrolment_cancel", enrolment) not in html


# --- Cancel --------------------------------------------------------------------------------


def test_cancel_asks_for_confirmation_then_frees_the_place_for_the_waiting_list(
    family_client, family, django_capture_on_commit_callbacks
):
    activity, period, group = make_offer(capacity=1)
    mine = request(family.kids[0], period, group, actor=family.user)
    waiting = request(make_child(), period, group)
    assert waiting.status == EnrolmentStatus.WAITING

    page = family_client.get(url("portal:enrolment_cancel", mine))
    assert page.status_code == 200 and "Confirmer l'annulation" in html_of(page)
    mine.refresh_from_db()
    assert mine.status == EnrolmentStatus.VALIDATED  # a GET changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = family_client.post(url("portal:enrolment_cancel", mine), {"motif": "Déménagement"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:enrolments")
    mine.refresh_from_db()
    waiting.refresh_from_db()
    assert mine.status == EnrolmentStatus.CANCELLED
    assert mine.cancellation_reason == "Déménagement"
    assert waiting.status == EnrolmentStatus.OFFERED
    entry = LogEntry.objects.get(action="enrolment.cancelled", object_id=str(mine.pk))
    assert entry.actor == family.user and entry.channel == "web"
    assert any("annul" in m.subject.lower() for m in mail.outbox)


def test_cancel_without_reason_records_that_the_family_cancelled(family_client, family):
    activity, period, group = make_offer(capacity=1)
    mine = request(family.kids[0], period, group)
    family_client.post(url("portal:enrolment_cancel", mine))
    mine.refresh_from_db()
    assert mine.status == EnrolmentStatus.CANCELLED
    assert mine.cancellation_reason == "annulée par la famille"


def test_cancelled_enrolment_cannot_be_cancelled_again(family_client, family):
    enrolment = EnrolmentFactory(child=family.kids[0], status=EnrolmentStatus.CANCELLED, cancellation_reason="x")
    response = family_client.post(url("portal:enrolment_cancel", enrolment), follow=True)
    assert "ne peut plus être annulée" in html_of(response)
    enrolment.refresh_from_db()
    assert enrolment.cancellation_reason == "x"
    assert not LogEntry.objects.filter(action="enrolment.cancelled").exists()


# --- Offers --------------------------------------------------------------------------------


def _offer_for(child):
    """A full group whose only place is freed: `child`, first on the list, gets the offer."""
    activity, period, group = make_offer(capacity=1)
    holder = request(make_child(), period, group)
    mine = request(child, period, group)
    cancel_enrolment(enrolment=holder, actor=staff(), channel=Channel.STAFF, reason="Déménagement")
    mine.refresh_from_db()
    assert mine.status == EnrolmentStatus.OFFERED
    return activity, period, group, mine


def test_accepting_an_offer_takes_the_place(family_client, family):
    *_, mine = _offer_for(family.kids[0])
    response = family_client.post(url("portal:enrolment_offer_accept", mine), follow=True)
    mine.refresh_from_db()
    assert mine.status == EnrolmentStatus.VALIDATED
    assert "inscription validée" in html_of(response)


def test_accepting_an_offer_of_a_manually_validated_activity_waits_for_the_service(family_client, family):
    activity, period, group, mine = _offer_for(family.kids[0])
    Activity.objects.filter(pk=activity.pk).update(validation_mode=Activity.ValidationMode.MANUAL)
    family_client.post(url("portal:enrolment_offer_accept", mine))
    mine.refresh_from_db()
    assert mine.status == EnrolmentStatus.REQUESTED


def test_declining_an_offer_passes_the_place_to_the_next_family(family_client, family):
    activity, period, group, mine = _offer_for(family.kids[0])
    next_one = request(make_child(), period, group)
    assert next_one.status == EnrolmentStatus.WAITING
    page = family_client.get(url("portal:enrolment_offer_decline", mine))
    assert page.status_code == 200 and "Refuser la place" in html_of(page)
    family_client.post(url("portal:enrolment_offer_decline", mine))
    mine.refresh_from_db()
    next_one.refresh_from_db()
    assert mine.status == EnrolmentStatus.CANCELLED
    assert next_one.status == EnrolmentStatus.OFFERED


def test_an_expired_offer_cannot_be_accepted(family_client, family):
    *_, mine = _offer_for(family.kids[0])
    Enrolment.objects.filter(pk=mine.pk).update(offer_expires_at=timezone.now() - dt.timedelta(minutes=1))
    response = family_client.post(url("portal:enrolment_offer_accept", mine), follow=True)
    assert "Le délai pour accepter cette place est dépassé." in html_of(response)
    mine.refresh_from_db()
    assert mine.status == EnrolmentStatus.OFFERED


def test_answering_when_no_place_is_offered_changes_nothing(family_client, family):
    enrolment = EnrolmentFactory(child=family.kids[0], status=EnrolmentStatus.WAITING)
    for name in ("portal:enrolment_offer_accept", "portal:enrolment_offer_decline"):
        response = family_client.post(url(name, enrolment), follow=True)
        assert "Aucune place n'est proposée" in html_of(response)
    enrolment.refresh_from_db()
    assert enrolment.status == EnrolmentStatus.WAITING


# --- Duplicate -----------------------------------------------------------------------------


def test_duplicate_to_a_sibling_copies_memo_and_weekly_pattern(family_client, family):
    lea, tom = family.kids
    activity, period, group = make_offer(capacity=5)
    unit = UnitFactory(activity=activity)
    original = request(lea, period, group, memo="Arrive à 9 h", weekly_pattern=[(2, unit.pk)])
    page = family_client.get(url("portal:enrolment_duplicate", original))
    assert page.status_code == 200 and "Dupliquer l'inscription" in html_of(page)

    response = family_client.post(
        url("portal:enrolment_duplicate", original), {"enfant": tom.pk, "periode": period.pk, "groupe": group.pk}
    )
    copy = Enrolment.objects.get(child=tom)
    assert response.status_code == 302 and response["Location"] == url("portal:enrolment_detail", copy)
    assert copy.status == EnrolmentStatus.VALIDATED
    assert copy.memo == "Arrive à 9 h"
    assert [(line.weekday, line.unit_id) for line in copy.weekly_pattern.all()] == [(2, unit.pk)]


def test_duplicate_to_another_period_of_the_same_activity(family_client, family):
    lea = family.kids[0]
    activity, period, group = make_offer(capacity=5)
    other_period = PeriodFactory(activity=activity, name="Été 2027")
    original = request(lea, period, group)
    family_client.post(
        url("portal:enrolment_duplicate", original), {"enfant": lea.pk, "periode": other_period.pk, "groupe": group.pk}
    )
    assert Enrolment.objects.filter(child=lea, period=other_period, group=group).exists()


def test_duplicate_that_changes_nothing_is_refused_and_saves_nothing(family_client, family):
    activity, period, group = make_offer(capacity=5)
    original = request(family.kids[0], period, group)
    response = family_client.post(
        url("portal:enrolment_duplicate", original),
        {"enfant": family.kids[0].pk, "periode": period.pk, "groupe": group.pk},
    )
    assert response.status_code == 200
    assert "Choisissez un autre enfant ou une autre période" in html_of(response)
    assert Enrolment.objects.count() == 1


def test_duplicate_to_an_ineligible_child_shows_the_reason(family_client, family):
    lea, tom = family.kids
    tom.birth_date = dt.date(2023, 1, 1)
    tom.save(update_fields=["birth_date"])
    activity, period, group = make_offer(capacity=5)
    group.min_age, group.max_age = 6, 11
    group.save(update_fields=["min_age", "max_age"])
    original = request(lea, period, group)
    response = family_client.post(
        url("portal:enrolment_duplicate", original), {"enfant": tom.pk, "periode": period.pk, "groupe": group.pk}
    )
    assert "accueille les enfants de 6 à 11 ans" in html_of(response)
    assert not Enrolment.objects.filter(child=tom).exists()


def test_duplicate_to_another_households_child_is_refused(family_client, family):
    activity, period, group = make_offer(capacity=5)
    original = request(family.kids[0], period, group)
    stranger = make_child()
    response = family_client.post(
        url("portal:enrolment_duplicate", original), {"enfant": stranger.pk, "periode": period.pk, "groupe": group.pk}
    )
    assert response.status_code == 200 and response.context["form"].errors["enfant"]
    assert not Enrolment.objects.filter(child=stranger).exists()
