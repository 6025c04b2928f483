from django.conf import settings
from django.db import models
from django.utils import timezone


class HouseholdStatus(models.TextChoices):
    PENDING = "pending", "En attente de validation"
    ACTIVE = "active", "Actif"
    REFUSED = "refused", "Refusé"
    ARCHIVED = "archived", "Archivé"


class BenefitScheme(models.TextChoices):
    CAF = "caf", "CAF"
    MSA = "msa", "MSA"
    OTHER = "other", "Autre régime"
    NONE = "none", "Non allocataire"


class Household(models.Model):
    """Foyer: the billing unit, one or more guardians and their children."""

    reference = models.CharField("référence", max_length=20, unique=True)
    status = models.CharField("état", max_length=10, choices=HouseholdStatus.choices, default=HouseholdStatus.ACTIVE)
    benefit_scheme = models.CharField(
        "régime d'allocations", max_length=10, choices=BenefitScheme.choices, default=BenefitScheme.NONE
    )
    benefit_number = models.CharField("n° allocataire", max_length=20, blank=True)
    created_at = models.DateTimeField("créé le", default=timezone.now)
    decided_at = models.DateTimeField("validé ou refusé le", null=True, blank=True)
    refusal_reason = models.TextField("motif du refus", blank=True)
    staff_notes = models.TextField("notes internes", blank=True)

    class Meta:
        ordering = ["reference"]
        verbose_name = "foyer"
        verbose_name_plural = "foyers"

    def __str__(self):
        payer = next((g for g in self.guardians.all() if g.is_payer), None)
        return f"{self.reference} – {payer.last_name.upper() if payer else 'sans payeur'}"

    @property
    def is_active(self) -> bool:
        return self.status == HouseholdStatus.ACTIVE


class Civility(models.TextChoices):
    MME = "mme", "Madame"
    M = "m", "Monsieur"


