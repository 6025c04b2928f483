import re

from django.core.exceptions import ValidationError
from django.db import models


def luhn_ok(digits: str) -> bool:
    """The Luhn check used by SIREN and SIRET numbers (INSEE)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def validate_siret(value: str) -> None:
    """14 digits, the SIREN (first 9) and the whole SIRET passing the Luhn key. La Poste's
    establishments (SIREN 356000000) follow another rule (digit sum multiple of 5): accepted too."""
    digits = (value or "").replace(" ", "")
    if not re.fullmatch(r"\d{14}", digits):
        raise ValidationError("Le SIRET compte 14 chiffres.", code="siret_format")
    if digits.startswith("356000000"):
        if sum(int(char) for char in digits) % 5 == 0:
            return
    elif luhn_ok(digits[:9]) and luhn_ok(digits):
        return
    raise ValidationError("Ce SIRET n'est pas valide (clé de contrôle) : vérifiez sa saisie.", code="siret_key")


class SchoolHolidayZone(models.TextChoices):
    A = "A", "Zone A"
    B = "B", "Zone B"
    C = "C", "Zone C"


class Town(models.Model):
    """The organisation that runs the portal (one per installation)."""

    name = models.CharField("nom", max_length=120)
    address = models.CharField("adresse", max_length=200, blank=True)
    postcode = models.CharField("code postal", max_length=10, blank=True)
    city = models.CharField("ville", max_length=100, blank=True)
    phone = models.CharField("téléphone", max_length=30, blank=True)
    email = models.EmailField("e-mail du service", blank=True)
    # Printed on every invoice and credit note (the issuer's identity); the PES/ORMC exports use it too.
    siret = models.CharField(
        "SIRET", max_length=14, blank=True, validators=[validate_siret], help_text="14 chiffres, sans espace."
    )
    school_holiday_zone = models.CharField(
        "zone de vacances scolaires", max_length=1, choices=SchoolHolidayZone.choices, default=SchoolHolidayZone.A
    )
    # Public holidays: the subdivision for the `holidays` library (e.g. "57" for Moselle), empty for the default.
    holiday_subdivision = models.CharField("subdivision des jours fériés", max_length=10, blank=True)
    invitation_validity_days = models.PositiveSmallIntegerField("validité d'une invitation (jours)", default=7)

    class Meta:
        verbose_name = "commune"
        verbose_name_plural = "communes"

    def __str__(self):
        return self.name

    @classmethod
    def current(cls) -> "Town | None":
        return cls.objects.order_by("pk").first()


class SchoolYear(models.Model):
    town = models.ForeignKey(Town, on_delete=models.CASCADE, related_name="school_years")
    label = models.CharField("libellé", max_length=20)  # "2026-2027"
    start_date = models.DateField("début")
    end_date = models.DateField("fin")

    class Meta:
        ordering = ["-start_date"]
        verbose_name = "année scolaire"
        verbose_name_plural = "années scolaires"
        constraints = [
            models.UniqueConstraint(fields=["town", "label"], name="unique_school_year_label"),
            models.CheckConstraint(condition=models.Q(end_date__gt=models.F("start_date")), name="school_year_dates"),
        ]

    def __str__(self):
        return self.label


class School(models.Model):
    town = models.ForeignKey(Town, on_delete=models.CASCADE, related_name="schools")
    name = models.CharField("nom", max_length=120)

    class Meta:
        ordering = ["name"]
        verbose_name = "école"
        verbose_name_plural = "écoles"

    def __str__(self):
        return self.name


class Closure(models.Model):
    """Days the town closes its services beyond public holidays (pont, journée pédagogique)."""

    town = models.ForeignKey(Town, on_delete=models.CASCADE, related_name="closures")
    label = models.CharField("libellé", max_length=120)
    start_date = models.DateField("du")
    end_date = models.DateField("au")

    class Meta:
        ordering = ["start_date"]
        verbose_name = "fermeture"
        verbose_name_plural = "fermetures"
        constraints = [
            models.CheckConstraint(condition=models.Q(end_date__gte=models.F("start_date")), name="closure_dates"),
        ]

    def __str__(self):
        return f"{self.label} ({self.start_date:%d/%m/%Y} – {self.end_date:%d/%m/%Y})"
