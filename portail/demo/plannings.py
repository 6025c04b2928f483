"""The Martin household's enrolments, weekly patterns, bookings and one excused absence, so that the
demo planning and its "Historique" look alive (all fictional).

- Hugo (grande section, 5 ans au 1er septembre 2026): Pommiers mercredis (3-5 ans), périscolaire
  (Maternelle, semaine type : soir le mardi et le jeudi), cantine (École maternelle Les Lilas).
- Léa (CM1, 9 ans): périscolaire (Élémentaire) and cantine (École élémentaire Jules Ferry, semaine
  type : lundi, mardi, jeudi, vendredi). Léa is NOT enrolled in Pommiers mercredis: the enrolment
  browser test asks for that enrolment through the family form.

Bookings are written through the booking services with their historical instant, then the audit
entries are dated to that instant. `staff_book` is the basket-free door of the services: with the
guardian as actor and the web channel, the booking and its audit entry are those a validated basket
writes, without the recap e-mail (the demo must never mail its fictional addresses). For the same
reason the excused absence is written as rows, with the two audit entries the services would write.

Idempotent: a row is created only when missing (whatever its state since): a booking cancelled or an
enrolment changed by staff during a demo stays as they left it.
"""

from datetime import date, datetime

from portail.bookings import services as booking_services
from portail.bookings.errors import BookingError
from portail.bookings.models import Absence, AbsenceReason, AbsenceStatus, Booking
from portail.bookings.selectors import format_day
from portail.catalog.models import Group, Period, Session, Unit
from portail.core.audit import log_action
from portail.core.models import Channel, LogEntry
from portail.enrolments.models import Enrolment, EnrolmentStatus, WeeklyPattern
from portail.households.models import Child, Guardian

from .catalog import paris
from .upsert import Tally

MARTIN = "D000001"
MERCREDIS = "pommiers-mercredis-2026-2027"
PERISCOLAIRE = "accueil-periscolaire-2026-2027"
CANTINE = "restauration-scolaire-2026-2027"
VACANCES = "pommiers-vacances-2026-2027"
MONDAY, TUESDAY, THURSDAY, FRIDAY = 0, 1, 3, 4

# (child, activity, group, weekly pattern [(weekday, unit name)]); requested in June, validated by the Mairie.
ENROLMENTS = [
    ("Hugo", MERCREDIS, "3-5 ans", []),
    ("Hugo", PERISCOLAIRE, "Maternelle", [(TUESDAY, "Soir"), (THURSDAY, "Soir")]),
    ("Hugo", CANTINE, "École maternelle Les Lilas", []),
    ("Léa", PERISCOLAIRE, "Élémentaire", []),
    ("Léa", CANTINE, "École élémentaire Jules Ferry", [(d, "Repas") for d in (MONDAY, TUESDAY, THURSDAY, FRIDAY)]),
    # The holiday centre is paid at booking: the payment browser test pays two Christmas-holiday Wednesdays.
    ("Léa", VACANCES, "6-11 ans", []),
    ("Hugo", VACANCES, "3-5 ans", []),
]
# Enrolments are for the school year, except the holiday centre's (one period per holidays).
PERIOD_NAMES = {VACANCES: "Vacances de Noël 2026"}
# Christmas holiday enrolments were asked when their window opened (2 November), validated next day.
DATES = {VACANCES: (paris(2026, 11, 2, 19, 0), paris(2026, 11, 3, 9, 30))}
REQUESTED_AT = paris(2026, 6, 14, 20, 30)
VALIDATED_AT = paris(2026, 6, 22, 9, 15)

