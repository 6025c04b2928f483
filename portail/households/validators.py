"""Simple French formats for the household record: phones, postcodes, dates."""

import re

from django.core.exceptions import ValidationError
from django.utils import timezone

PHONE_MESSAGE = "Saisissez un numéro de téléphone français à 10 chiffres, par exemple 06 12 34 56 78."
POSTCODE_MESSAGE = "Le code postal doit comporter 5 chiffres, par exemple 75001."
BIRTH_DATE_MESSAGE = "La date de naissance ne peut pas être dans le futur."

_SEPARATORS = re.compile(r"[\s.\-/()]")


def normalize_phone(value: str) -> str:
    """'0612345678', '06.12.34.56.78', '+33 6 12 34 56 78' -> '06 12 34 56 78'. Empty stays empty."""
    raw = _SEPARATORS.sub("", value or "")
    if not raw:
        return ""
    if raw.startswith("+33"):
        raw = "0" + raw[3:]
    elif raw.startswith("0033"):
        raw = "0" + raw[4:]
    if not re.fullmatch(r"0[1-9]\d{8}", raw):
        raise ValidationError(PHONE_MESSAGE, code="phone")
    return " ".join(raw[i : i + 2] for i in range(0, 10, 2))


def normalize_postcode(value: str) -> str:
    raw = (value or "").replace(" ", "")
    if not raw:
        return ""
    if not re.fullmatch(r"\d{5}", raw):
        raise ValidationError(POSTCODE_MESSAGE, code="postcode")
    return raw


def validate_not_future(value) -> None:
    if value and value > timezone.localdate():
        raise ValidationError(BIRTH_DATE_MESSAGE, code="future")
