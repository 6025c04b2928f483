"""Staff decisions: validate, refuse, accept a pre-enrolment, cancel, move, raise capacity,
reorder the waiting list, bulk actions, duplication. Each audited and e-mailed."""

import pytest
from django.core import mail

from portail.catalog.models import Activity
from portail.core.models import Channel, LogEntry
from portail.enrolments import services
from portail.enrolments.errors import EnrolmentError
from portail.enrolments.models import Enrolment, EnrolmentStatus, WeeklyPattern
from portail.enrolments.selectors import remaining_places, waiting_list, waiting_rank
from tests.factories import GroupFactory, PeriodFactory, UnitFactory

from .factories import family_user, make_child, make_offer, request, staff

pytestmark = pytest.mark.django_db

MANUAL = Activity.ValidationMode.MANUAL


@pytest.fixture
def agent():
    return staff()


def test_staff_validate_a_request(agent, django_capture_on_commit_callbacks):
    _, period, group = make_offer(validation_mode=MANUAL)
    enrolment = request(make_child(first_name="Inès"), period, group)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.validate_enrolment(enrolment=enrolment, actor=agent)
    enrolment.refresh_from_db()
    assert enrolment.status == EnrolmentStatus.VALIDATED
    assert enrolment.decided_by == agent and enrolment.decided_at is not None
    entry = LogEntry.objects.get(action="enrolment.validated")
    assert (entry.actor, entry.channel) == (agent, Channel.STAFF)
    assert entry.before["status"] == EnrolmentStatus.REQUESTED and entry.after["status"] == EnrolmentStatus.VALIDATED
    assert mail.outbox[0].subject.startswith("Inscription validée – Inès")


@pytest.mark.parametrize("status", [EnrolmentStatus.WAITING, EnrolmentStatus.PRE_ENROLMENT])
def test_only_a_request_can_be_validated(agent, status):
    _, period, group = make_offer(capacity=0, pre_enrolment=status == EnrolmentStatus.PRE_ENROLMENT)
    enrolment = request(make_child(), period, group)
    assert enrolment.status == status
    with pytest.raises(EnrolmentError) as caught:
        services.validate_enrolment(enrolment=enrolment, actor=agent)
    assert caught.value.code == "wrong_status"
    enrolment.refresh_from_db()
    assert enrolment.status == status


def test_refusal_needs_a_reason_and_changes_nothing_without_one(agent):
    _, period, group = make_offer(validation_mode=MANUAL)
    enrolment = request(make_child(), period, group)
    with pytest.raises(EnrolmentError) as caught:
        services.refuse_enrolment(enrolment=enrolment, actor=agent, reason="  ")
    assert caught.value.code == "reason_required"
    enrolment.refresh_from_db()
    assert enrolment.status == EnrolmentStatus.REQUESTED


def test_refusal_frees_the_place_and_offers_it_to_the_first_waiting(agent, django_capture_on_commit_callbacks):
    _, period, group = make_offer(validation_mode=MANUAL, capacity=1)
    first = request(make_child(), period, group)
    waiting = request(make_child(first_name="Hugo"), period, group)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.refuse_enrolment(enrolment=first, actor=agent, reason="Dossier incomplet")
    first.refresh_from_db()
    waiting.refresh_from_db()
    assert (first.status, first.refusal_reason) == (EnrolmentStatus.REFUSED, "Dossier incomplet")
    assert waiting.status == EnrolmentStatus.OFFERED
    assert remaining_places(group=group, period=period) == 0
    subjects = [m.subject for m in mail.outbox]
    assert any(s.startswith("Inscription refusée") for s in subjects)
    assert any(s.startswith("Une place se libère – Hugo") for s in subjects)
    assert "Motif : Dossier incomplet" in mail.outbox[0].body


def test_refusing_a_waiting_entry_frees_no_place(agent):
    _, period, group = make_offer(capacity=1)
    request(make_child(), period, group)
    second = request(make_child(), period, group)
    third = request(make_child(), period, group)
    services.refuse_enrolment(enrolment=second, actor=agent, reason="Hors secteur")
    third.refresh_from_db()
    assert third.status == EnrolmentStatus.WAITING
    assert waiting_rank(third) == 1


def test_accepted_pre_enrolment_takes_a_free_place(agent):
    _, period, group = make_offer(pre_enrolment=True, capacity=1)
    enrolment = request(make_child(), period, group)
    services.accept_pre_enrolment(enrolment=enrolment, actor=agent)
    enrolment.refresh_from_db()
    assert enrolment.status == EnrolmentStatus.VALIDATED
    assert remaining_places(group=group, period=period) == 0
    assert LogEntry.objects.filter(action="enrolment.pre_enrolment_accepted").count() == 1


