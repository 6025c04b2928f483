"""Inscriptions: the right for a child to book an activity for a period.

An enrolment is not a booking. Places are never counted in a stored counter: the places a
group has left are computed from the enrolments that hold one (see selectors.remaining_places).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from portail.core.models import Channel


class EnrolmentStatus(models.TextChoices):
    REQUESTED = "requested", "En attente de validation"
    PRE_ENROLMENT = "pre_enrolment", "Pré-inscription à compléter"
    WAITING = "waiting", "Liste d'attente"
    OFFERED = "offered", "Place proposée"
    VALIDATED = "validated", "Validée"
    REFUSED = "refused", "Refusée"
    CANCELLED = "cancelled", "Annulée"


# A live enrolment blocks another one for the same child, activity and period.
LIVE_STATUSES = (
    EnrolmentStatus.REQUESTED,
    EnrolmentStatus.PRE_ENROLMENT,
    EnrolmentStatus.WAITING,
    EnrolmentStatus.OFFERED,
    EnrolmentStatus.VALIDATED,
)
# Statuses that consume a place of the group (and of the activity when it has a cap).
HOLDING_STATUSES = (EnrolmentStatus.REQUESTED, EnrolmentStatus.OFFERED, EnrolmentStatus.VALIDATED)

# The markers families know from the old portal ("V", "?", "!").
MARKERS = {
    EnrolmentStatus.VALIDATED: "V",
    EnrolmentStatus.REQUESTED: "?",
    EnrolmentStatus.PRE_ENROLMENT: "!",
}


class Enrolment(models.Model):
    """Inscription: child × activity × period × group, with its state.

    `activity` repeats `period.activity` so that the one-live-enrolment rule is a plain
    database constraint; the services keep the two consistent.
    """

    reference = models.CharField("référence", max_length=20, unique=True, null=True, blank=True)
    child = models.ForeignKey(
        "households.Child", on_delete=models.CASCADE, related_name="enrolments", verbose_name="enfant"
    )
    activity = models.ForeignKey(
        "catalog.Activity", on_delete=models.PROTECT, related_name="enrolments", verbose_name="activité"
    )
    period = models.ForeignKey(
        "catalog.Period", on_delete=models.PROTECT, related_name="enrolments", verbose_name="période"
    )
    group = models.ForeignKey(
        "catalog.Group", on_delete=models.PROTECT, related_name="enrolments", verbose_name="groupe"
    )
    status = models.CharField("état", max_length=15, choices=EnrolmentStatus.choices, default=EnrolmentStatus.REQUESTED)
    memo = models.TextField("mémo de la famille", blank=True)
    channel = models.CharField("canal", max_length=10, choices=Channel.choices, default=Channel.WEB)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="saisie par",
    )
    # Arrival order: set under the group lock, so it follows the order places were taken.
    created_at = models.DateTimeField("demandée le", default=timezone.now, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="décidée par",
    )
    decided_at = models.DateTimeField("décidée le", null=True, blank=True)
    refusal_reason = models.TextField("motif du refus", blank=True)
    cancellation_reason = models.CharField("motif de l'annulation", max_length=200, blank=True)
    # Waiting list: ordered by staff position (if reordered), then priority, then waiting_since.
    waiting_since = models.DateTimeField("en liste d'attente depuis", null=True, blank=True)
    waiting_priority = models.PositiveSmallIntegerField(
        "priorité en liste d'attente", default=1, help_text="0 : prioritaire selon les critères publiés ; 1 : autres."
    )
    waiting_position = models.PositiveIntegerField("rang fixé par le service", null=True, blank=True)
    offered_at = models.DateTimeField("place proposée le", null=True, blank=True)
    offer_expires_at = models.DateTimeField("réponse attendue avant le", null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "inscription"
        verbose_name_plural = "inscriptions"
        constraints = [
            models.UniqueConstraint(
                fields=["child", "activity", "period"],
                condition=models.Q(status__in=LIVE_STATUSES),
                name="one_live_enrolment_per_child_activity_period",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=EnrolmentStatus.OFFERED) | models.Q(offer_expires_at__isnull=False),
                name="offer_has_expiry",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=EnrolmentStatus.REFUSED) | ~models.Q(refusal_reason=""),
                name="refusal_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["group", "period", "status"], name="enrolment_group_period_status"),
            models.Index(fields=["status", "created_at"], name="enrolment_status_created"),
        ]

    def __str__(self):
        return f"{self.reference or 'Inscription'} – {self.child} – {self.group.name}"

    @property
    def marker(self) -> str:
        """ "V", "?" or "!" as on the old portal; empty for the other states."""
        return MARKERS.get(self.status, "")

    @property
    def holds_place(self) -> bool:
        return self.status in HOLDING_STATUSES

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Lundi"
    TUESDAY = 1, "Mardi"
    WEDNESDAY = 2, "Mercredi"
    THURSDAY = 3, "Jeudi"
    FRIDAY = 4, "Vendredi"
    SATURDAY = 5, "Samedi"
    SUNDAY = 6, "Dimanche"


class WeeklyPattern(models.Model):
    """Semaine type: one weekday × unit the family wants every week (turned into bookings later)."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="weekly_pattern")
    weekday = models.PositiveSmallIntegerField("jour", choices=Weekday.choices)
    unit = models.ForeignKey("catalog.Unit", on_delete=models.CASCADE, related_name="+", verbose_name="unité")

    class Meta:
        ordering = ["weekday", "unit__position"]
        verbose_name = "semaine type"
        verbose_name_plural = "semaines types"
        constraints = [
            models.UniqueConstraint(fields=["enrolment", "weekday", "unit"], name="one_pattern_line_per_day_unit"),
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="pattern_weekday_range"),
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} – {self.unit.name}"
