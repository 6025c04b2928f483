from django.conf import settings
from django.db import models


class Channel(models.TextChoices):
    """Through which door a change came in ("par le web", "par la Mairie")."""

    WEB = "web", "le web"
    STAFF = "staff", "la Mairie"
    PHONE = "phone", "le serveur vocal"
    IMPORT = "import", "un import"
    SYSTEM = "system", "le système"


class LogEntry(models.Model):
    """Audit trail: who changed what, through which channel, when, before/after."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    household = models.ForeignKey(
        "households.Household", null=True, blank=True, on_delete=models.SET_NULL, related_name="log_entries"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        verbose_name = "entrée du journal"
        verbose_name_plural = "journal des modifications"

    def __str__(self):
        return f"{self.created_at:%d/%m/%Y %H:%M} {self.action} {self.object_repr}"
