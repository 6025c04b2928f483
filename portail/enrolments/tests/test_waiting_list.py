"""A waiting list that moves: offers, acceptance, refusal, expiry, priority criteria."""

import datetime as dt
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from portail.catalog.models import Activity
from portail.core.models import Channel, LogEntry
from portail.enrolments import services, waiting_list
from portail.enrolments.errors import EnrolmentError
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.enrolments.selectors import remaining_places, waiting_rank, waiting_ranks
from portail.organisations.models import Town
from tests.factories import GuardianFactory, HouseholdFactory, TownFactory

from .factories import make_child, make_offer, request, staff

pytestmark = pytest.mark.django_db

AUTO, MANUAL = Activity.ValidationMode.AUTO, Activity.ValidationMode.MANUAL
HOUR = dt.timedelta(hours=1)


def full_group_with_queue(*, waiting=2, validation_mode=AUTO, delay=48, priority=Activity.WaitingListPriority.ARRIVAL):
    """A group of one place, taken, with `waiting` families queued. Returns (period, group, holder, queue)."""
    _, period, group = make_offer(
        validation_mode=validation_mode, capacity=1, offer_delay_hours=delay, priority=priority
    )
    holder = request(make_child(), period, group)
    queue = [request(make_child(), period, group) for _ in range(waiting)]
    return period, group, holder, queue


def reload(*enrolments):
    return [Enrolment.objects.get(pk=e.pk) for e in enrolments]


def free_the_place(holder, now):
    services.cancel_enrolment(enrolment=holder, actor=None, channel=Channel.WEB, now=now)


def test_waiting_ranks_follow_arrival_order():
    period, group, _, queue = full_group_with_queue(waiting=3)
    assert [waiting_rank(e) for e in reload(*queue)] == [1, 2, 3]
    assert waiting_ranks(reload(*queue)) == {queue[0].pk: 1, queue[1].pk: 2, queue[2].pk: 3}


def test_freed_place_is_offered_to_the_first_with_the_activity_delay(django_capture_on_commit_callbacks):
    period, group, holder, queue = full_group_with_queue(delay=24)
    now = timezone.now()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        free_the_place(holder, now)
    first, second = reload(*queue)
    assert first.status == EnrolmentStatus.OFFERED
    assert first.offer_expires_at == now + dt.timedelta(hours=24)
    assert second.status == EnrolmentStatus.WAITING and waiting_rank(second) == 1
    assert remaining_places(group=group, period=period) == 0  # the offer holds the place
    offer_mail = next(m for m in mail.outbox if m.subject.startswith("Une place se libère"))
    assert timezone.localtime(first.offer_expires_at).strftime("%d/%m/%Y à %H:%M") in offer_mail.body
    assert LogEntry.objects.filter(action="enrolment.offered", object_id=str(first.pk)).count() == 1


@pytest.mark.parametrize(("mode", "expected"), [(AUTO, EnrolmentStatus.VALIDATED), (MANUAL, EnrolmentStatus.REQUESTED)])
def test_accepted_offer_takes_the_place(mode, expected):
    period, group, holder, queue = full_group_with_queue(validation_mode=mode)
    now = timezone.now()
    free_the_place(holder, now)
    accepted = waiting_list.accept_offer(enrolment=queue[0], actor=None, now=now + HOUR)
    assert accepted.status == expected
    assert remaining_places(group=group, period=period) == 0
    assert reload(queue[1])[0].status == EnrolmentStatus.WAITING
    assert LogEntry.objects.filter(action="enrolment.offer_accepted").count() == 1


def test_offer_cannot_be_accepted_after_its_delay():
    _, _, holder, queue = full_group_with_queue(delay=48)
    now = timezone.now()
    free_the_place(holder, now)
    with pytest.raises(EnrolmentError) as caught:
        waiting_list.accept_offer(enrolment=queue[0], actor=None, now=now + dt.timedelta(hours=48))
    assert caught.value.code == "offer_expired"
    assert reload(queue[0])[0].status == EnrolmentStatus.OFFERED


def test_declined_offer_moves_to_the_next():
    _, _, holder, queue = full_group_with_queue(waiting=2)
    now = timezone.now()
    free_the_place(holder, now)
    waiting_list.decline_offer(enrolment=queue[0], actor=None, now=now + HOUR)
    declined, second = reload(*queue)
    assert (declined.status, declined.cancellation_reason) == (
        EnrolmentStatus.CANCELLED,
        "offre déclinée par la famille",
    )
    assert second.status == EnrolmentStatus.OFFERED
    assert second.offer_expires_at == now + HOUR + dt.timedelta(hours=48)


