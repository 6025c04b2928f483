"""SEPA direct debit: IBAN (schwifty + the French RIB key), ICS, mandates (RUM, one active per régie,
revocation, 36-month lapse), the pain.008.001.02 file (XSD-valid, sums, FRST then RCUR, end-to-end id =
invoice number, 14-day pre-notification) and the staff pages."""

import itertools
import random
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from lxml import etree
from schwifty import IBAN
from sepaxml.validation import try_valid_xml

from portail.accounts import roles
from portail.billing import sepa
from portail.billing.models import Invoice, InvoiceLine, LineKind, MandateStatus, SepaMandate
from portail.core.models import LogEntry
from portail.payments.models import Allocation, AllocationKind
from tests.factories import make_family
from tests.payment_factories import PaymentFactory, RegieFactory, payment_staff

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # generated pain.008 files are kept with their batch


CREDITOR = {
    "name": "Régie Enfance",
    "iban": "FR7630001007941234567890185",
    "bic": "BDFEFRPPCCT",
    "ics": "FR72ZZZ123456",
}
DEBTOR_IBAN = "FR1420041010050500013M02606"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}
_numbers = itertools.count(1)


def today():
    return timezone.localdate()


# --- IBAN, RIB key, ICS ---------------------------------------------------------------------------


def test_the_rib_key_of_a_french_iban_is_checked():
    assert sepa.check_iban("FR76 3000 1007 9412 3456 7890 185") == "FR7630001007941234567890185"
    assert sepa.check_iban("fr14 2004 1010 0505 0001 3m02 606") == DEBTOR_IBAN  # letters in the account
    assert sepa.rib_key("30001", "00794", "12345678901") == 85
    # The same account with key 86 and recomputed ISO check digits: schwifty accepts it, the RIB key does not.
    wrong_key = "FR4930001007941234567890186"
    assert IBAN(wrong_key).compact == wrong_key
    with pytest.raises(sepa.SepaError) as refused:
        sepa.check_iban(wrong_key)
    assert refused.value.code == "iban_rib_key"
    assert "clé RIB" in refused.value.message


@pytest.mark.parametrize(
    ("iban", "code"),
    [
        ("FR7630001007941234567890186", "iban_checksum"),
        ("FR763000100794123456789018", "iban_length"),
        ("XX7630001007941234567890185", "iban_country"),
        ("", "iban_missing"),
    ],
)
def test_a_wrong_iban_is_refused_in_french(iban, code):
    with pytest.raises(sepa.SepaError) as refused:
        sepa.check_iban(iban)
    assert refused.value.code == code


def french_iban(bban: str) -> str:
    """An IBAN with correct ISO 13616 check digits around any French BBAN (right RIB key or not)."""
    digits = "".join(str(int(char, 36)) for char in bban + "FR00")
    return f"FR{98 - int(digits) % 97:02d}{bban}"


def test_the_rib_key_against_generated_accounts():
    draw = random.Random(2026)
    letters = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(200):
        bank = f"{draw.randrange(100000):05d}"
        branch = f"{draw.randrange(100000):05d}"
        account = "".join(draw.choice(letters) for _ in range(11))
        key = sepa.rib_key(bank, branch, account)
        good = french_iban(f"{bank}{branch}{account}{key:02d}")
        # schwifty computes the key when it generates an IBAN: ours agrees.
        assert IBAN.generate("FR", bank_code=bank, branch_code=branch, account_code=account).compact == good
        assert sepa.check_iban(good) == good
        bad = french_iban(f"{bank}{branch}{account}{(key + 1) % 100:02d}")
        assert IBAN(bad).compact == bad  # a valid IBAN for schwifty…
        with pytest.raises(sepa.SepaError):  # …refused by the RIB key
            sepa.check_iban(bad)


