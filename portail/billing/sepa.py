"""SEPA direct debit (prélèvement) for households that signed a mandate (PAYMENTS.md §3.5).

- **IBAN**: `check_iban` validates with schwifty (country, length, ISO 13616 check digits, SEPA zone)
  and adds the French **RIB key** check for FR (and MC) IBANs, which schwifty does not do by default:
  key = 97 − ((89 × bank + 15 × branch + 3 × account) mod 97), letters of the account mapped
  A/J=1, B/K/S=2, C/L/T=3, … I/R/Z=9. Errors are French, ready to show.
- **ICS** (identifiant créancier SEPA): ISO 7064 mod 97-10 over the national identifier followed by
  the country code and "00", the 3-character business code skipped (FR72ZZZ123456 is valid).
- **Mandates**: one active mandate per household and régie, RUM unique per régie (generated when not
  given), signature date, debtor IBAN (BIC optional: the file then says NOTPROVIDED, as EPC allows).
  A mandate is *revoked* (by the family or staff, any time) or *lapsed*: 36 months after its last
  collection, or after its signature when never used (Banque de France). Created and revoked through
  the services below, each audited with log_action.
- **The file**: pain.008.001.02 built by sepaxml and validated against its XSD (`validate=True`).
  Amounts are integer cents: what is still due on each invoice (total − allocations of PAID
  payments). One transaction per invoice, end-to-end id = the invoice number; sequence FRST when the
  mandate was never collected, RCUR after (every invoice of a mandate's first file is FRST). The
  collection date must be at least 14 calendar days after each invoice's issue date (the invoice
  is the pre-notification) and after today. Anything wrong refuses the whole file, with every reason.
- `generate_collection` makes the file *and* records it: a payments.DirectDebitBatch (the file, its
  SHA-256 and message id) with one DirectDebit per invoice (status "submitted"), each mandate's
  `last_collected_on` set to the collection date (so the next file is RCUR and the 36 months
  restart) and an audit entry "sepa.debit_requested" per invoice. An invoice in a submitted debit
  is in no other file (also a partial unique constraint) and the family cannot pay it online
  (portail.payments.invoice_payment). What happens next (collected, rejected) is
  portail.payments.direct_debits.

**Creditor** (`creditor_for`): the régie's fields sepa_creditor_name (else the régie's name),
sepa_ics, sepa_iban, sepa_bic, edited by staff on the régie's page (validated there, audited). The
former settings.PORTAIL_SEPA_CREDITOR fallback is gone: one creditor per régie, visible where it
is edited and the same one printed on the invoices (issuer snapshot). All are checked again
before a file is made.
"""

import calendar
import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from schwifty import BIC, IBAN
from schwifty import exceptions as schwifty_errors
from sepaxml import SepaDD
from sepaxml.validation import ValidationError as SepaSchemaError
from text_unidecode import unidecode

from portail.core.audit import log_action
from portail.core.models import Channel, LogEntry

from .errors import BillingError
from .exports import paid_cents_by_invoice
from .models import Invoice, MandateStatus, SepaMandate

MANDATE_LIFETIME_MONTHS = 36
PRE_NOTIFICATION_DAYS = 14
SCHEMA = "pain.008.001.02"
FIRST, RECURRING = "FRST", "RCUR"
DEBIT_ACTION = "sepa.debit_requested"
RIB_COUNTRIES = {"FR", "MC"}  # same BBAN: bank 5, branch 5, account 11, RIB key 2


class SepaError(BillingError):
    """A SEPA rule refused the operation; `problems` lists every reason (French, safe to show)."""

    def __init__(self, message: str, *, code: str = "invalid", problems: list[str] | None = None):
        super().__init__(message, code=code)
        self.problems = problems or [message]


# --- IBAN, BIC, ICS, RUM -------------------------------------------------------------------------

_RIB_LETTERS = {letter: str(value) for value, letters in enumerate(("AJ", "BKS", "CLT", "DMU", "ENV", "FOW", "GPX", "HQY", "IRZ"), start=1) for letter in letters}  # fmt: skip


def _rib_digits(value: str) -> int:
    return int("".join(_RIB_LETTERS.get(char, char) for char in value))


