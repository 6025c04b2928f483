"""Planning: bookings of sessions, the household's basket of pending changes, absences.

A booking is one child at one session (a unit of an activity on a date). Places are never
stored in a counter: a session's places taken are its holding bookings plus the unexpired
"add" lines of every basket (selectors.places_taken), recounted under the session's row lock.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from portail.core.models import Channel


class BookingStatus(models.TextChoices):
    CONFIRMED = "confirmed", "Réservée"
    # Set by the payment issue: a prepaid basket sent to the bank holds its places meanwhile.
    AWAITING_PAYMENT = "awaiting_payment", "En cours de paiement"
    CANCELLED = "cancelled", "Annulée"


# Statuses that take a place of the session.
HOLDING_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.AWAITING_PAYMENT)


class Booking(models.Model):
    """Réservation: child × session, with the price decided when it was booked."""

    child = models.ForeignKey(
        "households.Child", on_delete=models.CASCADE, related_name="bookings", verbose_name="enfant"
    )
    session = models.ForeignKey(
        "catalog.Session", on_delete=models.PROTECT, related_name="bookings", verbose_name="séance"
    )
    enrolment = models.ForeignKey(
        "enrolments.Enrolment", on_delete=models.PROTECT, related_name="bookings", verbose_name="inscription"
    )
    status = models.CharField("état", max_length=20, choices=BookingStatus.choices, default=BookingStatus.CONFIRMED)
    # Price snapshot in cents: decided once, never recomputed (billing reads it).
    price_cents = models.PositiveIntegerField("prix (centimes)")
    # How the tariff engine reached price_cents (French, in order), copied onto the invoice line.
    price_trail = models.JSONField("calcul du prix", default=list, blank=True)
    # Booked after the deadline (staff on the family's behalf): price_cents includes surcharge_cents,
    # which the invoice shows on its own line (a penalty, left out of the tax certificate).
    late = models.BooleanField("hors délai", default=False)
    surcharge_cents = models.PositiveIntegerField("majoration (centimes)", default=0)
    channel = models.CharField("canal", max_length=10, choices=Channel.choices, default=Channel.WEB)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("réservée le", default=timezone.now)
    # Set by the payment issue; a paid booking is no longer the family's to change (seed 001).
    paid_at = models.DateTimeField("payée le", null=True, blank=True)
    cancelled_at = models.DateTimeField("annulée le", null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancel_channel = models.CharField("canal de l'annulation", max_length=10, choices=Channel.choices, blank=True)

    class Meta:
        ordering = ["session__date", "session__unit__position"]
        verbose_name = "réservation"
        verbose_name_plural = "réservations"
        constraints = [
            models.UniqueConstraint(
                fields=["child", "session"],
                condition=models.Q(status__in=HOLDING_STATUSES),
                name="one_live_booking_per_child_session",
            ),
        ]
        indexes = [models.Index(fields=["session", "status"], name="booking_session_status")]

    def __str__(self):
        return f"{self.child} – {self.session}"

    @property
    def holds_place(self) -> bool:
        return self.status in HOLDING_STATUSES


class Basket(models.Model):
    """The household's pending changes ("Modifications en cours"), shared by its guardians and by
    staff acting for them. Lines hold places until they expire; the basket itself is permanent."""

    household = models.OneToOneField(
        "households.Household", on_delete=models.CASCADE, related_name="basket", verbose_name="foyer"
    )
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    class Meta:
        verbose_name = "panier"
        verbose_name_plural = "paniers"

    def __str__(self):
        return f"Panier {self.household}"


class LineKind(models.TextChoices):
    ADD = "add", "Réservation"
    REMOVE = "remove", "Annulation"


class BasketLine(models.Model):
    """One pending change of one cell: book (add) or cancel (remove) a child's session."""

    basket = models.ForeignKey(Basket, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField("type", max_length=6, choices=LineKind.choices)
    child = models.ForeignKey("households.Child", on_delete=models.CASCADE, related_name="+", verbose_name="enfant")
    session = models.ForeignKey(
        "catalog.Session", on_delete=models.CASCADE, related_name="basket_lines", verbose_name="séance"
    )
    enrolment = models.ForeignKey("enrolments.Enrolment", on_delete=models.CASCADE, related_name="+")
    booking = models.ForeignKey(
        Booking, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="Pour une annulation."
    )
    price_cents = models.PositiveIntegerField("prix (centimes)")
    # The price decided at the tick (tariff engine), carried to the booking when the basket is validated.
    price_trail = models.JSONField("calcul du prix", default=list, blank=True)
    late = models.BooleanField("hors délai", default=False)
    surcharge_cents = models.PositiveIntegerField("majoration (centimes)", default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # An add line stops counting against the session's places at this instant, with no job needed.
    expires_at = models.DateTimeField("expire le", db_index=True)

    class Meta:
        ordering = ["session__date", "session__unit__position", "child__first_name"]
        verbose_name = "modification en cours"
        verbose_name_plural = "modifications en cours"
        constraints = [
            models.UniqueConstraint(fields=["basket", "child", "session"], name="one_line_per_basket_cell"),
            models.CheckConstraint(
                condition=models.Q(kind="add", booking__isnull=True) | models.Q(kind="remove", booking__isnull=False),
                name="remove_line_names_its_booking",
            ),
        ]
        indexes = [models.Index(fields=["session", "kind", "expires_at"], name="basketline_session_hold")]

    def __str__(self):
        return f"{self.get_kind_display()} – {self.child} – {self.session}"


class AbsenceReason(models.TextChoices):
    ILLNESS = "illness", "Maladie"
    FAMILY = "family", "Raison familiale"
    SCHOOL = "school", "Sortie ou absence scolaire"
    OTHER = "other", "Autre raison"


class AbsenceStatus(models.TextChoices):
    PENDING = "pending", "Demande d'annulation en cours"
    EXCUSED = "excused", "Absence excusée"
    BILLED = "billed", "Absence facturée"


def certificate_path(instance, filename):
    # Private storage path (never served as a static URL): read through a permission-checked view.
    return f"absences/{timezone.localdate():%Y/%m}/{instance.booking_id}-{filename}"


class Absence(models.Model):
    """An absence declared on a booking that can no longer be cancelled freely.

    Excused (not billed) or billed, by the activity's rule: illness with a medical certificate
    filed within N days is excused; anything else waits for a staff decision.
    """

    booking = models.OneToOneField(Booking, on_delete=models.CASCADE, related_name="absence")
    household = models.ForeignKey("households.Household", on_delete=models.CASCADE, related_name="absences")
    reason = models.CharField("motif", max_length=10, choices=AbsenceReason.choices)
    comment = models.TextField("précisions", blank=True)
    certificate = models.FileField("justificatif", upload_to=certificate_path, blank=True)
    certificate_at = models.DateTimeField("justificatif déposé le", null=True, blank=True)
    status = models.CharField("état", max_length=10, choices=AbsenceStatus.choices, default=AbsenceStatus.PENDING)
    channel = models.CharField("canal", max_length=10, choices=Channel.choices, default=Channel.WEB)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    declared_at = models.DateTimeField("déclarée le", default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField("décidée le", null=True, blank=True)
    decision_note = models.TextField("motif de la décision", blank=True)

    class Meta:
        ordering = ["-declared_at"]
        verbose_name = "absence"
        verbose_name_plural = "absences"
        indexes = [models.Index(fields=["status", "declared_at"], name="absence_status_declared")]

    def __str__(self):
        return f"Absence – {self.booking}"


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", "En attente"
    NOTIFIED = "notified", "Prévenue d'une place libre"
    BOOKED = "booked", "Réservée"
    WITHDRAWN = "withdrawn", "Retirée"
    EXPIRED = "expired", "Expirée (délai passé)"


# Statuses of an entry still waiting for (or told about) a place.
LIVE_WAITLIST_STATUSES = (WaitlistStatus.WAITING, WaitlistStatus.NOTIFIED)


class SessionWaitlistEntry(models.Model):
    """A child waiting for a place on a full session ("liste d'attente"), for activities that offer it.

    When a place frees up before the deadline, the first waiting families (by arrival) are told by
    e-mail; the place is not kept for them: the first family that books it gets it.
    """

    child = models.ForeignKey(
        "households.Child", on_delete=models.CASCADE, related_name="session_waitlist_entries", verbose_name="enfant"
    )
    session = models.ForeignKey(
        "catalog.Session", on_delete=models.CASCADE, related_name="waitlist_entries", verbose_name="séance"
    )
    household = models.ForeignKey(
        "households.Household",
        on_delete=models.CASCADE,
        related_name="session_waitlist_entries",
        verbose_name="foyer",
    )
    status = models.CharField(
        "état", max_length=10, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING, db_index=True
    )
    channel = models.CharField("canal", max_length=10, choices=Channel.choices, default=Channel.WEB)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("inscrite le", default=timezone.now)
    notified_at = models.DateTimeField("prévenue le", null=True, blank=True)
    closed_at = models.DateTimeField("close le", null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = "inscription sur liste d'attente d'une séance"
        verbose_name_plural = "listes d'attente des séances"
        constraints = [
            models.UniqueConstraint(
                fields=["child", "session"],
                condition=models.Q(status__in=LIVE_WAITLIST_STATUSES),
                name="one_live_waitlist_entry_per_child_session",
            ),
        ]
        indexes = [models.Index(fields=["session", "status", "created_at"], name="waitlist_session_queue")]

    def __str__(self):
        return f"Liste d'attente – {self.child} – {self.session}"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_WAITLIST_STATUSES