def test_the_ics_check_digits():
    assert sepa.check_ics("FR72ZZZ123456") == "FR72ZZZ123456"
    assert sepa.check_ics("fr72 zzz 123456") == "FR72ZZZ123456"
    assert sepa.check_ics("DE98ZZZ09999999999") == "DE98ZZZ09999999999"
    for wrong in ("FR73ZZZ123456", "FR72ZZZ12345", "FR72ZZ123456", ""):
        with pytest.raises(sepa.SepaError):
            sepa.check_ics(wrong)


# --- mandates -------------------------------------------------------------------------------------


@pytest.fixture
def regie():
    return RegieFactory(name="Régie enfance", code="ENF")


@pytest.fixture
def agent():
    return payment_staff(roles.CASHIER)


def household_with_mandate(regie, agent, *, signed_on=None, **kwargs):
    household, guardian, _ = make_family()
    mandate = sepa.create_mandate(
        regie=regie,
        household=household,
        debtor_name=f"Émilie {guardian.last_name}",
        iban=DEBTOR_IBAN,
        bic=kwargs.pop("bic", "PSSTFRPPPAR"),
        signed_on=signed_on or today() - timedelta(days=60),
        actor=agent,
        **kwargs,
    )
    return household, mandate


def test_a_mandate_is_created_checked_and_audited(regie, agent):
    household, mandate = household_with_mandate(regie, agent)
    assert mandate.rum == f"RUMENF{household.reference}01"
    assert (mandate.status, mandate.iban, mandate.bic) == (MandateStatus.ACTIVE, DEBTOR_IBAN, "PSSTFRPPPAR")
    entry = LogEntry.objects.get(action="sepa_mandate.created", household=household)
    assert entry.actor == agent and DEBTOR_IBAN not in str(entry.after)  # the IBAN is masked in the log

    with pytest.raises(sepa.SepaError) as refused:
        sepa.create_mandate(
            regie=regie,
            household=household,
            debtor_name="X",
            iban=DEBTOR_IBAN,
            signed_on=today(),
            actor=agent,
        )
    assert refused.value.code == "mandate_exists"

    sepa.revoke_mandate(mandate=mandate, actor=agent)
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.REVOKED and mandate.revoked_at is not None
    assert LogEntry.objects.filter(action="sepa_mandate.revoked", household=household).exists()
    with pytest.raises(sepa.SepaError):
        sepa.revoke_mandate(mandate=mandate, actor=agent)
    # Revoked: a new one may be signed (new RUM).
    again = sepa.create_mandate(
        regie=regie, household=household, debtor_name="X", iban=DEBTOR_IBAN, signed_on=today(), actor=agent
    )
    assert again.rum == f"RUMENF{household.reference}02"


def test_a_mandate_with_a_wrong_iban_or_rum_is_refused(regie, agent):
    household, _, _ = make_family()
    base = {"regie": regie, "household": household, "debtor_name": "X", "signed_on": today(), "actor": agent}
    with pytest.raises(sepa.SepaError) as refused:
        sepa.create_mandate(iban="FR4930001007941234567890186", **base)
    assert refused.value.code == "iban_rib_key"
    with pytest.raises(sepa.SepaError) as refused:
        sepa.create_mandate(iban=DEBTOR_IBAN, rum="A" * 36, **base)
    assert refused.value.code == "rum_invalid"
    with pytest.raises(sepa.SepaError) as refused:
        sepa.create_mandate(iban=DEBTOR_IBAN, **{**base, "signed_on": today() + timedelta(days=1)})
    assert refused.value.code == "signed_in_future"
    assert not SepaMandate.objects.exists()