def rib_key(bank: str, branch: str, account: str) -> int:
    """The French RIB key of a bank, branch and account code (letters of the account mapped to digits)."""
    return 97 - ((89 * _rib_digits(bank) + 15 * _rib_digits(branch) + 3 * _rib_digits(account)) % 97)


def _compact(value: str) -> str:
    return re.sub(r"[\s-]+", "", value or "").upper()


def check_iban(iban: str) -> str:
    """The IBAN, compact and upper-case, or SepaError with a French message."""
    value = _compact(iban)
    if not value:
        raise SepaError("Indiquez l'IBAN du compte à prélever.", code="iban_missing")
    try:
        parsed = IBAN(value)
    except schwifty_errors.InvalidCountryCode as error:
        raise SepaError(
            "Pays de l'IBAN inconnu : vérifiez les deux lettres du début (FR pour la France).", code="iban_country"
        ) from error
    except schwifty_errors.InvalidLength as error:
        raise SepaError(
            "L'IBAN n'a pas la bonne longueur pour ce pays : vérifiez sa saisie.", code="iban_length"
        ) from error
    except schwifty_errors.InvalidStructure as error:
        raise SepaError(
            "L'IBAN contient des caractères invalides : vérifiez sa saisie.", code="iban_structure"
        ) from error
    except schwifty_errors.InvalidChecksumDigits as error:
        raise SepaError(
            "Les chiffres de contrôle de l'IBAN (3e et 4e caractères) ne correspondent pas : vérifiez sa saisie.",
            code="iban_checksum",
        ) from error
    except schwifty_errors.SchwiftyException as error:
        raise SepaError("IBAN invalide : vérifiez sa saisie.", code="iban_invalid") from error
    if not parsed.in_sepa_zone:
        raise SepaError("Ce compte n'est pas dans la zone SEPA : il ne peut pas être prélevé.", code="iban_not_sepa")
    compact = parsed.compact
    if compact[:2] in RIB_COUNTRIES:
        bban = compact[4:]
        bank, branch, account, key = bban[:5], bban[5:10], bban[10:21], bban[21:23]
        if (
            not key.isdigit()
            or not re.fullmatch(r"[0-9A-Z]{21}", bban[:21])
            or rib_key(bank, branch, account) != int(key)
        ):
            raise SepaError(
                "La clé RIB de l'IBAN (ses deux derniers chiffres) ne correspond pas au compte : vérifiez sa saisie.",
                code="iban_rib_key",
            )
    return compact


def check_bic(bic: str) -> str:
    """The BIC (8 or 11 characters), upper-case, or SepaError."""
    value = _compact(bic)
    try:
        return BIC(value).compact
    except schwifty_errors.SchwiftyException as error:
        raise SepaError("BIC invalide : 8 ou 11 caractères, par exemple BNPAFRPPXXX.", code="bic_invalid") from error


def _iso7064_check_digits(national: str, country: str) -> str:
    digits = "".join(str(int(char, 36)) for char in national + country + "00")
    return f"{98 - int(digits) % 97:02d}"


def check_ics(ics: str) -> str:
    """The creditor identifier (ICS), compact, or SepaError. France: FRkkZZZnnnnnn (13 characters)."""
    value = _compact(ics)
    match = re.fullmatch(r"([A-Z]{2})(\d{2})([0-9A-Z]{3})([0-9A-Z]{1,28})", value)
    if match is None:
        raise SepaError("Identifiant créancier SEPA (ICS) invalide : il a la forme FR12ZZZ123456.", code="ics_format")
    country, check, _business, national = match.groups()
    if country == "FR" and len(value) != 13:
        raise SepaError("Un ICS français compte 13 caractères (FR12ZZZ123456).", code="ics_length")
    if _iso7064_check_digits(national, country) != check:
        raise SepaError(
            "Les chiffres de contrôle de l'ICS (3e et 4e caractères) ne correspondent pas : vérifiez sa saisie.",
            code="ics_checksum",
        )
    return value


_RUM = re.compile(r"[A-Za-z0-9+?/:().,' -]{1,35}")


def check_rum(rum: str) -> str:
    value = (rum or "").strip()
    if not _RUM.fullmatch(value) or value.startswith("/") or "//" in value:
        raise SepaError(
            "La RUM compte au plus 35 caractères : lettres, chiffres, espace et + ? / : ( ) . , ' -",
            code="rum_invalid",
        )
    return value