def test_accepted_pre_enrolment_waits_when_full_from_its_acceptance(agent):
    _, period, group = make_offer(pre_enrolment=True, capacity=1)
    early = request(make_child(), period, group)
    late = request(make_child(), period, group)
    other = request(make_child(), period, group)
    services.accept_pre_enrolment(enrolment=late, actor=agent)
    services.accept_pre_enrolment(enrolment=other, actor=agent)
    services.accept_pre_enrolment(enrolment=early, actor=agent)
    for e in (early, late, other):
        e.refresh_from_db()
    assert late.status == EnrolmentStatus.VALIDATED
    # Waiting order follows the acceptance, not the original request.
    assert [e.pk for e in waiting_list(group=group, period=period)] == [other.pk, early.pk]


@pytest.mark.parametrize("channel", [Channel.WEB, Channel.STAFF])
def test_cancellation_frees_the_place_and_makes_an_offer(agent, channel):
    _, period, group = make_offer(capacity=1)
    child = make_child()
    holder = request(child, period, group)
    waiting = request(make_child(), period, group)
    actor = family_user(child) if channel == Channel.WEB else agent
    services.cancel_enrolment(enrolment=holder, actor=actor, channel=channel, reason="Déménagement")
    holder.refresh_from_db()
    waiting.refresh_from_db()
    assert (holder.status, holder.cancellation_reason) == (EnrolmentStatus.CANCELLED, "Déménagement")
    assert waiting.status == EnrolmentStatus.OFFERED
    assert LogEntry.objects.get(action="enrolment.cancelled").channel == channel


def test_cancelled_enrolment_cannot_be_cancelled_again(agent):
    _, period, group = make_offer()
    enrolment = request(make_child(), period, group)
    services.cancel_enrolment(enrolment=enrolment, actor=agent, channel=Channel.STAFF)
    with pytest.raises(EnrolmentError):
        services.cancel_enrolment(enrolment=enrolment, actor=agent, channel=Channel.STAFF)


def test_move_to_group_respects_target_capacity(agent):
    activity, period, group = make_offer(capacity=2)
    full = GroupFactory(activity=activity, capacity=1)
    request(make_child(), period, full)
    enrolment = request(make_child(), period, group)
    with pytest.raises(EnrolmentError) as caught:
        services.move_to_group(enrolment=enrolment, group=full, actor=agent)
    assert caught.value.code == "group_full"
    enrolment.refresh_from_db()
    assert enrolment.group == group


def test_move_to_group_respects_target_band(agent):
    activity, period, group = make_offer(capacity=2)
    older = GroupFactory(activity=activity, min_age=15)
    enrolment = request(make_child(), period, group)
    with pytest.raises(EnrolmentError) as caught:
        services.move_to_group(enrolment=enrolment, group=older, actor=agent)
    assert caught.value.code == "too_young"


def test_move_to_group_frees_the_old_place_for_its_waiting_list(agent, django_capture_on_commit_callbacks):
    activity, period, group = make_offer(capacity=1)
    roomy = GroupFactory(activity=activity, capacity=5)
    mover = request(make_child(), period, group)
    waiting = request(make_child(), period, group)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.move_to_group(enrolment=mover, group=roomy, actor=agent)
    mover.refresh_from_db()
    waiting.refresh_from_db()
    assert (mover.group, mover.status) == (roomy, EnrolmentStatus.VALIDATED)
    assert waiting.status == EnrolmentStatus.OFFERED
    assert LogEntry.objects.get(action="enrolment.group_changed").before["group"] == group.pk
    assert any(m.subject.startswith("Changement de groupe") for m in mail.outbox)


def test_moving_a_waiting_entry_to_a_group_with_room_offers_it_a_place(agent):
    activity, period, group = make_offer(capacity=0)
    roomy = GroupFactory(activity=activity, capacity=1)
    waiting = request(make_child(), period, group)
    services.move_to_group(enrolment=waiting, group=roomy, actor=agent)
    waiting.refresh_from_db()
    assert (waiting.group, waiting.status) == (roomy, EnrolmentStatus.OFFERED)


def test_move_to_a_group_of_another_activity_is_refused(agent):
    _, period, group = make_offer()
    enrolment = request(make_child(), period, group)
    with pytest.raises(EnrolmentError) as caught:
        services.move_to_group(enrolment=enrolment, group=GroupFactory(), actor=agent)
    assert caught.value.code == "other_activity_group"


def test_raise_capacity_offers_the_new_places_in_order(agent):
    _, period, group = make_offer(capacity=1)
    request(make_child(), period, group)
    waiting = [request(make_child(), period, group) for _ in range(3)]
    offers = services.raise_capacity(group=group, new_capacity=3, actor=agent)
    assert [o.pk for o in offers] == [waiting[0].pk, waiting[1].pk]
    group.refresh_from_db()
    assert group.capacity == 3
    assert Enrolment.objects.get(pk=waiting[2].pk).status == EnrolmentStatus.WAITING
    entry = LogEntry.objects.get(action="group.capacity_changed")
    assert (entry.before, entry.after) == ({"capacity": 1}, {"capacity": 3})