def test_a_staff_refused_offer_moves_the_list():
    _, _, holder, queue = full_group_with_queue(waiting=2)
    free_the_place(holder, timezone.now())
    services.refuse_enrolment(enrolment=queue[0], actor=staff(), reason="Hors secteur")
    assert [e.status for e in reload(*queue)] == [EnrolmentStatus.REFUSED, EnrolmentStatus.OFFERED]


def test_expired_offer_is_cancelled_and_passed_on(django_capture_on_commit_callbacks):
    period, group, holder, queue = full_group_with_queue(waiting=2, delay=48)
    now = timezone.now()
    free_the_place(holder, now)
    assert waiting_list.expire_offers(now=now + dt.timedelta(hours=47)) == []
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        expired = waiting_list.expire_offers(now=now + dt.timedelta(hours=48))
    first, second = reload(*queue)
    assert expired == [first.pk]
    assert (first.status, first.cancellation_reason) == (EnrolmentStatus.CANCELLED, "offre expirée")
    assert second.status == EnrolmentStatus.OFFERED
    assert remaining_places(group=group, period=period) == 0
    assert {m.subject.split(" –")[0] for m in mail.outbox} == {"Place proposée non confirmée", "Une place se libère"}
    entry = LogEntry.objects.get(action="enrolment.offer_expired")
    assert (entry.actor, entry.channel) == (None, Channel.SYSTEM)


def test_running_the_expiry_twice_passes_each_offer_on_once():
    _, _, holder, queue = full_group_with_queue(waiting=3)
    now = timezone.now()
    free_the_place(holder, now)
    later = now + dt.timedelta(hours=49)
    assert len(waiting_list.expire_offers(now=later)) == 1
    assert waiting_list.expire_offers(now=later) == []  # the new offer is not due yet
    assert [e.status for e in reload(*queue)] == [
        EnrolmentStatus.CANCELLED,
        EnrolmentStatus.OFFERED,
        EnrolmentStatus.WAITING,
    ]


def test_expire_command_reports_what_it_did():
    _, _, holder, queue = full_group_with_queue(waiting=1)
    free_the_place(holder, timezone.now() - dt.timedelta(hours=72))
    out = StringIO()
    call_command("expire_enrolment_offers", stdout=out)
    assert "1 proposition(s) expirée(s)." in out.getvalue()
    assert reload(queue[0])[0].status == EnrolmentStatus.CANCELLED


def test_offer_freed_places_fills_every_free_place_in_order():
    period, group, holder, queue = full_group_with_queue(waiting=3)
    group.capacity = 3
    group.save()
    offers = waiting_list.offer_freed_places(group=group, period=period)
    assert [o.pk for o in offers] == [queue[0].pk, queue[1].pk]
    assert waiting_list.offer_freed_places(group=group, period=period) == []


def test_residents_go_first_when_the_activity_publishes_it():
    TownFactory(name="Ville-sur-Test")
    Town.objects.update(city="Saint-Étienne-du-Bois")
    _, period, group = make_offer(capacity=0, priority=Activity.WaitingListPriority.RESIDENTS_FIRST)
    outsider = request(make_child(), period, group)  # factory guardians live in "Ville-sur-Test"
    household = HouseholdFactory()
    GuardianFactory(household=household, user=None, city="saint etienne du bois")
    resident = request(make_child(household=household), period, group)
    assert [waiting_rank(e) for e in reload(resident, outsider)] == [1, 2]


def test_siblings_go_first_when_the_activity_publishes_it():
    _, period, group = make_offer(capacity=1, priority=Activity.WaitingListPriority.SIBLINGS_FIRST)
    elder = make_child()
    request(elder, period, group)  # holds the only place
    stranger = request(make_child(), period, group)
    sibling = request(make_child(household=elder.household), period, group)
    assert [waiting_rank(e) for e in reload(sibling, stranger)] == [1, 2]


def test_arrival_order_ignores_residence_and_siblings():
    _, period, group = make_offer(capacity=1, priority=Activity.WaitingListPriority.ARRIVAL)
    elder = make_child()
    request(elder, period, group)
    stranger = request(make_child(), period, group)
    sibling = request(make_child(household=elder.household), period, group)
    assert [waiting_rank(e) for e in reload(stranger, sibling)] == [1, 2]
