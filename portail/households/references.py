from django.db.models import Max

from .models import Household

PREFIX = "F"


def next_household_reference() -> str:
    """Next free household reference ("F000124"). Called inside the creating transaction;
    the unique constraint on `reference` is the last line of defence against a race."""
    last = Household.objects.filter(reference__startswith=PREFIX).aggregate(m=Max("reference"))["m"]
    number = int(last[len(PREFIX) :]) + 1 if last and last[len(PREFIX) :].isdigit() else 1
    return f"{PREFIX}{number:06d}"