# --- mandates ------------------------------------------------------------------------------------


def _add_months(day: date, months: int) -> date:
    years, month = divmod(day.month - 1 + months, 12)
    year = day.year + years
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def mandate_lapses_on(mandate) -> date:
    """The day the mandate lapses: 36 months after its last collection (its signature if never used)."""
    return _add_months(mandate.last_collected_on or mandate.signed_on, MANDATE_LIFETIME_MONTHS)


def mandate_state(mandate, on_date: date) -> str:
    """ "active", "revoked" or "lapsed" on `on_date`."""
    if mandate.status != MandateStatus.ACTIVE:
        return "revoked"
    if on_date >= mandate_lapses_on(mandate):
        return "lapsed"
    return "active"


def mandate_is_usable(mandate, on_date: date) -> bool:
    """A debit may be collected on `on_date` under this mandate: active, signed, not lapsed."""
    return mandate_state(mandate, on_date) == "active" and on_date >= mandate.signed_on


def _masked(iban: str) -> str:
    return f"{iban[:4]}…{iban[-4:]}" if len(iban) > 8 else iban


def _new_rum(regie, household) -> str:
    base = re.sub(r"[^A-Za-z0-9]", "", f"RUM{regie.code}{household.reference}")[:30]
    taken = set(SepaMandate.objects.filter(regie=regie, rum__startswith=base).values_list("rum", flat=True))
    n = 1
    while f"{base}{n:02d}" in taken:
        n += 1
    return f"{base}{n:02d}"


def create_mandate(
    *,
    regie,
    household,
    debtor_name: str,
    iban: str,
    signed_on: date,
    bic: str = "",
    rum: str = "",
    actor,
    channel: str = Channel.STAFF,
) -> SepaMandate:
    """A new active mandate (the household's previous one for this régie must be revoked first)."""
    debtor_name = " ".join((debtor_name or "").split())
    if not debtor_name:
        raise SepaError("Indiquez le titulaire du compte.", code="debtor_missing")
    if len(debtor_name) > 140:
        raise SepaError("Le nom du titulaire compte au plus 140 caractères.", code="debtor_too_long")
    iban = check_iban(iban)
    bic = check_bic(bic) if (bic or "").strip() else ""
    if signed_on > timezone.localdate():
        raise SepaError("La date de signature ne peut pas être dans le futur.", code="signed_in_future")
    with transaction.atomic():
        if (
            SepaMandate.objects.select_for_update()
            .filter(regie=regie, household=household, status=MandateStatus.ACTIVE)
            .exists()
        ):
            raise SepaError(
                f"Ce foyer a déjà un mandat actif pour la régie « {regie.name} » : révoquez-le avant d'en créer un autre.",
                code="mandate_exists",
            )
        rum = check_rum(rum) if (rum or "").strip() else _new_rum(regie, household)
        if SepaMandate.objects.filter(regie=regie, rum=rum).exists():
            raise SepaError(f"La RUM {rum} est déjà utilisée par un autre mandat de cette régie.", code="rum_taken")
        mandate = SepaMandate.objects.create(
            regie=regie,
            household=household,
            rum=rum,
            debtor_name=debtor_name,
            iban=iban,
            bic=bic,
            signed_on=signed_on,
        )
        log_action(
            actor=actor,
            channel=channel,
            action="sepa_mandate.created",
            obj=mandate,
            household=household,
            after={"rum": rum, "regie": regie.code, "iban": _masked(iban), "bic": bic, "signed_on": signed_on},
            message=f"Mandat de prélèvement {rum} enregistré",
        )
    return mandate


def revoke_mandate(*, mandate, actor, channel: str = Channel.STAFF, reason: str = "") -> SepaMandate:
    with transaction.atomic():
        mandate = SepaMandate.objects.select_for_update().get(pk=mandate.pk)
        if mandate.status != MandateStatus.ACTIVE:
            raise SepaError("Ce mandat est déjà révoqué.", code="already_revoked")
        mandate.status = MandateStatus.REVOKED
        mandate.revoked_at = timezone.now()
        mandate.save(update_fields=["status", "revoked_at"])
        log_action(
            actor=actor,
            channel=channel,
            action="sepa_mandate.revoked",
            obj=mandate,
            household=mandate.household,
            before={"status": MandateStatus.ACTIVE},
            after={"status": MandateStatus.REVOKED},
            message=reason or f"Mandat de prélèvement {mandate.rum} révoqué",
        )
    return mandate


