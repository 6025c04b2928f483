"""Catalog objects in the words families read: age bands, class bands, unit times and prices."""

from django.utils import timezone

from portail.households.models import SchoolLevel

from .deadlines import format_hour

# Elementary classes take "le" (du CP, au CM2); sections and collège classes take "la".
_MASCULINE_LEVELS = {"CP", "CE1", "CE2", "CM1", "CM2"}


def _level_label(value: str) -> str:
    label = str(SchoolLevel(value).label)
    return label if value in _MASCULINE_LEVELS else label[0].lower() + label[1:]


def _from_level(value: str) -> str:
    return f"du {_level_label(value)}" if value in _MASCULINE_LEVELS else f"de la {_level_label(value)}"


def _to_level(value: str) -> str:
    return f"au {_level_label(value)}" if value in _MASCULINE_LEVELS else f"à la {_level_label(value)}"


def _years(n: int) -> str:
    return f"{n} an" if n <= 1 else f"{n} ans"


def describe_age_band(min_age: int | None, max_age: int | None) -> str:
    if min_age is not None and max_age is not None:
        return _years(min_age) if min_age == max_age else f"{min_age} à {_years(max_age)}"
    if min_age is not None:
        return f"à partir de {_years(min_age)}"
    if max_age is not None:
        return f"jusqu'à {_years(max_age)}"
    return ""


def describe_level_band(min_level: str, max_level: str) -> str:
    if min_level and max_level:
        if min_level == max_level:
            return f"en {_level_label(min_level)}"
        return f"{_from_level(min_level)} {_to_level(max_level)}"
    if min_level:
        return f"à partir {_from_level(min_level)}"  # à partir du CP / de la petite section
    if max_level:
        return f"jusqu'{_to_level(max_level)}"  # jusqu'au CM2 / jusqu'à la 6e
    return ""


def describe_group_band(group) -> str:
    """ "7 à 11 ans", "du CP au CM2", "7 à 11 ans, du CP au CM2" or "sans restriction"."""
    parts = [
        describe_age_band(group.min_age, group.max_age),
        describe_level_band(group.min_school_level, group.max_school_level),
    ]
    return ", ".join(p for p in parts if p) or "sans restriction"


def format_euros(cents: int | None) -> str:
    """Integer cents as French money: 400 -> "4,00 €", 123456 -> "1 234,56 €"."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(int(cents)), 100)
    return f"{sign}{euros:,}".replace(",", " ") + f",{rest:02d} €"


def describe_unit_times(unit) -> str:
    if unit.start_time and unit.end_time:
        return f"{format_hour(unit.start_time)} – {format_hour(unit.end_time)}"
    if unit.start_time:
        return f"à partir de {format_hour(unit.start_time)}"
    return ""


def describe_unit(unit) -> str:
    """ "Matin 8 h 30 – 12 h : 4,00 €" (the price only when set)."""
    text = " ".join(p for p in (unit.name, describe_unit_times(unit)) if p)
    if unit.price_cents:
        text += f" : {format_euros(unit.price_cents)}"
    return text


def enrolment_status(period, now=None) -> str:
    """Where a period's enrolment window stands: "ouvertes", "à venir" or "closes"."""
    now = now or timezone.now()
    if now < period.enrolment_opens_at:
        return "à venir"
    if now < period.enrolment_closes_at:
        return "ouvertes"
    return "closes"
