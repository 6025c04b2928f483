"""Move the SEPA creditor of each régie from backend_options (sepa_name, sepa_ics, sepa_iban, sepa_bic)
to the régie's own fields, then drop those keys (the staff form would otherwise keep them forever)."""

import re

from django.db import migrations

KEYS = {"sepa_name": "sepa_creditor_name", "sepa_ics": "sepa_ics", "sepa_iban": "sepa_iban", "sepa_bic": "sepa_bic"}
LIMITS = {"sepa_creditor_name": 70, "sepa_ics": 35, "sepa_iban": 34, "sepa_bic": 11}


def _clean(field, value):
    text = str(value or "").strip()
    if field != "sepa_creditor_name":
        text = re.sub(r"[\s-]+", "", text).upper()  # stored compact, as the staff form stores them
    return text[: LIMITS[field]]


def forwards(apps, schema_editor):
    Regie = apps.get_model("payments", "Regie")
    for regie in Regie.objects.all():
        options = dict(regie.backend_options or {})
        if not any(key in options for key in KEYS):
            continue
        for key, field in KEYS.items():
            value = options.pop(key, None)
            if value and not getattr(regie, field):  # a value typed in the new field wins
                setattr(regie, field, _clean(field, value))
        regie.backend_options = options
        regie.save(update_fields=[*KEYS.values(), "backend_options"])


def backwards(apps, schema_editor):
    Regie = apps.get_model("payments", "Regie")
    for regie in Regie.objects.all():
        options = dict(regie.backend_options or {})
        for key, field in KEYS.items():
            if getattr(regie, field):
                options[key] = getattr(regie, field)
        regie.backend_options = options
        regie.save(update_fields=["backend_options"])


class Migration(migrations.Migration):
    dependencies = [("payments", "0003_regie_issuer_sepa_creditor_direct_debits")]

    operations = [migrations.RunPython(forwards, backwards)]
