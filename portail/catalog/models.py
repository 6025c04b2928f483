from django.db import models

from portail.households.models import SchoolLevel


class Facility(models.Model):
    """Structure / équipement: "Centre de loisirs Les Pommiers", "Restauration scolaire"…"""

    town = models.ForeignKey("organisations.Town", on_delete=models.CASCADE, related_name="facilities")
    name = models.CharField("nom", max_length=120)
    slug = models.SlugField(unique=True)
    description = models.TextField("présentation", blank=True)
    address = models.CharField("adresse", max_length=200, blank=True)
    phone = models.CharField("téléphone", max_length=20, blank=True)
    email = models.EmailField("e-mail", blank=True)
    is_active = models.BooleanField("active", default=True)
    position = models.PositiveSmallIntegerField("ordre", default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = "structure"
        verbose_name_plural = "structures"

    def __str__(self):
        return self.name


class ActivityType(models.Model):
    """Type d'activité: "Mercredis", "Vacances", "Périscolaire", "Restauration", "Sport"."""

    name = models.CharField("nom", max_length=80, unique=True)
    slug = models.SlugField(unique=True)
    position = models.PositiveSmallIntegerField("ordre", default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = "type d'activité"
        verbose_name_plural = "types d'activité"

    def __str__(self):
        return self.name


class PaymentMode(models.TextChoices):
    PREPAID = "prepaid", "Payée à la réservation"
    INVOICED = "invoiced", "Facturée chaque mois"
    AT_ENROLMENT = "at_enrolment", "Payée à l'inscription"


class Activity(models.Model):
    """Activité / prestation a child is enrolled in, e.g. "Pommiers mercredis 2026-2027"."""

    facility = models.ForeignKey(
        Facility, on_delete=models.CASCADE, related_name="activities", verbose_name="structure"
    )
    activity_type = models.ForeignKey(
        ActivityType, on_delete=models.PROTECT, related_name="activities", verbose_name="type d'activité"
    )
    school_year = models.ForeignKey(
        "organisations.SchoolYear",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        verbose_name="année scolaire",
    )
    name = models.CharField("nom", max_length=150)
    slug = models.SlugField(unique=True)
    description = models.TextField("description", blank=True)
    payment_mode = models.CharField(
        "mode de paiement", max_length=15, choices=PaymentMode.choices, default=PaymentMode.INVOICED
    )
    price_info = models.TextField("informations tarifaires", blank=True)
    is_published = models.BooleanField("visible des familles", default=True)
    position = models.PositiveSmallIntegerField("ordre", default=0)

    # --- Enrolment rules (portail.enrolments) ---------------------------------------------
    class ValidationMode(models.TextChoices):
        AUTO = "auto", "Automatique quand une place est libre"
        MANUAL = "manual", "Par le service"

    class WaitingListPriority(models.TextChoices):
        ARRIVAL = "arrival", "Ordre d'arrivée"
        RESIDENTS_FIRST = "residents_first", "Habitants de la commune d'abord"
        SIBLINGS_FIRST = "siblings_first", "Frères et sœurs déjà inscrits d'abord"

    validation_mode = models.CharField(
        "validation des inscriptions", max_length=10, choices=ValidationMode.choices, default=ValidationMode.MANUAL
    )
    requires_pre_enrolment = models.BooleanField(
        "pré-inscription",
        default=False,
        help_text="Dossier ou commission nécessaire : la demande ne réserve pas de place avant acceptation.",
    )
    capacity = models.PositiveIntegerField(
        "places pour l'activité",
        null=True,
        blank=True,
        help_text="Plafond commun à tous les groupes pour une période. Vide : seules les places des groupes comptent.",
    )
    offer_delay_hours = models.PositiveSmallIntegerField("délai de réponse à une place proposée (heures)", default=48)
    # Planning (bookings): how long a ticked cell holds its place in the basket, and the absence rule.
    basket_hold_minutes = models.PositiveSmallIntegerField(
        "durée de réservation du panier (minutes)",
        default=20,
        help_text="Une case cochée garde sa place ce temps-là tant que la famille n'a pas validé ou payé.",
    )
    illness_certificate_days = models.PositiveSmallIntegerField(
        "délai du certificat médical (jours)",
        default=2,
        help_text="Une absence pour maladie est excusée si le certificat est déposé au plus tard N jours après.",
    )
    waiting_list_priority = models.CharField(
        "ordre de la liste d'attente",
        max_length=20,
        choices=WaitingListPriority.choices,
        default=WaitingListPriority.ARRIVAL,
    )
    # Planning: a family refused "Complet" on a session may wait for a place (bookings.SessionWaitlistEntry).
    session_waiting_list = models.BooleanField(
        "liste d'attente sur les séances complètes",
        default=False,
        help_text="Une famille qui trouve une séance complète peut s'inscrire sur sa liste d'attente : "
        "elle est prévenue par e-mail quand une place se libère (la première qui réserve l'obtient).",
    )

    class Meta:
        ordering = ["facility__position", "position", "name"]
        verbose_name = "activité"
        verbose_name_plural = "activités"

    def __str__(self):
        return self.name


class Period(models.Model):
    """Période: the dated span of an activity with its enrolment window."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="periods")
    name = models.CharField("nom", max_length=100)
    start_date = models.DateField("début")
    end_date = models.DateField("fin")
    enrolment_opens_at = models.DateTimeField("ouverture des inscriptions")
    enrolment_closes_at = models.DateTimeField("clôture des inscriptions")
    # For activities paid at enrolment ("45 € le trimestre"): the price of one enrolment, in cents.
    enrolment_price_cents = models.PositiveIntegerField(
        "prix de l'inscription (centimes)", null=True, blank=True, help_text="Activités payées à l'inscription."
    )

    class Meta:
        ordering = ["start_date", "name"]
        verbose_name = "période"
        verbose_name_plural = "périodes"
        constraints = [
            models.CheckConstraint(condition=models.Q(end_date__gte=models.F("start_date")), name="period_dates"),
            models.CheckConstraint(
                condition=models.Q(enrolment_closes_at__gt=models.F("enrolment_opens_at")), name="period_window"
            ),
        ]

    def __str__(self):
        return f"{self.activity} – {self.name}"


class Group(models.Model):
    """Groupe: a subdivision of an activity by age or school level, with a capacity.

    Empty bounds mean "no restriction". Ages are whole years on the period's start date.
    """

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField("nom", max_length=100)
    min_age = models.PositiveSmallIntegerField("âge minimum", null=True, blank=True)
    max_age = models.PositiveSmallIntegerField("âge maximum", null=True, blank=True)
    min_school_level = models.CharField("classe minimum", max_length=3, choices=SchoolLevel.choices, blank=True)
    max_school_level = models.CharField("classe maximum", max_length=3, choices=SchoolLevel.choices, blank=True)
    capacity = models.PositiveIntegerField("places", null=True, blank=True, help_text="Vide : sans limite.")
    position = models.PositiveSmallIntegerField("ordre", default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = "groupe"
        verbose_name_plural = "groupes"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_age__isnull=True)
                | models.Q(max_age__isnull=True)
                | models.Q(max_age__gte=models.F("min_age")),
                name="group_age_band",
            )
        ]

    def __str__(self):
        return f"{self.activity} – {self.name}"


class UnitKind(models.TextChoices):
    MORNING = "matin", "Matin"
    LUNCH = "midi", "Midi"
    EVENING = "soir", "Soir"
    AFTERNOON = "apres_midi", "Après-midi"
    DAY = "journee", "Journée"
    MEAL = "repas", "Repas"
    CLASS = "seance", "Séance"


class DeadlineKind(models.TextChoices):
    DAYS_BEFORE = "days_before", "N jours avant, à HH:MM"
    WORKING_DAYS_BEFORE = "working_days_before", "N jours ouvrés avant, à HH:MM"
    PREVIOUS_WEEK_DAY = "previous_week_day", "Le jour J de la semaine précédente, à HH:MM"


class BookingDeadlineRule(models.Model):
    """Délai de réservation: the last moment a session can be booked or cancelled."""

    name = models.CharField("nom", max_length=120)
    kind = models.CharField("règle", max_length=25, choices=DeadlineKind.choices)
    days = models.PositiveSmallIntegerField("nombre de jours", default=0)
    at_time = models.TimeField("heure de clôture")
    weekday = models.PositiveSmallIntegerField(
        "jour de la semaine", null=True, blank=True, help_text="0 = lundi … 6 = dimanche"
    )
    skip_public_holidays = models.BooleanField("sauter les jours fériés", default=True)
    skip_school_holidays = models.BooleanField("sauter les vacances scolaires", default=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "délai de réservation"
        verbose_name_plural = "délais de réservation"

    def __str__(self):
        return self.name


class Unit(models.Model):
    """Unité / créneau: a bookable part of a day (matin, midi, soir…), with times and a price."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="units")
    name = models.CharField("nom", max_length=80)
    kind = models.CharField("type", max_length=12, choices=UnitKind.choices)
    start_time = models.TimeField("début", null=True, blank=True)
    end_time = models.TimeField("fin", null=True, blank=True)
    # Placeholder price until the tariff engine exists (billing issue); integer cents.
    price_cents = models.PositiveIntegerField("prix (centimes)", default=0)
    capacity = models.PositiveIntegerField(
        "places par séance", null=True, blank=True, help_text="Vide : sans limite (seules les inscriptions comptent)."
    )
    deadline_rule = models.ForeignKey(
        BookingDeadlineRule,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="units",
        verbose_name="délai de réservation",
    )
    position = models.PositiveSmallIntegerField("ordre", default=0)

    class Meta:
        ordering = ["position", "start_time", "name"]
        verbose_name = "unité"
        verbose_name_plural = "unités"

    def __str__(self):
        return f"{self.activity} – {self.name}"


class Session(models.Model):
    """Séance: one date on which a unit of an activity is open."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="sessions")
    date = models.DateField("date", db_index=True)
    is_cancelled = models.BooleanField("annulée", default=False)
    capacity = models.PositiveIntegerField(
        "places", null=True, blank=True, help_text="Vide : les places par séance de l'unité."
    )

    class Meta:
        ordering = ["date", "unit__position"]
        verbose_name = "séance"
        verbose_name_plural = "séances"
        constraints = [models.UniqueConstraint(fields=["unit", "date"], name="one_session_per_unit_and_date")]

    def __str__(self):
        return f"{self.unit} – {self.date:%d/%m/%Y}"

    @property
    def effective_capacity(self) -> int | None:
        """Places for this date: the session's own figure, else the unit's; None is unlimited."""
        return self.capacity if self.capacity is not None else self.unit.capacity
