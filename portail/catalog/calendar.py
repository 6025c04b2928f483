"""The calendar of sessions ("séances"): generating the opening dates of a unit, cancelling one."""

from datetime import date, timedelta

from django.db import transaction

from portail.core.audit import Channel, log_action
from portail.core.errors import BusinessError
from portail.organisations.holidays import closure_days, public_holidays, school_holidays

from .models import Session

# A school year plus summer; longer ranges are almost always a typo in a year.
MAX_GENERATION_DAYS = 731


def opening_dates(
    *,
    start: date,
    end: date,
    weekdays: set[int],
    town,
    skip_public_holidays: bool = True,
    skip_school_holidays: bool = False,
    only_school_holidays: bool = False,
) -> list[date]:
    """The dates a unit would open between start and end (inclusive), closures always excluded."""
    if end < start:
        raise BusinessError("La date de fin doit être égale ou postérieure à la date de début.")
    if (end - start).days > MAX_GENERATION_DAYS:
        raise BusinessError("La plage de dates ne peut pas dépasser deux ans.")
    weekdays = {int(d) for d in weekdays}
    if not weekdays or not weekdays <= set(range(7)):
        raise BusinessError("Choisissez au moins un jour de la semaine.")
    if skip_school_holidays and only_school_holidays:
        raise BusinessError(
            "Choisissez soit « sauter les vacances scolaires », soit « uniquement pendant les vacances »."
        )
    zone = getattr(town, "school_holiday_zone", "") or "A"
    subdivision = getattr(town, "holiday_subdivision", "") or ""
    excluded = closure_days(town, start, end)
    if skip_public_holidays:
        excluded |= public_holidays(range(start.year, end.year + 1), subdivision)
    school = school_holidays(start, end, zone) if (skip_school_holidays or only_school_holidays) else set()

    dates = []
    day = start
    while day <= end:
        if day.weekday() in weekdays and day not in excluded:
            in_holidays = day in school
            if not (skip_school_holidays and in_holidays) and not (only_school_holidays and not in_holidays):
                dates.append(day)
        day += timedelta(days=1)
    return dates


def generate_sessions(
    *,
    unit,
    start: date,
    end: date,
    weekdays: set[int],
    town=None,
    skip_public_holidays: bool = True,
    skip_school_holidays: bool = False,
    only_school_holidays: bool = False,
    actor=None,
) -> int:
    """Create the sessions of `unit` on the chosen weekdays between start and end; returns how many.

    Idempotent: dates that already have a session (even a cancelled one, which stays cancelled) are
    left alone, so running it twice creates nothing new. Closure days are always skipped.
    `only_school_holidays` is for holiday leisure centres, open only during school holidays.
    """
    if town is None:
        town = unit.activity.facility.town
    dates = opening_dates(
        start=start,
        end=end,
        weekdays=weekdays,
        town=town,
        skip_public_holidays=skip_public_holidays,
        skip_school_holidays=skip_school_holidays,
        only_school_holidays=only_school_holidays,
    )
    with transaction.atomic():
        in_range = Session.objects.filter(unit=unit, date__range=(start, end))
        existing = set(in_range.values_list("date", flat=True))
        before = len(existing)
        # ignore_conflicts covers a concurrent run; the count below stays exact either way.
        Session.objects.bulk_create(
            [Session(unit=unit, date=day) for day in dates if day not in existing], ignore_conflicts=True
        )
        created = in_range.count() - before
        if created:
            log_action(
                actor=actor,
                channel=Channel.STAFF if actor is not None else Channel.SYSTEM,
                action="catalog.sessions_generated",
                obj=unit,
                after={
                    "start": start,
                    "end": end,
                    "weekdays": sorted(int(d) for d in weekdays),
                    "skip_public_holidays": skip_public_holidays,
                    "skip_school_holidays": skip_school_holidays,
                    "only_school_holidays": only_school_holidays,
                    "created": created,
                },
                message=f"{created} séance(s) créée(s) du {start:%d/%m/%Y} au {end:%d/%m/%Y}.",
            )
    return created


def _set_cancelled(*, session, actor, cancelled: bool, reason: str = "") -> Session:
    with transaction.atomic():
        locked = Session.objects.select_for_update(of=("self",)).select_related("unit").get(pk=session.pk)
        if locked.is_cancelled == cancelled:
            raise BusinessError("Cette séance est déjà annulée." if cancelled else "Cette séance n'est pas annulée.")
        locked.is_cancelled = cancelled
        locked.save(update_fields=["is_cancelled"])
        log_action(
            actor=actor,
            channel=Channel.STAFF,
            action="catalog.session_cancelled" if cancelled else "catalog.session_reopened",
            obj=locked,
            before={"is_cancelled": not cancelled},
            after={"is_cancelled": cancelled},
            message=reason,
        )
    session.is_cancelled = cancelled
    return locked


def cancel_session(*, session, actor, reason: str = "") -> Session:
    """Close one date of a unit (strike, outing, closure decided late). Bookings are left to their app."""
    return _set_cancelled(session=session, actor=actor, cancelled=True, reason=reason)


def reopen_session(*, session, actor, reason: str = "") -> Session:
    return _set_cancelled(session=session, actor=actor, cancelled=False, reason=reason)
