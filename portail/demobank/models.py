"""What the demo bank's PayFiP web-service remembers: one row per creerPaiementSecurise call."""

import uuid

from django.db import models
from django.utils import timezone


class DemoPayFiPOperation(models.Model):
    idop = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    numcli = models.CharField(max_length=6)
    exer = models.CharField(max_length=4, blank=True)
    refdet = models.CharField(max_length=30)
    # As sent by the caller: cents, zero-padded to 3 digits ("028").
    montant = models.CharField(max_length=12)
    mel = models.CharField(max_length=80)
    objet = models.CharField(max_length=100, blank=True)
    saisie = models.CharField(max_length=1)
    urlnotif = models.TextField()
    urlredirect = models.TextField()
    # Empty while the family has not answered (recupererDetailPaiementSecurise then says P5).
    resultrans = models.CharField(max_length=1, blank=True)
    numauto = models.CharField(max_length=16, blank=True)
    dattrans = models.CharField(max_length=8, blank=True)  # JJMMAAAA
    heurtrans = models.CharField(max_length=4, blank=True)  # HHMM
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "opération PayFiP de démonstration"
        verbose_name_plural = "opérations PayFiP de démonstration"

    def __str__(self):
        return f"{self.refdet} {self.idop} {self.resultrans or '…'}"

    @property
    def amount_cents(self) -> int:
        return int(self.montant) if self.montant.isdigit() else 0