# The weekly patterns turned into bookings for November and December (until the Christmas holidays),
# booked on the web well before each deadline.
PATTERN_MONTHS = [
    (date(2026, 11, 1), date(2026, 11, 30), paris(2026, 10, 11, 20, 45)),
    (date(2026, 12, 1), date(2026, 12, 18), paris(2026, 11, 22, 21, 0)),
]
# Hugo's Wednesdays: (date, unit, booked at, by the Mairie?). The one of 18 November was booked by the
# Mairie after the "vendredi 12 h" deadline, at the family's request: the history says "hors délai".
WEDNESDAYS = [
    (date(2026, 10, 7), "Journée", paris(2026, 9, 20, 18, 10), False),
    (date(2026, 11, 4), "Journée", paris(2026, 10, 11, 20, 50), False),
    (date(2026, 11, 18), "Matin", paris(2026, 11, 16, 9, 30), True),
    (date(2026, 11, 25), "Journée", paris(2026, 11, 8, 19, 5), False),
]
# Léa's lunch of Friday 20 November cancelled on the web before its deadline.
CANCELLED = ("Léa", CANTINE, "Repas", date(2026, 11, 20), paris(2026, 11, 16, 7, 50))
# Hugo ill on Wednesday 25 November: declared on the web that morning, excused by the Mairie next day.
ABSENCE = {
    "child": "Hugo",
    "date": date(2026, 11, 25),
    "unit": "Journée",
    "reason": AbsenceReason.ILLNESS,
    "comment": "Gastro-entérite, certificat médical remis à l'accueil.",
    "declared_at": paris(2026, 11, 25, 7, 40),
    "decided_at": paris(2026, 11, 26, 10, 15),
    "decision_note": "Certificat médical présenté à l'accueil.",
}


def _dated(moment: datetime, write):
    """Run `write` and date the audit entries it wrote to `moment` (auto_now_add sets them to now)."""
    last = LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    result = write()
    LogEntry.objects.filter(pk__gt=last).update(created_at=moment)
    return result


def _ensure_enrolments(tally: Tally, children: dict, payer_user, manager) -> dict:
    enrolments = {}
    for first_name, slug, group_name, pattern in ENROLMENTS:
        child = children[first_name]
        group = Group.objects.select_related("activity").get(activity__slug=slug, name=group_name)
        period = Period.objects.get(activity=group.activity, name=PERIOD_NAMES.get(slug, "Année 2026-2027"))
        enrolment = Enrolment.objects.filter(child=child, activity=group.activity, period=period).order_by("pk").first()
        if enrolment is None:
            enrolment = Enrolment.objects.create(
                child=child,
                activity=group.activity,
                period=period,
                group=group,
                status=EnrolmentStatus.VALIDATED,
                channel=Channel.WEB,
                created_by=payer_user,
                created_at=DATES.get(slug, (REQUESTED_AT, VALIDATED_AT))[0],
                decided_by=manager,
                decided_at=DATES.get(slug, (REQUESTED_AT, VALIDATED_AT))[1],
            )
            enrolment.reference = f"INS-{REQUESTED_AT.year}-{enrolment.pk:06d}"
            enrolment.save(update_fields=["reference"])
            tally.created["enrolments.Enrolment"] += 1
            for weekday, unit_name in pattern:
                unit = Unit.objects.get(activity=group.activity, name=unit_name)
                tally.upsert(WeeklyPattern, {"enrolment": enrolment, "weekday": weekday, "unit": unit})
        enrolments[(first_name, slug)] = enrolment
    return enrolments


def _book(tally: Tally, child, session, *, actor, channel, at) -> Booking | None:
    """The booking, created only if the cell never had one (None if it already had, or cannot)."""
    if Booking.objects.filter(child=child, session=session).exists():
        return None
    try:
        booking = _dated(
            at,
            lambda: booking_services.staff_book(
                child=child, session_id=session.pk, actor=actor, channel=channel, now=at
            ),
        )
    except BookingError:
        return None  # the enrolment was changed by staff during the demo: leave it be
    tally.created["bookings.Booking"] += 1
    return booking


def _pattern_sessions(enrolment, start, end):
    pattern = {(line.weekday, line.unit_id) for line in enrolment.weekly_pattern.all()}
    sessions = Session.objects.filter(
        unit__activity_id=enrolment.activity_id, date__range=(start, end), is_cancelled=False
    ).select_related("unit")
    return [s for s in sessions.order_by("date", "unit__position") if (s.date.weekday(), s.unit_id) in pattern]