def test_capacity_cannot_go_below_the_places_held(agent):
    _, period, group = make_offer(capacity=3)
    request(make_child(), period, group)
    request(make_child(), period, group)
    with pytest.raises(EnrolmentError) as caught:
        services.raise_capacity(group=group, new_capacity=1, actor=agent)
    assert caught.value.code == "capacity_below_held"
    group.refresh_from_db()
    assert group.capacity == 3


def test_reorder_waiting_list_is_audited_and_changes_the_offer_order(agent):
    _, period, group = make_offer(capacity=1)
    holder = request(make_child(), period, group)
    a, b, c = (request(make_child(), period, group) for _ in range(3))
    services.reorder_waiting_list(period=period, group=group, ordered_ids=[c.pk, a.pk, b.pk], actor=agent)
    assert [e.pk for e in waiting_list(group=group, period=period)] == [c.pk, a.pk, b.pk]
    assert [waiting_rank(Enrolment.objects.get(pk=e.pk)) for e in (a, b, c)] == [2, 3, 1]
    entry = LogEntry.objects.get(action="enrolment.waiting_list_reordered")
    assert (entry.actor, entry.before["order"], entry.after["order"]) == (agent, [a.pk, b.pk, c.pk], [c.pk, a.pk, b.pk])
    services.cancel_enrolment(enrolment=holder, actor=agent, channel=Channel.STAFF)
    assert Enrolment.objects.get(pk=c.pk).status == EnrolmentStatus.OFFERED


def test_reorder_with_a_stale_list_saves_nothing(agent):
    _, period, group = make_offer(capacity=0)
    a, b = request(make_child(), period, group), request(make_child(), period, group)
    with pytest.raises(EnrolmentError) as caught:
        services.reorder_waiting_list(period=period, group=group, ordered_ids=[b.pk], actor=agent)
    assert caught.value.code == "waiting_list_changed"
    assert not Enrolment.objects.filter(waiting_position__isnull=False).exists()
    assert [e.pk for e in waiting_list(group=group, period=period)] == [a.pk, b.pk]


def test_bulk_validate_reports_failures_without_undoing_successes(agent):
    _, period, group = make_offer(validation_mode=MANUAL, capacity=2)
    ok1, ok2 = request(make_child(), period, group), request(make_child(), period, group)
    waiting = request(make_child(), period, group)
    result = services.bulk_validate(enrolments=[ok1, waiting, ok2], actor=agent)
    assert [e.pk for e in result.done] == [ok1.pk, ok2.pk]
    assert [(e.pk, "liste d'attente" in msg) for e, msg in result.failed] == [(waiting.pk, True)]
    assert set(Enrolment.objects.values_list("status", flat=True)) == {
        EnrolmentStatus.VALIDATED,
        EnrolmentStatus.WAITING,
    }


def test_bulk_refuse_requires_one_reason_for_all(agent):
    _, period, group = make_offer(validation_mode=MANUAL, capacity=2)
    enrolments = [request(make_child(), period, group) for _ in range(2)]
    with pytest.raises(EnrolmentError):
        services.bulk_refuse(enrolments=enrolments, actor=agent, reason="")
    result = services.bulk_refuse(enrolments=enrolments, actor=agent, reason="Groupe fermé")
    assert len(result.done) == 2 and result.failed == []
    assert set(Enrolment.objects.values_list("refusal_reason", flat=True)) == {"Groupe fermé"}


def test_duplicate_enrolment_to_a_sibling_copies_memo_and_weekly_pattern(agent):
    activity, period, group = make_offer(capacity=5)
    unit = UnitFactory(activity=activity)
    child = make_child()
    sibling = make_child(household=child.household)
    original = request(child, period, group, memo="Mange sans porc", weekly_pattern=[(2, unit)])
    copy = services.duplicate_enrolment(enrolment=original, child=sibling, actor=agent, channel=Channel.STAFF)
    assert (copy.child, copy.group, copy.period, copy.memo) == (sibling, group, period, "Mange sans porc")
    assert list(WeeklyPattern.objects.filter(enrolment=copy).values_list("weekday", "unit")) == [(2, unit.pk)]
    assert copy.reference != original.reference


def test_duplicate_enrolment_to_another_period_goes_through_the_rules(agent):
    activity, period, group = make_offer(capacity=1)
    next_period = PeriodFactory(activity=activity, name="Trimestre 2")
    child = make_child()
    original = request(child, period, group)
    request(make_child(), next_period, group)  # fills the next period
    copy = services.duplicate_enrolment(enrolment=original, period=next_period, actor=agent, channel=Channel.WEB)
    assert (copy.period, copy.status) == (next_period, EnrolmentStatus.WAITING)
    with pytest.raises(EnrolmentError) as caught:
        services.duplicate_enrolment(enrolment=original, actor=agent, channel=Channel.WEB)
    assert caught.value.code == "duplicate_nothing_changes"