# --- the creditor --------------------------------------------------------------------------------


def creditor_for(regie) -> dict:
    """{"name", "iban", "bic", "ics"} of the régie as SEPA creditor, from its fields (see the module
    docstring); SepaError "no_creditor" when they are not all filled in."""
    if not (regie.sepa_ics and regie.sepa_iban and regie.sepa_bic):
        raise SepaError(
            f"Les coordonnées de créancier SEPA de la régie « {regie.name} » (ICS, IBAN et BIC du compte DFT) "
            "ne sont pas renseignées : un administrateur doit les indiquer sur la page de la régie.",
            code="no_creditor",
        )
    return {
        "name": regie.sepa_creditor_name or regie.name,
        "iban": regie.sepa_iban,
        "bic": regie.sepa_bic,
        "ics": regie.sepa_ics,
    }


def _checked_creditor(creditor: dict) -> dict:
    missing = [key for key in ("name", "iban", "bic", "ics") if not (creditor or {}).get(key)]
    if missing:
        raise SepaError(f"Coordonnées du créancier incomplètes : {', '.join(missing)}.", code="creditor_incomplete")
    return {
        "name": creditor["name"],
        "iban": check_iban(creditor["iban"]),
        "bic": check_bic(creditor["bic"]),
        "ics": check_ics(creditor["ics"]),
    }


# --- the debits ----------------------------------------------------------------------------------


@dataclass
class Debit:
    invoice: Invoice
    mandate: SepaMandate
    amount_cents: int
    sequence: str  # FRST | RCUR


def earliest_collection_date(invoice) -> date:
    """The invoice is the pre-notification: no collection before 14 days after its issue."""
    return timezone.localdate(invoice.issued_at) + timedelta(days=PRE_NOTIFICATION_DAYS)


def _collected_invoice_ids(invoice_ids) -> set[int]:
    """Invoices already in a file: a submitted or collected DirectDebit (a rejected one may be
    debited again), or an audit entry of a file made before debits were recorded (no "batch")."""
    from portail.payments.models import DebitStatus, DirectDebit

    ids = [int(pk) for pk in invoice_ids]
    debited = set(
        DirectDebit.objects.filter(
            invoice_id__in=ids, status__in=(DebitStatus.SUBMITTED, DebitStatus.COLLECTED)
        ).values_list("invoice_id", flat=True)
    )
    legacy = (
        LogEntry.objects.filter(
            action=DEBIT_ACTION, object_type=Invoice._meta.label, object_id__in=[str(pk) for pk in ids]
        )
        .exclude(after__has_key="batch")
        .values_list("object_id", flat=True)
    )
    return debited | {int(pk) for pk in legacy}


def _paying_online_invoice_ids(invoice_ids) -> set[int]:
    """Invoices a family is paying online right now (an open attempt within its lock time): debiting
    them too could make them paid twice."""
    from portail.payments.invoice_payment import open_invoices_attempts

    return set(
        open_invoices_attempts(invoice_ids, timezone.now()).values_list("payment__allocations__invoice_id", flat=True)
    )


def _invoice_problem(invoice, regie, mandate, due: int, collection_date: date) -> str:
    if invoice.regie_id != regie.pk:
        return f"La facture {invoice.number} n'est pas une facture de la régie « {regie.name} »."
    if invoice.transferred_at is not None:
        return f"La facture {invoice.number} a été transmise au Trésor public : la régie ne l'encaisse plus."
    if due <= 0:
        return f"La facture {invoice.number} est déjà payée."
    earliest = earliest_collection_date(invoice)
    if collection_date < earliest:
        return (
            f"La facture {invoice.number} a été émise le {timezone.localdate(invoice.issued_at):%d/%m/%Y} : "
            f"elle ne peut être prélevée qu'à partir du {earliest:%d/%m/%Y} (pré-notification de "
            f"{PRE_NOTIFICATION_DAYS} jours)."
        )
    if mandate is None:
        return (
            f"Le foyer {invoice.household.reference} (facture {invoice.number}) n'a pas de mandat de prélèvement actif."
        )
    if not mandate_is_usable(mandate, collection_date):
        if collection_date < mandate.signed_on:
            return f"Le mandat {mandate.rum} n'est signé que le {mandate.signed_on:%d/%m/%Y}."
        return (
            f"Le mandat {mandate.rum} du foyer {invoice.household.reference} est caduc (aucun prélèvement depuis "
            f"{MANDATE_LIFETIME_MONTHS} mois) : faites signer un nouveau mandat."
        )
    return ""