def _session(slug, unit_name, day) -> Session:
    return Session.objects.select_related("unit__activity").get(
        unit__activity__slug=slug, unit__name=unit_name, date=day
    )


def _ensure_absence(tally: Tally, booking, *, household, payer_user, manager) -> None:
    if booking is None or Absence.objects.filter(booking=booking).exists():
        return
    absence = Absence.objects.create(
        booking=booking,
        household=household,
        reason=ABSENCE["reason"],
        comment=ABSENCE["comment"],
        status=AbsenceStatus.EXCUSED,
        channel=Channel.WEB,
        declared_by=payer_user,
        declared_at=ABSENCE["declared_at"],
        decided_by=manager,
        decided_at=ABSENCE["decided_at"],
        decision_note=ABSENCE["decision_note"],
    )
    tally.created["bookings.Absence"] += 1
    session = booking.session
    what = (
        f"{booking.child.first_name} – {format_day(session.date)} – {session.unit.activity.name}, {session.unit.name}"
    )
    details = {"child": booking.child_id, "session": session.pk, "date": session.date, "unit": session.unit.name}
    _log(
        ABSENCE["declared_at"],
        actor=payer_user,
        channel=Channel.WEB,
        action="absence.declared",
        obj=absence,
        household=household,
        after={**details, "status": AbsenceStatus.PENDING, "reason": absence.reason},
        message=f"{what} – Demande d'annulation en cours",
    )
    _log(
        ABSENCE["decided_at"],
        actor=manager,
        channel=Channel.STAFF,
        action="absence.decided",
        obj=absence,
        household=household,
        before={"status": AbsenceStatus.PENDING},
        after={**details, "status": AbsenceStatus.EXCUSED, "reason": absence.reason},
        message=f"{what} – Absence excusée – {ABSENCE['decision_note']}",
    )


def _log(moment, **entry) -> None:
    _dated(moment, lambda: log_action(**entry))


def ensure_plannings(tally: Tally, staff: dict) -> None:
    """Enrolments, patterns, bookings and the absence of the Martin household."""
    children = {child.first_name: child for child in Child.objects.filter(household__reference=MARTIN)}
    payer = Guardian.objects.select_related("user", "household").get(household__reference=MARTIN, is_payer=True)
    agent, manager = staff["Agent d'accueil"], staff["Gestionnaire"]
    enrolments = _ensure_enrolments(tally, children, payer.user, manager)
    created = {}
    for (first_name, slug), enrolment in enrolments.items():
        for start, end, booked_at in PATTERN_MONTHS:
            for session in _pattern_sessions(enrolment, start, end):
                booking = _book(
                    tally, children[first_name], session, actor=payer.user, channel=Channel.WEB, at=booked_at
                )
                if booking is not None:
                    created[(first_name, slug, session.unit.name, session.date)] = booking
    hugo = children["Hugo"]
    for day, unit_name, booked_at, by_staff in WEDNESDAYS:
        _book(
            tally,
            hugo,
            _session(MERCREDIS, unit_name, day),
            actor=agent if by_staff else payer.user,
            channel=Channel.STAFF if by_staff else Channel.WEB,
            at=booked_at,
        )
    *cell, cancelled_at = CANCELLED
    booking = created.get(tuple(cell))  # cancelled in the run that booked it, never again
    if booking is not None:
        _dated(
            cancelled_at,
            lambda: booking_services.staff_cancel(
                booking=booking, actor=payer.user, channel=Channel.WEB, now=cancelled_at
            ),
        )
    sick = Booking.objects.filter(
        child=children[ABSENCE["child"]], session=_session(MERCREDIS, ABSENCE["unit"], ABSENCE["date"])
    ).first()
    _ensure_absence(tally, sick, household=payer.household, payer_user=payer.user, manager=manager)
