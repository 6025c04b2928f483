"""request_enrolment: outcome per activity rules, eligibility, weekly pattern, audit, e-mails."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.db import IntegrityError

from portail.catalog.models import Activity
from portail.core.models import Channel, LogEntry
from portail.enrolments.errors import EnrolmentError
from portail.enrolments.models import Enrolment, EnrolmentStatus, WeeklyPattern
from portail.enrolments.selectors import remaining_places
from tests.factories import GroupFactory, UnitFactory

from .factories import EnrolmentFactory, family_user, make_child, make_offer, request

pytestmark = pytest.mark.django_db

MANUAL = Activity.ValidationMode.MANUAL
AUTO = Activity.ValidationMode.AUTO


def test_automatic_validation_validates_while_places_are_free():
    _, period, group = make_offer(validation_mode=AUTO, capacity=1)
    enrolment = request(make_child(), period, group)
    assert enrolment.status == EnrolmentStatus.VALIDATED
    assert enrolment.marker == "V"
    assert remaining_places(group=group, period=period) == 0


def test_manual_validation_makes_a_request_that_holds_a_place():
    _, period, group = make_offer(validation_mode=MANUAL, capacity=1)
    enrolment = request(make_child(), period, group)
    assert enrolment.status == EnrolmentStatus.REQUESTED
    assert enrolment.marker == "?"
    assert remaining_places(group=group, period=period) == 0
    # The next family waits even though nothing is validated yet.
    assert request(make_child(), period, group).status == EnrolmentStatus.WAITING


def test_pre_enrolment_holds_no_place():
    _, period, group = make_offer(pre_enrolment=True, capacity=1)
    first = request(make_child(), period, group)
    second = request(make_child(), period, group)
    assert [first.status, second.status] == [EnrolmentStatus.PRE_ENROLMENT] * 2
    assert first.marker == "!"
    assert remaining_places(group=group, period=period) == 1


def test_request_stores_memo_channel_author_reference_and_arrival_time():
    _, period, group = make_offer()
    child = make_child()
    now = dt.datetime(2026, 5, 2, 9, 30, tzinfo=dt.UTC)
    period.enrolment_opens_at, period.enrolment_closes_at = now - dt.timedelta(days=1), now + dt.timedelta(days=1)
    period.save()
    guardian_user = family_user(child)
    enrolment = request(child, period, group, now=now, actor=guardian_user, memo="  Allergie au pollen.  ")
    enrolment.refresh_from_db()
    assert enrolment.memo == "Allergie au pollen."
    assert enrolment.channel == Channel.WEB
    assert enrolment.created_by == guardian_user
    assert enrolment.created_at == now
    assert re.fullmatch(r"INS-2026-\d{6}", enrolment.reference)
    assert enrolment.reference == f"INS-2026-{enrolment.pk:06d}"


def test_ineligible_request_is_refused_with_reasons_and_saves_nothing():
    _, period, group = make_offer()
    group.min_age, group.max_age = 12, 14
    group.save()
    child = make_child(first_name="Léa")
    with pytest.raises(EnrolmentError) as caught:
        request(child, period, group)
    assert caught.value.code == "too_young"
    assert "Léa aura" in caught.value.message
    assert [r.code for r in caught.value.refusals] == ["too_young"]
    assert not Enrolment.objects.exists()
    assert not LogEntry.objects.filter(action__startswith="enrolment").exists()
    assert mail.outbox == []


def test_same_child_cannot_hold_two_live_enrolments_for_the_same_activity_and_period():
    activity, period, group = make_offer(capacity=5)
    other_group = GroupFactory(activity=activity)
    child = make_child()
    request(child, period, group)
    with pytest.raises(EnrolmentError) as caught:
        request(child, period, other_group)
    assert caught.value.code == "already_enrolled"
    assert Enrolment.objects.count() == 1


def test_database_constraint_backs_the_one_live_enrolment_rule():
    _, period, group = make_offer()
    child = make_child()
    EnrolmentFactory(child=child, group=group, period=period, status=EnrolmentStatus.WAITING)
    with pytest.raises(IntegrityError):
        EnrolmentFactory(child=child, group=group, period=period, status=EnrolmentStatus.REQUESTED)


def test_a_refused_enrolment_does_not_block_a_new_request():
    _, period, group = make_offer()
    child = make_child()
    EnrolmentFactory(child=child, group=group, period=period, status=EnrolmentStatus.REFUSED, refusal_reason="x")
    assert request(child, period, group).status == EnrolmentStatus.VALIDATED


def test_weekly_pattern_is_stored_with_the_enrolment():
    activity, period, group = make_offer()
    morning = UnitFactory(activity=activity, name="Matin")
    day = UnitFactory(activity=activity, name="Journée")
    enrolment = request(make_child(), period, group, weekly_pattern=[(2, morning), (2, day.pk), (4, day)])
    assert sorted(WeeklyPattern.objects.filter(enrolment=enrolment).values_list("weekday", "unit_id")) == [
        (2, morning.pk),
        (2, day.pk),
        (4, day.pk),
    ]


@pytest.mark.parametrize("bad_line", [(7, None), (-1, None), (2, "foreign")])
def test_weekly_pattern_with_a_bad_day_or_foreign_unit_is_refused(bad_line):
    activity, period, group = make_offer()
    unit = UnitFactory(activity=activity)
    day, which = bad_line
    line = (day, UnitFactory().pk) if which == "foreign" else (day, unit.pk)
    with pytest.raises(EnrolmentError) as caught:
        request(make_child(), period, group, weekly_pattern=[line])
    assert caught.value.code == "bad_weekly_pattern"
    assert not Enrolment.objects.exists()


def test_request_is_audited_with_channel_and_household():
    _, period, group = make_offer()
    child = make_child()
    enrolment = request(child, period, group, channel=Channel.STAFF)
    entry = LogEntry.objects.get(action="enrolment.requested")
    assert entry.object_id == str(enrolment.pk)
    assert entry.household == child.household
    assert entry.channel == Channel.STAFF
    assert entry.after["status"] == EnrolmentStatus.VALIDATED


@pytest.mark.parametrize(
    ("mode", "capacity", "pre", "subject_start"),
    [
        (AUTO, 1, False, "Inscription validée"),
        (MANUAL, 1, False, "Demande d'inscription reçue"),
        (AUTO, 0, False, "Inscription en liste d'attente"),
        (AUTO, 1, True, "Pré-inscription enregistrée"),
    ],
)
def test_family_is_emailed_after_commit_for_each_outcome(
    django_capture_on_commit_callbacks, mode, capacity, pre, subject_start
):
    _, period, group = make_offer(validation_mode=mode, capacity=capacity, pre_enrolment=pre)
    child = make_child(first_name="Noah")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        request(child, period, group)
    assert len(callbacks) == 1
    [message] = mail.outbox
    assert message.subject.startswith(subject_start)
    assert "Noah" in message.subject
    assert message.to == [child.household.guardians.get().email]
    assert "&#x27;" not in message.body


def test_waiting_email_gives_the_rank(django_capture_on_commit_callbacks):
    _, period, group = make_offer(capacity=0)
    with django_capture_on_commit_callbacks(execute=True):
        request(make_child(), period, group)
        request(make_child(), period, group)
    assert "(rang 2)" in mail.outbox[1].body


def test_no_email_when_the_request_is_refused(django_capture_on_commit_callbacks):
    _, period, group = make_offer()
    child = make_child()
    request(child, period, group)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(EnrolmentError):
        request(child, period, group)
    assert callbacks == []