def _debits(regie, invoices, collection_date: date, *, strict: bool) -> tuple[list[Debit], list[tuple]]:
    invoices = list(invoices)
    ids = [invoice.pk for invoice in invoices]
    paid = paid_cents_by_invoice(ids)
    mandates = {
        mandate.household_id: mandate
        for mandate in SepaMandate.objects.filter(
            regie=regie, status=MandateStatus.ACTIVE, household_id__in={i.household_id for i in invoices}
        )
    }
    collected = _collected_invoice_ids(ids)
    paying = _paying_online_invoice_ids(ids)
    debits, refused, seen = [], [], set()
    for invoice in invoices:
        mandate = mandates.get(invoice.household_id)
        due = invoice.total_cents - paid.get(invoice.pk, 0)
        problem = _invoice_problem(invoice, regie, mandate, due, collection_date)
        if not problem and (invoice.pk in collected or invoice.pk in seen):
            problem = f"La facture {invoice.number} est déjà dans un fichier de prélèvement."
        if not problem and invoice.pk in paying:
            problem = f"Un paiement en ligne de la facture {invoice.number} est en cours : attendez sa réponse."
        if problem:
            refused.append((invoice, problem))
            continue
        seen.add(invoice.pk)
        sequence = FIRST if mandate.last_collected_on is None else RECURRING
        debits.append(Debit(invoice, mandate, due, sequence))
    if strict:
        problems = [problem for _, problem in refused]
        if collection_date <= timezone.localdate():
            problems.insert(0, "La date de prélèvement doit être postérieure à aujourd'hui.")
        if not invoices:
            problems.append("Aucune facture à prélever.")
        if problems:
            raise SepaError(problems[0] if len(problems) == 1 else " ".join(problems), problems=problems)
    return debits, refused


def collectable_invoices(regie, collection_date: date) -> tuple[list[Debit], list[tuple]]:
    """The preview: (debits ready, [(invoice, why not)]) among the régie's unpaid invoices of households
    with an active mandate, not transferred and not already in a file."""
    households = SepaMandate.objects.filter(regie=regie, status=MandateStatus.ACTIVE).values("household_id")
    invoices = (
        Invoice.objects.filter(regie=regie, household_id__in=households, transferred_at__isnull=True)
        .select_related("household")
        .order_by("number", "pk")
    )
    ids = list(invoices.values_list("pk", flat=True))
    paid = paid_cents_by_invoice(ids)
    collected = _collected_invoice_ids(ids)
    pending = [i for i in invoices if i.total_cents - paid.get(i.pk, 0) > 0 and i.pk not in collected]
    return _debits(regie, pending, collection_date, strict=False)


def _sepa_text(value: str, limit: int) -> str:
    """Latin SEPA character set only (a-z A-Z 0-9 / - ? : ( ) . , ' + space), accents transliterated."""
    text = re.sub(r"[^A-Za-z0-9/\-?:().,'+ ]", " ", unidecode(value or ""))
    return " ".join(text.split())[:limit]


def _file_and_message_id(regie, debits: list[Debit], collection_date: date, creditor: dict) -> tuple[bytes, str]:
    """The file and its GrpHdr/MsgId (sepaxml's: time + 12 random hex digits; the bank quotes it)."""
    creditor = _checked_creditor(creditor)
    document = SepaDD(
        {
            "name": _sepa_text(creditor["name"], 70),
            "IBAN": creditor["iban"],
            "BIC": creditor["bic"],
            "batch": True,
            "creditor_id": creditor["ics"],
            "currency": "EUR",
        },
        schema=SCHEMA,
        clean=True,
    )
    for debit in debits:
        invoice, mandate = debit.invoice, debit.mandate
        payment = {  # a fresh dict each time: add_payment turns its dates into strings
            "name": _sepa_text(mandate.debtor_name, 70),
            "IBAN": mandate.iban,
            "amount": int(debit.amount_cents),
            "type": debit.sequence,
            "collection_date": collection_date,
            "mandate_id": mandate.rum,
            "mandate_date": mandate.signed_on,
            "description": _sepa_text(f"Facture {invoice.number} {regie.name}", 140),
            "endtoend_id": invoice.number,
        }
        if mandate.bic:
            payment["BIC"] = mandate.bic
        document.add_payment(payment)
    try:
        return document.export(validate=True, pretty_print=False), document.msg_id
    except SepaSchemaError as error:
        raise SepaError(
            "Le fichier de prélèvement n'est pas conforme au schéma pain.008 : vérifiez les mandats et le créancier.",
            code="schema",
        ) from error


