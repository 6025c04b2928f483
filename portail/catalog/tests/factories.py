"""Catalog-specific factories (the shared ones live in tests/factories.py)."""

import datetime as dt

import factory

from portail.catalog import models as catalog
from portail.organisations.models import Closure
from tests.factories import TownFactory, UnitFactory


class BookingDeadlineRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.BookingDeadlineRule

    name = "Vendredi midi"
    kind = catalog.DeadlineKind.PREVIOUS_WEEK_DAY
    days = 0
    at_time = dt.time(12, 0)
    weekday = 4
    skip_public_holidays = True
    skip_school_holidays = False


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Session

    unit = factory.SubFactory(UnitFactory)
    date = dt.date(2026, 10, 7)


class ClosureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Closure

    town = factory.SubFactory(TownFactory)
    label = "Pont"
    start_date = dt.date(2026, 11, 4)
    end_date = dt.date(2026, 11, 4)
