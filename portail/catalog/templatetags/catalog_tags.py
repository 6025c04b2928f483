"""Template filters for the catalog: {% load catalog_tags %}."""

from django import template

from portail.catalog import deadlines, wording

register = template.Library()


@register.filter
def euros(cents):
    """400 -> "4,00 €"."""
    return wording.format_euros(cents)


@register.filter
def hour(value):
    """time(8, 30) -> "8 h 30"."""
    return deadlines.format_hour(value)


@register.filter
def group_band(group):
    return wording.describe_group_band(group)


@register.filter
def unit_line(unit):
    return wording.describe_unit(unit)


@register.filter
def unit_times(unit):
    return wording.describe_unit_times(unit)


@register.filter
def rule_words(rule):
    return deadlines.describe_rule(rule) if rule else ""


@register.filter
def rule_skips(rule):
    return deadlines.describe_rule_skips(rule) if rule else ""


@register.filter
def enrolment_status(period):
    return wording.enrolment_status(period)
