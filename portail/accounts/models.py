from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        email = self.normalize_email(email).lower() if email else None
        user = self.model(email=email, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in: a guardian (family side) or an agent (staff side).

    The e-mail is the login. It may be empty for a guardian who only uses the child codes.
    """

    email = models.EmailField("adresse e-mail", unique=True, null=True, blank=True)
    first_name = models.CharField("prénom", max_length=100, blank=True)
    last_name = models.CharField("nom", max_length=100, blank=True)
    is_staff = models.BooleanField("agent de la commune", default=False)
    is_active = models.BooleanField("actif", default=True)
    date_joined = models.DateTimeField("créé le", default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "utilisateur"
        verbose_name_plural = "utilisateurs"
        permissions = [
            ("manage_family_access", "Gérer les accès des familles (invitations, codes, inscriptions)"),
            ("access_admin", "Accéder à l'administration technique"),
        ]

    def __str__(self):
        return self.get_full_name() or self.email or f"utilisateur {self.pk}"

    def get_full_name(self):
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self):
        return self.first_name or self.email or ""

    def save(self, *args, **kwargs):
        # One spelling of an address: unique lookups and the login stay case-insensitive.
        if self.email:
            self.email = self.email.strip().lower()
        else:
            self.email = None
        super().save(*args, **kwargs)


class AccessCodeQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class AccessCode(models.Model):
    """The two codes that open a household from one child (see codes.py for the format).

    Neither code is stored in clear: they are shown once to the agent who generates them.
    """

    child = models.ForeignKey("households.Child", on_delete=models.CASCADE, related_name="access_codes")
    child_code_digest = models.CharField("empreinte du code enfant", max_length=64, db_index=True)
    payer_code_hash = models.CharField("empreinte du code payeur", max_length=255)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="créés par"
    )
    created_at = models.DateTimeField("créés le", default=timezone.now)
    revoked_at = models.DateTimeField("révoqués le", null=True, blank=True)
    last_used_at = models.DateTimeField("dernière utilisation", null=True, blank=True)

    objects = AccessCodeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "codes d'accès"
        verbose_name_plural = "codes d'accès"
        constraints = [
            # One active pair per child, and an active child code opens exactly one child.
            models.UniqueConstraint(
                fields=["child"], condition=models.Q(revoked_at__isnull=True), name="one_active_access_code_per_child"
            ),
            models.UniqueConstraint(
                fields=["child_code_digest"],
                condition=models.Q(revoked_at__isnull=True),
                name="unique_active_child_code",
            ),
        ]

    def __str__(self):
        return f"Codes d'accès de {self.child}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "En attente"
    ACCEPTED = "accepted", "Acceptée"
    EXPIRED = "expired", "Expirée"
    CANCELLED = "cancelled", "Remplacée"


class Invitation(models.Model):
    """An activation link sent by staff so a guardian sets a password. Single use, expiring."""

    guardian = models.ForeignKey("households.Guardian", on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField("envoyée à")
    # SHA-256 of the random token in the link; the token itself is never stored.
    token_digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="envoyée par"
    )
    created_at = models.DateTimeField("envoyée le", default=timezone.now)
    expires_at = models.DateTimeField("valable jusqu'au")
    accepted_at = models.DateTimeField("acceptée le", null=True, blank=True)
    cancelled_at = models.DateTimeField("remplacée le", null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "invitation"
        verbose_name_plural = "invitations"

    def __str__(self):
        return f"Invitation de {self.email}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return InvitationStatus.ACCEPTED
        if self.cancelled_at:
            return InvitationStatus.CANCELLED
        if self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING

    def get_status_display(self) -> str:
        return InvitationStatus(self.status).label
