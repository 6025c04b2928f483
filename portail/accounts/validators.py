from pathlib import Path

from django.core.exceptions import ValidationError

_LIST = Path(__file__).with_name("common_passwords_fr.txt")


class FrenchCommonPasswordValidator:
    """Refuse the passwords French users pick most (Django's list is mostly English)."""

    def __init__(self):
        self.passwords = {
            line.strip().lower() for line in _LIST.read_text(encoding="utf-8").splitlines() if line.strip()
        }

    def validate(self, password, user=None):
        if password.strip().lower() in self.passwords:
            raise ValidationError("Ce mot de passe est trop courant.", code="password_too_common")

    def get_help_text(self):
        return "Votre mot de passe ne peut pas être un mot de passe couramment utilisé."