def test_a_mandate_lapses_36_months_after_its_last_use():
    mandate = SepaMandate(signed_on=date(2022, 3, 15), status=MandateStatus.ACTIVE)
    assert sepa.mandate_is_usable(mandate, date(2025, 3, 14))
    assert not sepa.mandate_is_usable(mandate, date(2025, 3, 15))
    assert sepa.mandate_state(mandate, date(2025, 3, 15)) == "lapsed"
    assert not sepa.mandate_is_usable(mandate, date(2022, 3, 14))  # before its signature
    mandate.last_collected_on = date(2024, 1, 5)
    assert sepa.mandate_is_usable(mandate, date(2026, 12, 1))
    assert not sepa.mandate_is_usable(mandate, date(2027, 1, 5))
    mandate.status = MandateStatus.REVOKED
    assert sepa.mandate_state(mandate, date(2024, 2, 1)) == "revoked"
    assert not sepa.mandate_is_usable(mandate, date(2024, 2, 1))


# --- the file -------------------------------------------------------------------------------------


def make_invoice(regie, household, total, *, issued_days_ago=20):
    invoice = Invoice.objects.create(
        regie=regie,
        household=household,
        number=f"FENF2026{next(_numbers):06d}",
        issued_at=timezone.now() - timedelta(days=issued_days_ago),
        due_date=today() + timedelta(days=10),
        payer={"name": "Mme Émilie MARTIN"},
        issuer={"name": regie.name},
        total_cents=total,
    )
    InvoiceLine.objects.create(
        invoice=invoice, kind=LineKind.BOOKING, label="Périscolaire", unit_price_cents=total, amount_cents=total
    )
    return invoice


def parse(content: bytes):
    return etree.fromstring(content)


def texts(document, xpath):
    return [node.text for node in document.xpath(xpath, namespaces=NS)]


def test_the_file_validates_against_pain_008_and_its_sums_equal_the_amounts_due(regie, agent):
    first_household, first_mandate = household_with_mandate(regie, agent)
    second_household, _ = household_with_mandate(regie, agent, bic="")  # no BIC: NOTPROVIDED
    a = make_invoice(regie, first_household, 4525)
    b = make_invoice(regie, second_household, 3000)
    partly = PaymentFactory(regie=regie, household=second_household, amount_cents=1000)
    Allocation.objects.create(payment=partly, kind=AllocationKind.INVOICE, amount_cents=1000, label="x", invoice=b)
    collection = today() + timedelta(days=5)

    content = sepa.direct_debit_file(regie, [a, b], collection, CREDITOR)

    try_valid_xml(content, "pain.008.001.02")  # sepaxml validated it already: once more, explicitly
    document = parse(content)
    assert texts(document, "//p:GrpHdr/p:NbOfTxs") == ["2"]
    assert texts(document, "//p:GrpHdr/p:CtrlSum") == ["65.25"]  # 45.25 + (30.00 − 10.00 paid)
    assert sorted(texts(document, "//p:DrctDbtTxInf/p:InstdAmt")) == ["20.00", "45.25"]
    assert sorted(texts(document, "//p:EndToEndId")) == sorted([a.number, b.number])
    assert texts(document, "//p:PmtInf/p:PmtTpInf/p:SeqTp") == ["FRST"]
    assert texts(document, "//p:PmtInf/p:ReqdColltnDt") == [collection.isoformat()]
    assert texts(document, "//p:CdtrSchmeId//p:Othr/p:Id") == ["FR72ZZZ123456"]
    assert first_mandate.rum in texts(document, "//p:MndtId")
    assert first_mandate.signed_on.isoformat() in texts(document, "//p:DtOfSgntr")
    assert "NOTPROVIDED" in texts(document, "//p:DbtrAgt//p:Id")
    assert all(name.startswith("Emilie") for name in texts(document, "//p:Dbtr/p:Nm"))  # transliterated
    # Making the file writes nothing.
    first_mandate.refresh_from_db()
    assert first_mandate.last_collected_on is None


