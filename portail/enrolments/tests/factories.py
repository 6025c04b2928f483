"""Enrolment test helpers, on top of the shared factories in tests/factories.py."""

import datetime as dt

import factory
from django.utils import timezone

from portail.catalog.models import Activity
from portail.core.models import Channel
from portail.enrolments.models import Enrolment, EnrolmentStatus
from tests.factories import (
    ActivityFactory,
    ChildFactory,
    GroupFactory,
    GuardianFactory,
    HouseholdFactory,
    PeriodFactory,
    StaffFactory,
    UserFactory,
)

# A fixed clock: inside the default factory window (opened 30 days before the real now).
NOW = timezone.now().replace(microsecond=0)


def make_offer(
    *,
    validation_mode=Activity.ValidationMode.AUTO,
    capacity=2,
    activity_capacity=None,
    pre_enrolment=False,
    priority=Activity.WaitingListPriority.ARRIVAL,
    offer_delay_hours=48,
):
    """An activity with one period and one group; returns (activity, period, group)."""
    activity = ActivityFactory(
        validation_mode=validation_mode,
        capacity=activity_capacity,
        requires_pre_enrolment=pre_enrolment,
        waiting_list_priority=priority,
        offer_delay_hours=offer_delay_hours,
    )
    period = PeriodFactory(activity=activity)
    group = GroupFactory(activity=activity, capacity=capacity)
    return activity, period, group


def make_child(household=None, **child_kwargs):
    """A child in a new active household whose payer guardian has an e-mail address
    (or in `household`, for a sibling)."""
    if household is None:
        # No login account: hashing a password per family would dominate the test time.
        household = HouseholdFactory()
        guardian = GuardianFactory(household=household, user=None)
        child_kwargs.setdefault("last_name", guardian.last_name)
    return ChildFactory(household=household, **child_kwargs)


def request(child, period, group, *, now=None, actor=None, **kwargs):
    from portail.enrolments.services import request_enrolment

    return request_enrolment(
        child=child,
        period=period,
        group=group,
        actor=actor,
        channel=kwargs.pop("channel", Channel.WEB),
        now=now or timezone.now(),
        **kwargs,
    )


def family_user(child):
    """Give the child's payer guardian a login account and return it."""
    guardian = child.household.guardians.get(is_payer=True)
    guardian.user = UserFactory(email=guardian.email)
    guardian.save(update_fields=["user"])
    return guardian.user


def staff():
    return StaffFactory(role="Gestionnaire")


class EnrolmentFactory(factory.django.DjangoModelFactory):
    """A bare enrolment row (no service, no lock): for selectors and fixtures only."""

    class Meta:
        model = Enrolment

    child = factory.SubFactory(ChildFactory)
    group = factory.SubFactory(GroupFactory)
    activity = factory.SelfAttribute("group.activity")
    period = factory.SubFactory(PeriodFactory, activity=factory.SelfAttribute("..group.activity"))
    status = EnrolmentStatus.VALIDATED
    created_at = factory.LazyFunction(timezone.now)
    waiting_since = factory.LazyAttribute(lambda o: o.created_at if o.status == EnrolmentStatus.WAITING else None)
    offer_expires_at = factory.LazyAttribute(
        lambda o: o.created_at + dt.timedelta(hours=48) if o.status == EnrolmentStatus.OFFERED else None
    )
