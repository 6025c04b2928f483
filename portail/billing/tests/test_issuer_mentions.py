"""Issuer mentions and SEPA creditor as model fields: the town's SIRET (Luhn key), the régie's
ordonnateur (name, quality) and SEPA creditor (ICS, IBAN with the RIB key, BIC), edited by staff on
the régie's page (audited), moved from backend_options by a data migration, copied by the issue
snapshot and printed on the invoice and the credit note (ICS and RUM for households under a mandate)."""

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from portail.accounts import roles
from portail.billing import invoice_pdf, sepa
from portail.billing.invoicing import issuer_snapshot
from portail.billing.tests.factories import make_credit_note, make_invoice, make_regie
from portail.core.models import LogEntry
from portail.demo import payments as demo_payments
from portail.organisations.models import validate_siret
from portail.payments.models import Means
from tests.factories import TownFactory, make_family
from tests.payment_factories import payment_staff

pytestmark = pytest.mark.django_db

SIRET = "21990001600011"
ICS = "FR72ZZZ123456"
IBAN = "FR7630001007941234567890185"
BIC = "BDFEFRPPCCT"
DEBTOR_IBAN = "FR1420041010050500013M02606"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def regie():
    town = TownFactory(name="Ville-Fleurie", address="1 place de la Mairie", postcode="99100", city="Ville-Fleurie")
    town.siret = SIRET
    town.save()
    return make_regie(
        town=town,
        name="Régie Enfance",
        accepted_means=[Means.ONLINE, Means.CHEQUE, Means.DIRECT_DEBIT],
        issuer_name="Mme Claire Martin",
        issuer_quality="Maire",
        sepa_creditor_name="REGIE ENFANCE VILLE FLEURIE",
        sepa_ics=ICS,
        sepa_iban=IBAN,
        sepa_bic=BIC,
    )


# --- validation -------------------------------------------------------------------------------------


def test_the_siret_has_14_digits_and_a_valid_luhn_key():
    validate_siret(SIRET)
    validate_siret("35600000000001")  # La Poste: digit sum multiple of 5, not Luhn
    for wrong in ("21990001600012", "2199000160001", "2199000160001A", "21990001700011"):
        with pytest.raises(ValidationError):
            validate_siret(wrong)
    town = TownFactory()
    town.siret = ""
    town.full_clean()  # blank allowed
    town.siret = "21990001600012"
    with pytest.raises(ValidationError) as refused:
        town.full_clean()
    assert "siret" in refused.value.message_dict


def test_the_regies_creditor_fields_use_the_sepa_checks(regie):
    regie.full_clean()
    for field, wrong, words in (
        ("sepa_ics", "FR73ZZZ123456", "ICS"),
        ("sepa_iban", "FR4930001007941234567890186", "clé RIB"),  # ISO check digits fine, RIB key wrong
        ("sepa_bic", "BDF", "BIC"),
    ):
        original = getattr(regie, field)
        setattr(regie, field, wrong)
        with pytest.raises(ValidationError) as refused:
            regie.full_clean()
        assert words in " ".join(refused.value.message_dict[field])
        setattr(regie, field, original)
    regie.sepa_bic = ""  # the three go together
    with pytest.raises(ValidationError) as refused:
        regie.full_clean()
    assert "ensemble" in str(refused.value)


def test_the_demo_values_are_valid():
    validate_siret(demo_payments.DEMO_TOWN_SIRET)
    for spec in demo_payments.REGIES:
        assert sepa.check_ics(spec["sepa_ics"]) == spec["sepa_ics"]
        assert sepa.check_iban(spec["sepa_iban"]) == spec["sepa_iban"]
        assert sepa.check_bic(spec["sepa_bic"]) == spec["sepa_bic"]
        assert spec["issuer_name"] and spec["issuer_quality"]


# --- staff editing ------------------------------------------------------------------------------------


def regie_form(regie, **overrides):
    data = {
        "name": regie.name,
        "code": regie.code,
        "is_active": "on",
        "contact": regie.contact,
        "accepted_means": ["cheque", "sepa"],
        "receipt_prefix": regie.receipt_prefix,
        "backend": "",
        "options_backend": "",
        "test_mode": "on",
        "lock_minutes": "30",
        "hold_minutes": "15",
        "issuer_name": "Mme Claire Martin",
        "issuer_quality": "par délégation, l'adjoint aux finances",
        "sepa_creditor_name": "",
        "sepa_ics": "fr72 zzz 123456",
        "sepa_iban": "FR76 3000 1007 9412 3456 7890 185",
        "sepa_bic": "bdefrppcct",
    }
    data.update(overrides)
    return data


def test_staff_edit_the_mentions_and_the_creditor_on_the_regie_page(client):
    regie = make_regie(backend="", accepted_means=[Means.CHEQUE])
    client.force_login(payment_staff(roles.ADMINISTRATOR))
    url = reverse("backoffice:regie_edit", args=[regie.pk])
    page = client.get(url).content.decode()
    assert "Nom de l&#x27;ordonnateur" in page or "Nom de l'ordonnateur" in page
    assert "ICS" in page

    refused = client.post(url, regie_form(regie, sepa_iban="FR49 3000 1007 9412 3456 7890 186"))
    assert refused.status_code == 200 and "clé RIB" in refused.content.decode()
    regie.refresh_from_db()
    assert regie.sepa_iban == ""

    response = client.post(url, regie_form(regie, sepa_bic="BDFEFRPPCCT"))
    assert response.status_code == 302, response.context["form"].errors
    regie.refresh_from_db()
    assert (regie.sepa_ics, regie.sepa_iban, regie.sepa_bic) == (ICS, IBAN, BIC)  # stored compact
    assert regie.issuer_quality == "par délégation, l'adjoint aux finances"
    entry = LogEntry.objects.get(action="regie.changed", object_id=str(regie.pk))
    assert entry.after["sepa_ics"] == ICS and entry.after["issuer_name"] == "Mme Claire Martin"


