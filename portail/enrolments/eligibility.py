"""The one eligibility rule. Services, family forms, staff pages and the API all call
`check_eligibility`; nothing else decides who may enrol in which group.
"""

from dataclasses import dataclass

from django.utils import timezone
from django.utils.formats import date_format

from portail.households.models import HouseholdStatus, SchoolLevel

from .models import LIVE_STATUSES, Enrolment


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


def _when(moment) -> str:
    local = timezone.localtime(moment)
    return f"{date_format(local, 'd/m/Y')} à {local:%H:%M}"


def age_band_label(group) -> str:
    if group.min_age is not None and group.max_age is not None:
        return f"de {group.min_age} à {group.max_age} ans"
    if group.min_age is not None:
        return f"à partir de {group.min_age} ans"
    if group.max_age is not None:
        return f"jusqu'à {group.max_age} ans"
    return "sans condition d'âge"


def level_band_label(group) -> str:
    low, high = group.get_min_school_level_display(), group.get_max_school_level_display()
    if group.min_school_level and group.max_school_level:
        return f"de la classe {low} à la classe {high}" if low != high else f"en classe {low}"
    if group.min_school_level:
        return f"à partir de la classe {low}"
    if group.max_school_level:
        return f"jusqu'à la classe {high}"
    return "sans condition de classe"


def check_window(*, period, now) -> list[Refusal]:
    """The enrolment window is open from `enrolment_opens_at` (included) to `enrolment_closes_at`
    (excluded), like the catalog's "ouvertes / à venir / closes" wording."""
    if now < period.enrolment_opens_at:
        return [Refusal("window_not_open", f"Les inscriptions ouvrent le {_when(period.enrolment_opens_at)}.")]
    if now >= period.enrolment_closes_at:
        return [
            Refusal("window_closed", f"Les inscriptions sont closes depuis le {_when(period.enrolment_closes_at)}.")
        ]
    return []


def check_group_band(*, child, period, group) -> list[Refusal]:
    """Age (whole years on the period's first day, bounds included) and school-level band."""
    refusals = []
    name = child.first_name
    if group.min_age is not None or group.max_age is not None:
        age = child.age_on(period.start_date)
        too_young = group.min_age is not None and age < group.min_age
        too_old = group.max_age is not None and age > group.max_age
        if too_young or too_old:
            refusals.append(
                Refusal(
                    "too_young" if too_young else "too_old",
                    f"{name} aura {age} an{'s' if age > 1 else ''} le {date_format(period.start_date, 'd/m/Y')} : "
                    f"le groupe « {group.name} » accueille les enfants {age_band_label(group)}.",
                )
            )
    if group.min_school_level or group.max_school_level:
        band = level_band_label(group)
        if not child.school_level:
            refusals.append(
                Refusal(
                    "no_school_level",
                    f"Le groupe « {group.name} » accueille les enfants {band} ; "
                    f"la classe de {name} n'est pas renseignée dans votre dossier.",
                )
            )
        else:
            rank = SchoolLevel.rank(child.school_level)
            low = SchoolLevel.rank(group.min_school_level) if group.min_school_level else None
            high = SchoolLevel.rank(group.max_school_level) if group.max_school_level else None
            if (low is not None and rank < low) or (high is not None and rank > high):
                refusals.append(
                    Refusal(
                        "level_out_of_band",
                        f"{name} est en classe {child.get_school_level_display()} : "
                        f"le groupe « {group.name} » accueille les enfants {band}.",
                    )
                )
    return refusals


def check_eligibility(
    *, child, period, group, now, check_window_dates: bool = True, exclude_enrolment=None
) -> list["Refusal"]:
    """Every reason why `child` may not enrol in `group` for `period` at `now`; empty = eligible.

    `check_window_dates=False` and `exclude_enrolment` serve staff moves between groups of an
    enrolment that already exists (after the window, and without counting itself as a duplicate).
    """
    refusals: list[Refusal] = []
    if check_window_dates:
        refusals += check_window(period=period, now=now)
    if group.activity_id != period.activity_id:
        refusals.append(Refusal("group_mismatch", f"Le groupe « {group.name} » ne fait pas partie de cette activité."))
    else:
        refusals += check_group_band(child=child, period=period, group=group)
    if not child.is_active:
        refusals.append(Refusal("child_inactive", f"Le dossier de {child.first_name} n'est plus actif."))
    if child.household.status != HouseholdStatus.ACTIVE:
        refusals.append(
            Refusal(
                "household_inactive", "Votre dossier famille doit être validé par le service avant toute inscription."
            )
        )
    duplicates = Enrolment.objects.filter(
        child=child, activity_id=period.activity_id, period=period, status__in=LIVE_STATUSES
    )
    if exclude_enrolment is not None:
        duplicates = duplicates.exclude(pk=exclude_enrolment.pk)
    if duplicates.exists():
        refusals.append(
            Refusal(
                "already_enrolled",
                f"{child.first_name} a déjà une inscription en cours pour cette activité et cette période.",
            )
        )
    return refusals