def test_the_first_collection_is_frst_and_the_next_ones_rcur(regie, agent):
    household, mandate = household_with_mandate(regie, agent)
    january = make_invoice(regie, household, 2000, issued_days_ago=40)
    collection = today() + timedelta(days=3)

    content = sepa.generate_collection(
        regie=regie, invoices=[january], collection_date=collection, creditor=CREDITOR, actor=agent
    ).content

    assert texts(parse(content), "//p:SeqTp") == ["FRST"]
    mandate.refresh_from_db()
    assert mandate.last_collected_on == collection
    assert LogEntry.objects.filter(action=sepa.DEBIT_ACTION, object_id=str(january.pk)).count() == 1

    february = make_invoice(regie, household, 2500, issued_days_ago=20)
    ready, refused = sepa.collectable_invoices(regie, collection + timedelta(days=30))
    assert [(d.invoice, d.sequence, d.amount_cents) for d in ready] == [(february, "RCUR", 2500)]
    assert refused == []  # January is in a file already: no longer offered
    content = sepa.direct_debit_file(regie, [february], collection + timedelta(days=30), CREDITOR)
    assert texts(parse(content), "//p:SeqTp") == ["RCUR"]
    with pytest.raises(sepa.SepaError) as refused_again:
        sepa.direct_debit_file(regie, [january], collection + timedelta(days=30), CREDITOR)
    assert "déjà dans un fichier" in refused_again.value.message


def test_a_lapsed_mandate_is_refused(regie, agent):
    household, mandate = household_with_mandate(regie, agent, signed_on=today() - timedelta(days=37 * 31))
    invoice = make_invoice(regie, household, 2000)

    with pytest.raises(sepa.SepaError) as refused:
        sepa.direct_debit_file(regie, [invoice], today() + timedelta(days=5), CREDITOR)
    assert "caduc" in refused.value.message
    ready, refused_list = sepa.collectable_invoices(regie, today() + timedelta(days=5))
    assert ready == [] and "caduc" in refused_list[0][1]


def test_a_collection_date_less_than_14_days_after_the_issue_is_refused(regie, agent):
    household, _ = household_with_mandate(regie, agent)
    invoice = make_invoice(regie, household, 2000, issued_days_ago=5)
    earliest = timezone.localdate(invoice.issued_at) + timedelta(days=14)

    with pytest.raises(sepa.SepaError) as refused:
        sepa.direct_debit_file(regie, [invoice], earliest - timedelta(days=1), CREDITOR)
    assert "pré-notification" in refused.value.message
    assert sepa.direct_debit_file(regie, [invoice], earliest, CREDITOR).startswith(b"<?xml")


def test_paid_revoked_or_past_collections_are_refused(regie, agent):
    household, mandate = household_with_mandate(regie, agent)
    invoice = make_invoice(regie, household, 2000)
    with pytest.raises(sepa.SepaError) as refused:
        sepa.direct_debit_file(regie, [invoice], today(), CREDITOR)
    assert "postérieure à aujourd'hui" in refused.value.message

    paid = make_invoice(regie, household, 1000)
    payment = PaymentFactory(regie=regie, household=household, amount_cents=1000)
    Allocation.objects.create(payment=payment, kind=AllocationKind.INVOICE, amount_cents=1000, label="x", invoice=paid)
    with pytest.raises(sepa.SepaError) as refused:
        sepa.direct_debit_file(regie, [paid], today() + timedelta(days=5), CREDITOR)
    assert "déjà payée" in refused.value.message

    sepa.revoke_mandate(mandate=mandate, actor=agent)
    with pytest.raises(sepa.SepaError) as refused:
        sepa.direct_debit_file(regie, [invoice], today() + timedelta(days=5), CREDITOR)
    assert "pas de mandat" in refused.value.message


def set_creditor(regie, **overrides):
    values = {
        "sepa_creditor_name": "",
        "sepa_ics": CREDITOR["ics"],
        "sepa_iban": CREDITOR["iban"],
        "sepa_bic": CREDITOR["bic"],
        **overrides,
    }
    for name, value in values.items():
        setattr(regie, name, value)
    regie.save()
    return regie


