import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from portail.households.validators import normalize_phone, normalize_postcode, validate_not_future


@pytest.mark.parametrize(
    "typed",
    ["0612345678", "06 12 34 56 78", "06.12.34.56.78", "06-12-34-56-78", "+33 6 12 34 56 78", "0033612345678"],
)
def test_french_phone_numbers_are_normalised(typed):
    assert normalize_phone(typed) == "06 12 34 56 78"


@pytest.mark.parametrize("typed", ["061234567", "06123456789", "0012345678", "abcdefghij", "+44 20 7946 0958"])
def test_malformed_phone_numbers_are_refused_in_french(typed):
    with pytest.raises(ValidationError) as error:
        normalize_phone(typed)
    assert "10 chiffres" in error.value.messages[0]


def test_empty_phone_stays_empty():
    assert normalize_phone("  ") == ""


def test_postcode_needs_five_digits():
    assert normalize_postcode("75 001") == "75001"
    for typed in ("7500", "750011", "ABCDE"):
        with pytest.raises(ValidationError):
            normalize_postcode(typed)


def test_birth_date_in_the_future_is_refused():
    validate_not_future(timezone.localdate())
    with pytest.raises(ValidationError):
        validate_not_future(timezone.localdate() + dt.timedelta(days=1))