def direct_debit_file(regie, invoices, collection_date: date, creditor: dict) -> bytes:
    """The pain.008.001.02 file debiting `invoices` on `collection_date` (refused as a whole, with every
    reason, if one invoice cannot be collected). Writes nothing: see generate_collection."""
    debits, _ = _debits(regie, invoices, collection_date, strict=True)
    return _file_and_message_id(regie, debits, collection_date, creditor)[0]


def generate_collection(*, regie, invoices, collection_date: date, creditor: dict, actor):
    """The file, and its record (module docstring): a DirectDebitBatch with one submitted DirectDebit
    per invoice, mandates marked collected on `collection_date`, one audit entry per invoice. All or
    nothing. Returns the batch (its `content` attribute holds the file's bytes)."""
    from portail.payments.models import DebitStatus, DirectDebit, DirectDebitBatch

    invoices = list(invoices)
    with transaction.atomic():
        list(
            SepaMandate.objects.select_for_update()
            .filter(regie=regie, household_id__in={i.household_id for i in invoices})
            .order_by("pk")
        )
        # Locked too: a family paying one of them online waits for this file, then is refused.
        list(Invoice.objects.select_for_update().filter(pk__in=[i.pk for i in invoices]).order_by("pk"))
        debits, _ = _debits(regie, invoices, collection_date, strict=True)
        content, message_id = _file_and_message_id(regie, debits, collection_date, creditor)
        user = actor if getattr(actor, "is_authenticated", False) else None
        batch = DirectDebitBatch(
            regie=regie,
            collection_date=collection_date,
            message_id=message_id,
            sha256=hashlib.sha256(content).hexdigest(),
            total_cents=sum(debit.amount_cents for debit in debits),
            created_by=user,
        )
        batch.file.save(f"prelevement-{regie.code}-{collection_date:%Y-%m-%d}.xml", ContentFile(content), save=False)
        batch.save()
        DirectDebit.objects.bulk_create(
            DirectDebit(
                batch=batch,
                invoice=debit.invoice,
                mandate=debit.mandate,
                amount_cents=debit.amount_cents,
                sequence=debit.sequence,
                end_to_end_id=debit.invoice.number,
                status=DebitStatus.SUBMITTED,
            )
            for debit in debits
        )
        for mandate in {debit.mandate.pk: debit.mandate for debit in debits}.values():
            if mandate.last_collected_on is None or mandate.last_collected_on < collection_date:
                mandate.last_collected_on = collection_date
                mandate.save(update_fields=["last_collected_on"])
        log_action(
            actor=actor,
            channel=Channel.STAFF,
            action="sepa.batch_created",
            obj=batch,
            after={
                "regie": regie.code,
                "collection_date": collection_date,
                "message_id": message_id,
                "sha256": batch.sha256,
                "debits": len(debits),
                "total_cents": batch.total_cents,
            },
            message=f"Fichier de prélèvement du {collection_date:%d/%m/%Y} généré ({len(debits)} factures).",
        )
        for debit in debits:
            log_action(
                actor=actor,
                channel=Channel.STAFF,
                action=DEBIT_ACTION,
                obj=debit.invoice,
                household=debit.invoice.household,
                after={
                    "batch": batch.pk,
                    "collection_date": collection_date,
                    "rum": debit.mandate.rum,
                    "sequence": debit.sequence,
                    "amount_cents": debit.amount_cents,
                },
                message=f"Facture {debit.invoice.number} présentée au prélèvement le {collection_date:%d/%m/%Y}",
            )
    batch.content = content
    return batch