# --- data migration -----------------------------------------------------------------------------------


def test_the_data_migration_moves_the_backend_options_into_the_fields():
    migration = importlib.import_module("portail.payments.migrations.0004_sepa_creditor_from_backend_options")
    old = make_regie(
        code="OLD",
        backend="payfip_ws",
        backend_options={
            "numcli": "654321",
            "sepa_name": "Régie ancienne",
            "sepa_ics": "fr72zzz123456",
            "sepa_iban": "FR76 3000 1007 9412 3456 7890 185",
            "sepa_bic": BIC,
        },
    )
    untouched = make_regie(code="NEW", backend="dummy", backend_options={})
    migration.forwards(apps, None)
    old.refresh_from_db()
    assert old.backend_options == {"numcli": "654321"}
    assert (old.sepa_creditor_name, old.sepa_ics, old.sepa_iban, old.sepa_bic) == ("Régie ancienne", ICS, IBAN, BIC)
    assert sepa.creditor_for(old) == {"name": "Régie ancienne", "ics": ICS, "iban": IBAN, "bic": BIC}
    untouched.refresh_from_db()
    assert untouched.sepa_ics == "" and untouched.backend_options == {}
    migration.backwards(apps, None)
    old.refresh_from_db()
    assert old.backend_options["sepa_ics"] == ICS


# --- snapshot and documents -------------------------------------------------------------------------------


def test_the_issue_snapshot_copies_the_mentions(regie):
    snapshot = issuer_snapshot(regie)
    assert snapshot["town"]["siret"] == SIRET
    assert (snapshot["issuer_name"], snapshot["issuer_quality"]) == ("Mme Claire Martin", "Maire")
    assert snapshot["regie"]["ics"] == ICS
    assert (snapshot["regie"]["iban"], snapshot["regie"]["bic"]) == (IBAN, BIC)
    assert snapshot["regie"]["creditor_name"] == "REGIE ENFANCE VILLE FLEURIE"
    # A snapshot is a copy: changing the régie later does not change an issued invoice's issuer.
    household, _, _ = make_family()
    invoice = make_invoice(household, regie)
    invoice.issuer = snapshot  # as issued (the factory adds its own ordonnateur)
    regie.issuer_name = "M. Autre"
    regie.save()
    assert invoice_pdf.issuer_of(invoice)["issuer_name"] == "Mme Claire Martin"


def test_the_invoice_shows_the_issuer_and_for_a_mandate_the_ics_and_the_rum(regie):
    agent = payment_staff(roles.CASHIER)
    debited, guardian, _ = make_family()
    mandate = sepa.create_mandate(
        regie=regie,
        household=debited,
        debtor_name=guardian.full_name,
        iban=DEBTOR_IBAN,
        signed_on=timezone.localdate() - dt.timedelta(days=30),
        actor=agent,
    )
    other, _, _ = make_family()
    with_mandate = make_invoice(debited, regie)
    without = make_invoice(other, regie)
    for invoice in (with_mandate, without):
        # What the issuing run stores (the test factory adds its own ordonnateur).
        type(invoice).objects.filter(pk=invoice.pk).update(issuer=issuer_snapshot(regie))
        invoice.refresh_from_db()

    html = invoice_pdf.invoice_html(with_mandate)
    for mention in ("Ville-Fleurie", "1 place de la Mairie", f"SIRET {SIRET}", "Régie Enfance"):
        assert mention in html
    assert "Mme Claire Martin" in html and "Maire" in html
    assert mandate.rum in html and ICS in html and "REGIE ENFANCE VILLE FLEURIE" in html

    plain = invoice_pdf.invoice_html(without)
    assert f"SIRET {SIRET}" in plain and "Mme Claire Martin" in plain
    assert ICS not in plain and "RUM" not in plain
    assert invoice_pdf.invoice_pdf(with_mandate).startswith(b"%PDF")

    credit_note = make_credit_note(with_mandate, 300)
    type(credit_note).objects.filter(pk=credit_note.pk).update(issuer=issuer_snapshot(regie))
    credit_note.refresh_from_db()
    html = invoice_pdf.credit_note_html(credit_note)
    assert f"SIRET {SIRET}" in html and "Mme Claire Martin" in html and "Régie Enfance" in html
    assert mandate.rum in html and ICS in html
    other_note = make_credit_note(without, 100)
    assert "RUM" not in invoice_pdf.credit_note_html(other_note)


def test_a_mandate_signed_after_the_issue_is_not_printed(regie):
    agent = payment_staff(roles.CASHIER)
    household, guardian, _ = make_family()
    invoice = make_invoice(household, regie, issued_at=timezone.now() - dt.timedelta(days=10))
    mandate = sepa.create_mandate(
        regie=regie,
        household=household,
        debtor_name=guardian.full_name,
        iban=DEBTOR_IBAN,
        signed_on=timezone.localdate(),
        actor=agent,
    )
    assert mandate.rum not in invoice_pdf.invoice_html(invoice)  # the PDF reads the same whenever rendered
