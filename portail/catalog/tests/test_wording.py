"""The catalog in words: deadline rules, age and class bands, prices. Pure: unsaved instances only."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from portail.catalog.deadlines import describe_rule, describe_rule_skips, format_hour
from portail.catalog.models import BookingDeadlineRule, Group, Period, Unit
from portail.catalog.wording import describe_group_band, describe_unit, enrolment_status, format_euros


@pytest.mark.parametrize(
    "kind,days,at,weekday,expected",
    [
        ("working_days_before", 2, time(10), None, "2 jours ouvrés avant à 10 h"),
        ("working_days_before", 1, time(10), None, "1 jour ouvré avant à 10 h"),
        ("working_days_before", 0, time(9), None, "le jour même à 9 h"),
        ("days_before", 1, time(18), None, "la veille à 18 h"),
        ("days_before", 0, time(9, 30), None, "le jour même à 9 h 30"),
        ("days_before", 3, time(8, 5), None, "3 jours avant à 8 h 05"),
        ("days_before", 1, time(0), None, "la veille à minuit"),
        ("previous_week_day", 0, time(12), 4, "vendredi 12 h pour la semaine suivante"),
        ("previous_week_day", 0, time(17, 30), 2, "mercredi 17 h 30 pour la semaine suivante"),
        ("previous_week_day", 0, time(12), 0, "lundi 12 h pour la semaine suivante"),
    ],
)
def test_rule_described_in_french(kind, days, at, weekday, expected):
    rule = BookingDeadlineRule(name="Règle", kind=kind, days=days, at_time=at, weekday=weekday)
    assert describe_rule(rule) == expected


@pytest.mark.parametrize(
    "public,school,expected",
    [
        (True, False, "jours fériés exclus"),
        (True, True, "jours fériés et vacances scolaires exclus"),
        (False, True, "vacances scolaires exclus"),
        (False, False, ""),
    ],
)
def test_rule_skips_described(public, school, expected):
    rule = BookingDeadlineRule(skip_public_holidays=public, skip_school_holidays=school)
    assert describe_rule_skips(rule) == expected


@pytest.mark.parametrize("value,expected", [(time(12), "12 h"), (time(8, 30), "8 h 30"), (None, "")])
def test_hour_format(value, expected):
    assert format_hour(value) == expected


@pytest.mark.parametrize(
    "fields,expected",
    [
        ({"min_age": 7, "max_age": 11}, "7 à 11 ans"),
        ({"min_age": 3, "max_age": 3}, "3 ans"),
        ({"min_age": 6}, "à partir de 6 ans"),
        ({"max_age": 1}, "jusqu'à 1 an"),
        ({"min_school_level": "CP", "max_school_level": "CM2"}, "du CP au CM2"),
        ({"min_school_level": "PS", "max_school_level": "GS"}, "de la petite section à la grande section"),
        ({"min_school_level": "CE1", "max_school_level": "CE1"}, "en CE1"),
        ({"min_school_level": "CP"}, "à partir du CP"),
        ({"max_school_level": "CM2"}, "jusqu'au CM2"),
        ({"max_school_level": "6E"}, "jusqu'à la 6e"),
        (
            {"min_age": 7, "max_age": 11, "min_school_level": "CP", "max_school_level": "CM2"},
            "7 à 11 ans, du CP au CM2",
        ),
        ({}, "sans restriction"),
    ],
)
def test_group_band_in_words(fields, expected):
    assert describe_group_band(Group(name="G", **fields)) == expected


@pytest.mark.parametrize(
    "cents,expected", [(400, "4,00 €"), (1050, "10,50 €"), (0, "0,00 €"), (123456, "1 234,56 €"), (-250, "-2,50 €")]
)
def test_euros(cents, expected):
    assert format_euros(cents) == expected


@pytest.mark.parametrize(
    "fields,expected",
    [
        (
            {"name": "Matin", "start_time": time(8, 30), "end_time": time(12), "price_cents": 400},
            "Matin 8 h 30 – 12 h : 4,00 €",
        ),
        ({"name": "Repas", "price_cents": 350}, "Repas : 3,50 €"),
        ({"name": "Soir", "start_time": time(16, 30), "end_time": time(18, 30)}, "Soir 16 h 30 – 18 h 30"),
    ],
)
def test_unit_line(fields, expected):
    assert describe_unit(Unit(**fields)) == expected


def test_enrolment_status_follows_the_window():
    now = timezone.now()
    period = Period(enrolment_opens_at=now - timedelta(days=1), enrolment_closes_at=now + timedelta(days=1))
    assert enrolment_status(period, now) == "ouvertes"
    assert enrolment_status(period, now - timedelta(days=2)) == "à venir"
    assert enrolment_status(period, period.enrolment_closes_at) == "closes"
