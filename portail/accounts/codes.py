"""Access codes ("code enfant" + "code payeur"): format, generation and storage keys.

Both codes are 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as
two groups of four ("K7QM-3XRD"). Families may type them in lower case, with or without the
dash or spaces. 31^8 ≈ 2^39.6 each, about 79 bits for the pair, well above the 50 bits the
CNIL asks for a throttled secret (délibération 2022-100), and the pair is locked after
10 failures per child code like a password.

The child code is the lookup key: it is stored as an HMAC-SHA256 keyed with SECRET_KEY (a
database leak alone does not reveal it, and rotating SECRET_KEY invalidates every code). The
payer code is the secret: it is hashed with Django's password hasher (argon2id).
"""

import re
import secrets

from django.utils.crypto import salted_hmac

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
# Explicit codes (demo town) may use any letters and digits, within these bounds.
_EXPLICIT = re.compile(r"^[A-Z0-9]{6,32}$")
_SEPARATORS = re.compile(r"[\s\-_.]+")


def normalize_code(value: str | None) -> str:
    """What the family typed, in the one spelling we store: upper case, no separators."""
    return _SEPARATORS.sub("", value or "").upper()


def is_valid_code(value: str | None) -> bool:
    return bool(_EXPLICIT.match(normalize_code(value)))


def generate_code() -> str:
    """A fresh code in display form ("K7QM-3XRD")."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return format_code(raw)


def format_code(value: str) -> str:
    raw = normalize_code(value)
    if len(raw) == CODE_LENGTH:
        return f"{raw[:4]}-{raw[4:]}"
    return raw


def child_code_digest(value: str) -> str:
    """The stored lookup key of a child code (hex HMAC-SHA256 keyed with SECRET_KEY)."""
    return salted_hmac("portail.accounts.child_code", normalize_code(value), algorithm="sha256").hexdigest()