def test_the_creditor_comes_from_the_regies_fields_only(regie, settings):
    # The former settings fallback is gone: a creditor set there is ignored.
    settings.PORTAIL_SEPA_CREDITOR = {"ENF": CREDITOR}
    with pytest.raises(sepa.SepaError) as refused:
        sepa.creditor_for(regie)
    assert refused.value.code == "no_creditor"
    set_creditor(regie, sepa_bic="")  # incomplete: still refused
    with pytest.raises(sepa.SepaError):
        sepa.creditor_for(regie)
    set_creditor(regie)
    assert sepa.creditor_for(regie) == {**CREDITOR, "name": "Régie enfance"}  # no creditor name: the régie's
    set_creditor(regie, sepa_creditor_name="REGIE ENFANCE VILLE")
    assert sepa.creditor_for(regie)["name"] == "REGIE ENFANCE VILLE"
    with pytest.raises(sepa.SepaError):
        sepa.direct_debit_file(regie, [], today() + timedelta(days=5), {**CREDITOR, "ics": "FR73ZZZ123456"})


# --- staff pages ----------------------------------------------------------------------------------


def test_staff_generate_the_file_from_the_preview(client, regie, agent):
    set_creditor(regie)
    household, mandate = household_with_mandate(regie, agent)
    invoice = make_invoice(regie, household, 4525)
    collection = (today() + timedelta(days=5)).isoformat()
    client.force_login(agent)
    url = reverse("backoffice:sepa_collection")

    preview = client.get(url, {"regie": regie.pk, "date_prelevement": collection})
    assert preview.status_code == 200
    content = preview.content.decode()
    assert invoice.number in content and "45,25 €" in content and "FRST" in content

    response = client.post(url, {"regie": regie.pk, "date_prelevement": collection, "factures": [invoice.pk]})
    assert response.status_code == 200 and response["Content-Type"] == "application/xml"
    assert "prelevement-ENF-" in response["Content-Disposition"]
    assert texts(parse(response.content), "//p:EndToEndId") == [invoice.number]
    mandate.refresh_from_db()
    assert mandate.last_collected_on is not None

    again = client.post(url, {"regie": regie.pk, "date_prelevement": collection, "factures": [invoice.pk]})
    assert again.status_code == 200 and "déjà dans un fichier" in again.content.decode()


def test_staff_record_and_revoke_a_households_mandate(client, regie, agent):
    household, guardian, _ = make_family()
    client.force_login(agent)
    url = reverse("backoffice:household_mandates", args=[household.pk])
    assert client.get(url).status_code == 200

    form = {"regie": regie.pk, "debtor_name": guardian.full_name, "iban": "FR4930001007941234567890186"}
    form["signed_on"] = today().isoformat()
    refused = client.post(url, form)
    assert refused.status_code == 200 and "clé RIB" in refused.content.decode()

    assert client.post(url, {**form, "iban": DEBTOR_IBAN}).status_code == 302
    mandate = SepaMandate.objects.get(household=household)
    assert mandate.iban == DEBTOR_IBAN and mandate.rum.startswith("RUMENF")
    assert mandate.rum in client.get(url).content.decode()

    other_household, _, _ = make_family()
    foreign = reverse("backoffice:mandate_revoke", args=[other_household.pk, mandate.pk])
    assert client.post(foreign).status_code == 404
    assert client.post(reverse("backoffice:mandate_revoke", args=[household.pk, mandate.pk])).status_code == 302
    mandate.refresh_from_db()
    assert mandate.status == MandateStatus.REVOKED


def test_sepa_and_mandates_need_the_change_payment_permission(client, regie):
    household, _, _ = make_family()
    client.force_login(payment_staff(roles.MANAGER))  # may see payments, not change them
    assert client.get(reverse("backoffice:sepa_collection")).status_code == 403
    assert client.get(reverse("backoffice:household_mandates", args=[household.pk])).status_code == 403