class Guardian(models.Model):
    """Responsable légal. One per household is the payer (the one who is billed)."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="guardians")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="guardian"
    )
    civility = models.CharField("civilité", max_length=3, choices=Civility.choices)
    first_name = models.CharField("prénom", max_length=100)
    last_name = models.CharField("nom", max_length=100)
    relationship = models.CharField("lien avec les enfants", max_length=40, blank=True)  # mère, père, tuteur…
    email = models.EmailField("e-mail", blank=True)
    mobile_phone = models.CharField("téléphone portable", max_length=20, blank=True)
    home_phone = models.CharField("téléphone fixe", max_length=20, blank=True)
    employer_name = models.CharField("employeur", max_length=120, blank=True)
    work_phone = models.CharField("téléphone employeur", max_length=20, blank=True)
    address_line1 = models.CharField("adresse", max_length=200, blank=True)
    address_line2 = models.CharField("complément d'adresse", max_length=200, blank=True)
    postcode = models.CharField("code postal", max_length=10, blank=True)
    city = models.CharField("ville", max_length=100, blank=True)
    is_payer = models.BooleanField("payeur", default=False)

    class Meta:
        ordering = ["-is_payer", "last_name", "first_name"]
        verbose_name = "responsable légal"
        verbose_name_plural = "responsables légaux"
        constraints = [
            models.UniqueConstraint(
                fields=["household"], condition=models.Q(is_payer=True), name="one_payer_per_household"
            )
        ]

    def __str__(self):
        return f"{self.get_civility_display()} {self.first_name} {self.last_name.upper()}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Sex(models.TextChoices):
    FEMALE = "F", "Fille"
    MALE = "M", "Garçon"


class SchoolLevel(models.TextChoices):
    """Ordered from youngest to oldest: the order is used for level bands ("du CP au CM2")."""

    NONE = "", "Non scolarisé"
    TPS = "TPS", "Toute petite section"
    PS = "PS", "Petite section"
    MS = "MS", "Moyenne section"
    GS = "GS", "Grande section"
    CP = "CP", "CP"
    CE1 = "CE1", "CE1"
    CE2 = "CE2", "CE2"
    CM1 = "CM1", "CM1"
    CM2 = "CM2", "CM2"
    SIXIEME = "6E", "6e"
    CINQUIEME = "5E", "5e"
    QUATRIEME = "4E", "4e"
    TROISIEME = "3E", "3e"

    @classmethod
    def rank(cls, value: str) -> int:
        """Position of a level in schooling order; unknown or empty levels rank -1."""
        values = [c for c in cls.values if c]
        return values.index(value) if value in values else -1


class Diet(models.TextChoices):
    STANDARD = "standard", "Standard"
    NO_PORK = "no_pork", "Sans porc"
    NO_MEAT = "no_meat", "Sans viande"
    VEGETARIAN = "vegetarian", "Végétarien"
    MEDICAL = "medical", "Régime médical (PAI)"


class Child(models.Model):
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="children")
    first_name = models.CharField("prénom", max_length=100)
    last_name = models.CharField("nom", max_length=100)
    birth_date = models.DateField("date de naissance")
    sex = models.CharField("sexe", max_length=1, choices=Sex.choices)
    school = models.ForeignKey(
        "organisations.School",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        verbose_name="école",
    )
    school_level = models.CharField("classe", max_length=3, choices=SchoolLevel.choices, blank=True)
    diet = models.CharField("régime alimentaire", max_length=12, choices=Diet.choices, default=Diet.STANDARD)
    photo_allowed = models.BooleanField("droit à l'image", default=False)
    may_leave_alone = models.BooleanField("autorisé à partir seul", default=False)
    is_active = models.BooleanField("actif", default=True)
    created_at = models.DateTimeField("créé le", default=timezone.now)

    class Meta:
        ordering = ["birth_date", "first_name"]
        verbose_name = "enfant"
        verbose_name_plural = "enfants"

    def __str__(self):
        return f"{self.first_name} {self.last_name.upper()}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def age_on(self, day) -> int:
        """Age in whole years on `day`."""
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


class HealthRecord(models.Model):
    """Fiche sanitaire: allergies and PAI. Sensitive: readable only with the
    `households.view_healthrecord` permission, and every read by staff is logged."""

    child = models.OneToOneField(Child, on_delete=models.CASCADE, related_name="health_record")
    allergies = models.TextField("allergies", blank=True)
    has_care_plan = models.BooleanField("PAI (projet d'accueil individualisé)", default=False)
    care_plan_details = models.TextField("détail du PAI", blank=True)
    treatment = models.TextField("traitement", blank=True)
    doctor_name = models.CharField("médecin traitant", max_length=120, blank=True)
    doctor_phone = models.CharField("téléphone du médecin", max_length=20, blank=True)
    notes = models.TextField("autres informations médicales", blank=True)
    updated_at = models.DateTimeField("mis à jour le", auto_now=True)

    class Meta:
        verbose_name = "fiche sanitaire"
        verbose_name_plural = "fiches sanitaires"

    def __str__(self):
        return f"Fiche sanitaire de {self.child}"


class AuthorizedPerson(models.Model):
    """Personne autorisée à récupérer l'enfant."""

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="authorized_persons")
    first_name = models.CharField("prénom", max_length=100)
    last_name = models.CharField("nom", max_length=100)
    phone = models.CharField("téléphone", max_length=20)
    relationship = models.CharField("lien avec l'enfant", max_length=60, blank=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        verbose_name = "personne autorisée"
        verbose_name_plural = "personnes autorisées"

    def __str__(self):
        return f"{self.first_name} {self.last_name.upper()}"


class FamilyQuotient(models.Model):
    """Quotient familial with its validity dates; selects the price bracket."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="quotients")
    value = models.PositiveIntegerField("quotient familial")
    valid_from = models.DateField("valable du")
    valid_until = models.DateField("au")
    source = models.CharField("source", max_length=10, choices=BenefitScheme.choices, default=BenefitScheme.CAF)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-valid_from"]
        verbose_name = "quotient familial"
        verbose_name_plural = "quotients familiaux"
        constraints = [
            models.CheckConstraint(condition=models.Q(valid_until__gte=models.F("valid_from")), name="quotient_dates"),
        ]

    def __str__(self):
        return f"QF {self.value} ({self.valid_from:%d/%m/%Y} – {self.valid_until:%d/%m/%Y})"


class RequestKind(models.TextChoices):
    SIGNUP = "signup", "Création de compte famille"
    ADD_CHILD = "add_child", "Ajout d'un enfant"
    UPDATE_CHILD = "update_child", "Modification d'un enfant"
    UPDATE_HEALTH = "update_health", "Modification de la fiche sanitaire"
    UPDATE_GUARDIAN = "update_guardian", "Modification d'un responsable"
    ADD_GUARDIAN = "add_guardian", "Ajout d'un responsable"
    UPDATE_HOUSEHOLD = "update_household", "Modification des informations du foyer"
    ADD_AUTHORIZED_PERSON = "add_authorized_person", "Ajout d'une personne autorisée"
    QUOTIENT = "quotient", "Nouveau quotient familial"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "En attente"
    ACCEPTED = "accepted", "Acceptée"
    REFUSED = "refused", "Refusée"
    CANCELLED = "cancelled", "Annulée"


class ChangeRequest(models.Model):
    """Demande: a change a family asks for and staff accept or refuse.

    `payload` holds the proposed values; accepting applies them in one transaction.
    """

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="change_requests")
    kind = models.CharField("type", max_length=30, choices=RequestKind.choices)
    status = models.CharField("état", max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    # The object the request changes (child, guardian…), empty for additions.
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    payload = models.JSONField("modifications demandées", default=dict)
    message = models.TextField("message de la famille", blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField("déposée le", default=timezone.now, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField("traitée le", null=True, blank=True)
    refusal_reason = models.TextField("motif du refus", blank=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = "demande"
        verbose_name_plural = "demandes"
        indexes = [models.Index(fields=["status", "submitted_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.get_status_display()})"
