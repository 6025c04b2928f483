"""Our thin adapter over eopayment 3.15: the only module that talks to it (docs: /work/shared/PAYMENTS.md §1).

It hides eopayment's quirks from the rest of the portal:

- ids differ per backend: the attempt is keyed on what request() returns and found again with
  the answer's order_id (§1.7);
- TIPI classic answers are not signed although eopayment says signed=True: here they are
  signed=False with unsigned_protocol=True, and the caller checks amount and numcli (§1.6);
- TIPI's V (direct debit paid) and Z (direct debit refused) are mapped here (eopayment says ERROR);
- amounts are passed as Decimal quantized to the cent, built from integer cents (§1.4);
- the dummy backend ignores dummy_service_url and PayFiP hard-codes its host: every URL the
  browser or zeep would hit is rewritten to the demo bank when settings.PAYMENT_DEMO_BANK is on
  (§1.8, §1.9, §2.3 option B), so development and tests never reach the internet;
- eopayment's DEBUG log prints the Systempay secret: it gets a logger that never emits DEBUG.
"""

import atexit
import base64
import hashlib
import hmac
import logging
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs
from xml.sax.saxutils import quoteattr

import eopayment
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from eopayment import common as eo
from eopayment import dummy as eo_dummy
from eopayment import payfip_ws as eo_payfip
from eopayment import tipi as eo_tipi

from .models import Backend, PaymentStatus

logger = logging.getLogger(__name__)

# eopayment logs its options (keys included) and the signed string at DEBUG: give it a logger
# that cannot emit DEBUG whatever LOGGING says, forwarding INFO and above to ours.
_eopayment_logger = logging.Logger(f"{__name__}.eopayment", level=logging.INFO)
_eopayment_logger.parent = logger

CENT = Decimal("0.01")
REFERENCE_RE = re.compile(r"^[A-Za-z0-9]{6,30}$")
SYSTEMPAY_KINDS = (Backend.SYSTEMPAY.value, Backend.PAYZEN.value)
PAYFIP_KINDS = (Backend.TIPI.value, Backend.PAYFIP_WS.value)
SIGNATURE_ALGOS = ("hmac_sha256", "sha1")
PAYFIP_TIMEOUT = 15  # seconds, eopayment's default

# Plain French for the family (BackendError.message).
UNREACHABLE = "Le service de paiement ne répond pas, réessayez dans quelques minutes."
NOT_AVAILABLE = (
    "Le paiement en ligne n'est pas disponible pour le moment pour cette régie. "
    "Merci de réessayer plus tard ou de contacter la régie."
)
BELOW_MINIMUM = (
    "Le paiement en ligne n'est possible qu'à partir de 1,00 €. Vous pouvez régler ce montant au guichet de la régie."
)
ABOVE_MAXIMUM = "Ce montant dépasse le maximum accepté par le paiement en ligne. Merci de le régler à la régie."
NOT_POSITIVE = "Le montant à payer doit être supérieur à zéro."
EMAIL_NEEDED = (
    "Le paiement en ligne demande une adresse e-mail valide. "
    "Vérifiez l'adresse e-mail enregistrée sur votre compte, ou réglez à la régie."
)
REFUSED = "Le service de paiement a refusé la demande. Merci de réessayer plus tard ou de contacter la régie."

# eopayment result codes -> PaymentStatus values.
_STATUS = {
    eo.PAID: PaymentStatus.PAID.value,
    eo.DENIED: PaymentStatus.DENIED.value,
    eo.CANCELLED: PaymentStatus.CANCELLED.value,
    eo.WAITING: PaymentStatus.PENDING.value,
    eo.RECEIVED: PaymentStatus.PENDING.value,
    eo.ACCEPTED: PaymentStatus.PENDING.value,
    eo.EXPIRED: PaymentStatus.EXPIRED.value,
    eo.ERROR: PaymentStatus.ERROR.value,
}

# TIPI and PayFiP resultrans codes (§2.2): our mapping, V and Z included.
PAYFIP_RESULTS = {
    "P": (PaymentStatus.PAID.value, "payé par carte"),
    "V": (PaymentStatus.PAID.value, "payé par prélèvement"),
    "R": (PaymentStatus.DENIED.value, "carte refusée"),
    "Z": (PaymentStatus.DENIED.value, "prélèvement refusé"),
    "A": (PaymentStatus.CANCELLED.value, "paiement abandonné"),
}

# Systempay "00" with one of these statuses is not money received yet (manual validation, checks).
SYSTEMPAY_NOT_YET_PAID = ("AUTHORISED_TO_VALIDATE", "UNDER_VERIFICATION")


class BackendError(Exception):
    """Request refused or bank unreachable; .message is plain French for the family, .detail English for the log."""

    def __init__(self, message: str, *, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotificationError(Exception):
    """The notification cannot be parsed (or, for PayFiP, cannot be checked); .reason is short English for the log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Checkout:
    external_id: str  # what request() returned (idop / refdet / transaction id): PaymentAttempt.external_id
    method: str  # "GET" (redirect the browser to url) or "POST" (auto-submitting form)
    url: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # form fields for POST, [] for GET
    test: bool = True


@dataclass
class BankAnswer:
    external_id: str  # eopayment's order_id (the idop for payfip_ws): finds the attempt
    status: str  # a PaymentStatus value: paid, denied, cancelled, pending, expired, error
    signed: bool  # False: reject (unless unsigned_protocol, where the caller checks amount/numcli)
    unsigned_protocol: bool  # True for tipi
    test: bool  # the bank says it is a test transaction
    amount_cents: int | None  # what the bank says was paid, None if not given
    bank_reference: str  # authorisation number (vads_auth_number / numauto)
    bank_status: str  # human text from the bank
    raw: dict  # JSON-serialisable bank data
    return_content: str | None  # body to answer the bank with, if the backend wants one
    numcli: str = ""  # tipi/payfip: the numcli in the answer, "" otherwise


# --- Settings-driven URLs ----------------------------------------------------------------------


def demo_bank_enabled() -> bool:
    return bool(getattr(settings, "PAYMENT_DEMO_BANK", False))


def demo_bank_url(name: str) -> str:
    """Absolute URL of a demo bank page: PAYMENT_DEMO_BANK_BASE_URL + the mounted path."""
    from portail.demobank.transport import demo_bank_base_url

    try:
        path = reverse(f"demobank:{name}")
    except NoReverseMatch as missing:
        detail = "PAYMENT_DEMO_BANK is on but the demobank URLs are not mounted"
        raise BackendError(NOT_AVAILABLE, detail=detail) from missing
    return demo_bank_base_url() + path


def _browser_url(url: str, bank_prefix: str, demo_page: str) -> str:
    """The bank page the browser goes to; the demo bank's when PAYMENT_DEMO_BANK is on."""
    if not demo_bank_enabled():
        return url
    if not url.startswith(bank_prefix):
        # Never send a family to the real bank from a demo setup.
        raise BackendError(NOT_AVAILABLE, detail=f"unexpected bank URL {url[:80]!r}, cannot rewrite to the demo bank")
    return demo_bank_url(demo_page) + url[len(bank_prefix) :]


_demo_payfip_clients: dict[str, eo_payfip.PayFiP] = {}


def _wsdl_copy(address: str) -> str:
    """eopayment's bundled WSDL and XSDs, copied with soap:address pointing at `address`."""
    source = Path(eo_payfip.__file__).parent / "resource"
    target = Path(tempfile.mkdtemp(prefix="portail-payfip-wsdl-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    for xsd in source.glob("*.xsd"):
        shutil.copy(xsd, target / xsd.name)
    wsdl = (source / "PaiementSecuriseService.wsdl").read_text(encoding="utf-8")
    real = 'location="https://www.payfip.gouv.fr/tpa/services/securite"'
    if real not in wsdl:
        raise BackendError(UNREACHABLE, detail="eopayment's bundled WSDL changed: check the PayFiP service address")
    (target / "PaiementSecuriseService.wsdl").write_text(wsdl.replace(real, f"location={quoteattr(address)}"), "utf-8")
    return str(target / "PaiementSecuriseService.wsdl")


def _demo_payfip_client() -> eo_payfip.PayFiP:
    """A PayFiP SOAP client talking to the demo bank's SOAP view in-process (no socket)."""
    import zeep

    from portail.demobank.transport import in_process_session

    address = demo_bank_url("payfip_soap")
    client = _demo_payfip_clients.get(address)
    if client is None:
        transport = zeep.Transport(session=in_process_session(), operation_timeout=PAYFIP_TIMEOUT)
        client = eo_payfip.PayFiP(
            wsdl_url=_wsdl_copy(address), use_local_wsdl=False, zeep_client_kwargs={"transport": transport}
        )
        _demo_payfip_clients[address] = client
    return client


def _payment(kind: str, options: dict) -> eopayment.Payment:
    payment = eopayment.Payment(kind, options, logger=_eopayment_logger)
    if kind == Backend.PAYFIP_WS and demo_bank_enabled():
        payment.backend.payfip = _demo_payfip_client()
    return payment


# --- Helpers -------------------------------------------------------------------------------------


def systempay_signature(fields: dict, key: str, algo: str = "hmac_sha256") -> str:
    """Systempay/PayZen form signature (§2.1): vads_* values sorted by name, joined with '+', then '+key'."""
    message = "+".join(str(fields[name]) for name in sorted(f for f in fields if f.startswith("vads_")))
    message = f"{message}+{key}".encode()
    if algo == "sha1":
        return hashlib.sha1(message).hexdigest()  # noqa: S324  (the protocol's legacy algorithm)
    if algo == "hmac_sha256":
        return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()
    raise ValueError(f"unknown Systempay signature algorithm {algo!r}")


def euros(amount_cents: int) -> Decimal:
    """Integer cents as the Decimal euros eopayment wants, exactly quantized to the cent."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise TypeError(f"amount_cents must be an int, not {type(amount_cents).__name__}")
    amount = (Decimal(amount_cents) / 100).quantize(CENT)
    assert amount == amount.quantize(CENT) and int(amount * 100) == amount_cents
    return amount


def _options(regie) -> dict:
    return dict(regie.backend_options or {})


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _flat(data: dict) -> dict:
    """Bank data as JSON-serialisable strings (eopayment's dummy gives lists)."""
    flat = {}
    for key, value in (data or {}).items():
        if isinstance(value, list | tuple):
            value = ",".join(_text(item) for item in value)
        flat[str(key)] = _text(value)
    return flat


def _cents(value) -> int | None:
    value = _text(value)
    return int(value) if value.isdigit() else None


def _check_email(email: str) -> None:
    if not email or "@" not in email or not 6 <= len(email) <= 80:
        raise BackendError(EMAIL_NEEDED, detail="PayFiP needs an e-mail of 6 to 80 characters")


def _numcli(regie) -> str:
    numcli = _text(_options(regie).get("numcli"))
    if not re.fullmatch(r"\d{6}", numcli):
        raise BackendError(NOT_AVAILABLE, detail=f"régie {regie.pk}: numcli must be 6 digits")
    return numcli


def _decode(content) -> str:
    if content is None:
        return ""
    if isinstance(content, bytes):
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise NotificationError("body is not UTF-8") from error
    return str(content)


def _fields(content: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(content, keep_blank_values=True).items()}


# --- Starting a payment ---------------------------------------------------------------------------


def start(regie, *, reference: str, amount_cents: int, email: str, label: str, notify_url: str, return_url: str):
    """Ask the régie's backend for a payment; returns where to send the family's browser (a Checkout).

    reference: ours, alphanumeric 6–30 (refdet, vads_order_id and transaction id, dummy orderid).
    Raises BackendError (plain French .message) when the bank refuses or cannot be reached.
    """
    kind = regie.backend
    if not REFERENCE_RE.match(reference or ""):
        raise ValueError(f"payment reference must be 6 to 30 letters or digits: {reference!r}")
    amount = euros(amount_cents)
    if amount_cents <= 0:
        raise BackendError(NOT_POSITIVE, detail=f"amount {amount_cents} cents")
    email = (email or "").strip()
    label = (label or "").strip()
    try:
        if kind == Backend.DUMMY:
            return _start_dummy(regie, reference, amount, email, label, notify_url, return_url)
        if kind in SYSTEMPAY_KINDS:
            return _start_systempay(regie, kind, reference, amount, email, label, notify_url, return_url)
        if kind == Backend.TIPI:
            return _start_tipi(regie, reference, amount, amount_cents, email, label, notify_url, return_url)
        if kind == Backend.PAYFIP_WS:
            return _start_payfip_ws(regie, reference, amount, amount_cents, email, label, notify_url, return_url)
    except ValueError as refused:  # eopayment's own parameter checks
        logger.warning("Régie %s: %s refused the payment request: %s", regie.pk, kind, refused)
        raise BackendError(NOT_AVAILABLE, detail=f"eopayment refused the request: {refused}") from refused
    raise BackendError(NOT_AVAILABLE, detail=f"régie {regie.pk} has no usable online backend ({kind!r})")


def _start_dummy(regie, reference, amount, email, label, notify_url, return_url) -> Checkout:
    options = {"normal_return_url": return_url, "automatic_return_url": notify_url, "origin": regie.name or "Portail"}
    transaction_id, _kind, url = _payment(Backend.DUMMY, options).request(
        amount, email=email or None, orderid=reference, subject=label or None
    )
    url = _browser_url(url, eo_dummy.SERVICE_URL, "dummy")
    return Checkout(external_id=str(transaction_id), method="GET", url=url, fields=[], test=True)


def _start_systempay(regie, kind, reference, amount, email, label, notify_url, return_url) -> Checkout:
    opts = _options(regie)
    site_id = _text(opts.get("vads_site_id"))
    ctx_mode = "TEST" if regie.test_mode else "PRODUCTION"
    secret_test, secret_production = _text(opts.get("secret_test")), _text(opts.get("secret_production"))
    algo = _text(opts.get("signature_algo")) or "hmac_sha256"
    if not re.fullmatch(r"\d{8}", site_id):
        raise BackendError(NOT_AVAILABLE, detail=f"régie {regie.pk}: vads_site_id must be 8 digits")
    if not (secret_test if regie.test_mode else secret_production):
        raise BackendError(NOT_AVAILABLE, detail=f"régie {regie.pk}: no {ctx_mode} key")
    if algo not in SIGNATURE_ALGOS:
        raise BackendError(NOT_AVAILABLE, detail=f"régie {regie.pk}: unknown signature_algo {algo!r}")
    options = {
        "vads_site_id": site_id,
        "secret_test": secret_test,
        "secret_production": secret_production,
        "signature_algo": algo,
        "vads_ctx_mode": ctx_mode,
        "normal_return_url": return_url,
        "automatic_return_url": notify_url,
    }
    if demo_bank_enabled():
        options["service_url"] = demo_bank_url("systempay")
    transaction_id, _kind, form = _payment(kind, options).request(
        amount,
        email=email if 0 < len(email) <= 127 else None,
        orderid=reference,
        transaction_id=reference,
        info1=label[:255] or None,
    )
    fields = [(str(item["name"]), str(item["value"])) for item in form.fields]
    return Checkout(external_id=str(transaction_id), method="POST", url=form.url, fields=fields, test=regie.test_mode)


def _payfip_amount_checks(amount_cents: int, maximum_cents: int) -> None:
    if amount_cents < 100:
        raise BackendError(BELOW_MINIMUM, detail=f"PayFiP minimum is 1 €, asked {amount_cents} cents")
    if amount_cents > maximum_cents:
        raise BackendError(ABOVE_MAXIMUM, detail=f"PayFiP maximum is {maximum_cents} cents, asked {amount_cents}")


def _start_tipi(regie, reference, amount, amount_cents, email, label, notify_url, return_url) -> Checkout:
    numcli = _numcli(regie)
    _payfip_amount_checks(amount_cents, 9999_99)  # eopayment's tipi stops at 9 999,99 €
    _check_email(email)
    options = {
        "numcli": numcli,
        "automatic_return_url": notify_url,
        "normal_return_url": return_url,
        "saisie": "T" if regie.test_mode else "A",
    }
    refdet, _kind, url = _payment(Backend.TIPI, options).request(
        amount,
        email=email,
        refdet=reference,
        exer=timezone.localdate().year,
        objet=eo_payfip.normalize_objet(label) or None,  # TIPI wants ASCII
    )
    url = _browser_url(url, eo_tipi.TIPI_URL, "tipi")
    return Checkout(external_id=str(refdet), method="GET", url=url, fields=[], test=regie.test_mode)


def _start_payfip_ws(regie, reference, amount, amount_cents, email, label, notify_url, return_url) -> Checkout:
    numcli = _numcli(regie)
    _payfip_amount_checks(amount_cents, 100_000_00)
    _check_email(email)
    options = {
        "numcli": numcli,
        "saisie": "T" if regie.test_mode else "W",
        "normal_return_url": return_url,
        "automatic_return_url": notify_url,
    }
    try:
        idop, _kind, url = _payment(Backend.PAYFIP_WS, options).request(
            amount,
            email=email,
            refdet=reference,
            exer=str(timezone.localdate().year),
            subject=label or None,
            timeout=PAYFIP_TIMEOUT,
        )
    except eo_payfip.PayFiPError as failure:
        raise _payfip_failure(regie, "creerPaiementSecurise", failure) from failure
    url = _browser_url(url, eo_payfip.PAYMENT_URL, "payfip")
    return Checkout(external_id=str(idop), method="GET", url=url, fields=[], test=regie.test_mode)


def _payfip_failure(regie, operation: str, failure: eo_payfip.PayFiPError) -> BackendError:
    code = _text(failure.code)
    detail = f"PayFiP {operation} failed: {code} {_text(failure.message)[:200]}"
    logger.warning("Régie %s: %s", regie.pk, detail)
    if not re.fullmatch(r"[A-Z][0-9]", code):  # HTTP error, SOAP error, Unexpected error, client init…
        return BackendError(UNREACHABLE, detail=detail)
    if code in ("A1", "A2"):
        return BackendError(EMAIL_NEEDED, detail=detail)
    if code == "M3":
        return BackendError(BELOW_MINIMUM, detail=detail)
    if code == "M5":
        return BackendError(ABOVE_MAXIMUM, detail=detail)
    return BackendError(REFUSED, detail=detail)


# --- Reading the bank's answer ----------------------------------------------------------------------


def parse_notification(regie, *, method: str, query_string: str, body: str) -> BankAnswer:
    """The bank's server-to-server notification for this régie, read with its backend.

    POST reads the body, GET the query string (PAYMENTS.md §1.10 rule 1). Raises NotificationError
    when it cannot be read, and for payfip_ws also when PayFiP cannot be asked for the result
    (the attempt stays pending; the reconciliation job asks again).
    """
    kind = regie.backend
    content = _decode(body if (method or "").upper() == "POST" else query_string)
    if kind == Backend.DUMMY:
        return _parse_dummy(content)
    if kind in SYSTEMPAY_KINDS:
        return _parse_systempay(regie, kind, content)
    if kind == Backend.TIPI:
        return _parse_tipi(content)
    if kind == Backend.PAYFIP_WS:
        return _parse_payfip_ws(regie, content)
    raise NotificationError(f"régie has no online backend ({kind!r})")


def _parse_dummy(content: str) -> BankAnswer:
    try:
        response = _payment(Backend.DUMMY, {}).response(content)
    except (eo.PaymentException, ValueError) as error:
        raise NotificationError(f"dummy: {error}") from error
    return BankAnswer(
        external_id=_text(response.order_id),
        status=_STATUS.get(response.result, PaymentStatus.ERROR.value),
        signed=bool(response.signed),  # `signed` present (consider_all_response_signed is never set)
        unsigned_protocol=False,
        test=True,
        amount_cents=None,
        bank_reference="",
        bank_status=_text(response.bank_status),
        raw=_flat(response.bank_data),
        return_content=response.return_content,
    )


def _systempay_signed(regie, fields: dict) -> bool:
    opts = _options(regie)
    key = {"TEST": opts.get("secret_test"), "PRODUCTION": opts.get("secret_production")}.get(
        fields.get("vads_ctx_mode")
    )
    algo = _text(opts.get("signature_algo")) or "hmac_sha256"
    if not _text(key) or algo not in SIGNATURE_ALGOS:
        return False
    expected = systempay_signature(fields, _text(key), algo)
    return hmac.compare_digest(expected.encode(), fields.get("signature", "").encode())


def _parse_systempay(regie, kind, content: str) -> BankAnswer:
    opts = _options(regie)
    fields = _fields(content)
    # A missing key would crash eopayment: give it a random one, the answer is then unsigned.
    options = {
        "vads_site_id": _text(opts.get("vads_site_id")) or "00000000",
        "secret_test": _text(opts.get("secret_test")) or secrets.token_hex(16),
        "secret_production": _text(opts.get("secret_production")) or secrets.token_hex(16),
        "signature_algo": _text(opts.get("signature_algo")) or "hmac_sha256",
    }
    if options["signature_algo"] not in SIGNATURE_ALGOS:
        options["signature_algo"] = "hmac_sha256"
    try:
        response = _payment(kind, options).response(content)
    except (eo.PaymentException, ValueError, KeyError, TypeError, AttributeError) as error:
        raise NotificationError(f"systempay: {error}") from error
    signed = _systempay_signed(regie, fields)
    if signed != bool(response.signed):
        logger.warning(
            "Régie %s: Systempay signature checks disagree (ours %s, eopayment's %s)", regie.pk, signed, response.signed
        )
    status = _STATUS.get(response.result, PaymentStatus.ERROR.value)
    if status == PaymentStatus.PAID and fields.get("vads_trans_status") in SYSTEMPAY_NOT_YET_PAID:
        status = PaymentStatus.PENDING.value
    return BankAnswer(
        external_id=_text(response.order_id),
        status=status,
        signed=signed and bool(response.signed),
        unsigned_protocol=False,
        test=bool(response.test),
        amount_cents=_cents(fields.get("vads_amount")),
        bank_reference=_text(fields.get("vads_auth_number")),
        bank_status=_text(response.bank_status)[:200],
        raw=_flat(response.bank_data),
        return_content=response.return_content,
    )


def _parse_tipi(content: str) -> BankAnswer:
    try:
        response = _payment(Backend.TIPI, {}).response(content)
    except (eo.PaymentException, ValueError) as error:
        raise NotificationError(f"tipi: {error}") from error
    raw = _flat(response.bank_data)
    resultrans = raw.get("resultrans", "")
    status, text = PAYFIP_RESULTS.get(resultrans, (PaymentStatus.ERROR.value, f"code résultat inconnu {resultrans!r}"))
    return BankAnswer(
        external_id=_text(response.order_id),
        status=status,
        signed=False,  # TIPI classic has no signature whatever eopayment says
        unsigned_protocol=True,
        test=raw.get("saisie") == "T",
        amount_cents=_cents(raw.get("montant")),
        bank_reference=raw.get("numauto", ""),
        bank_status=text,
        raw=raw,
        return_content=None,
        numcli=raw.get("numcli", ""),
    )


def _parse_payfip_ws(regie, content: str) -> BankAnswer:
    fields = _fields(content)
    # PayFiP posts idOp (eopayment's guess) while eopayment's response() reads idop: accept both.
    idop = _text(fields.get("idop") or fields.get("idOp"))
    if not idop:
        raise NotificationError("payfip_ws: missing idop")
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", idop):
        raise NotificationError("payfip_ws: malformed idop")
    try:
        return _payfip_status(regie, idop, transaction_date=None)
    except BackendError as failure:
        raise NotificationError(f"payfip_ws: status check failed: {failure.detail}") from failure


def _payfip_status(regie, idop: str, *, transaction_date) -> BankAnswer:
    """recupererDetailPaiementSecurise through eopayment (P5 -> pending, P1 -> expired)."""
    payment = _payment(Backend.PAYFIP_WS, {"numcli": _text(_options(regie).get("numcli"))})
    try:
        response = payment.payment_status(idop, transaction_date=transaction_date, timeout=PAYFIP_TIMEOUT)
    except eo_payfip.PayFiPError as failure:
        raise _payfip_failure(regie, "recupererDetailPaiementSecurise", failure) from failure
    raw = _flat(response.bank_data) if response.bank_data else {}
    status = _STATUS.get(response.result, PaymentStatus.ERROR.value)
    resultrans = raw.get("resultrans", "")
    if resultrans:
        bank_status = PAYFIP_RESULTS.get(resultrans, (None, f"code résultat inconnu {resultrans!r}"))[1]
        if status == PaymentStatus.PENDING:  # eopayment holds a fresh cancellation for 2 minutes
            bank_status += " (en attente de confirmation)"
    elif status == PaymentStatus.PENDING:
        bank_status = "paiement en cours, résultat pas encore connu"
        raw = {"idOp": idop, "code": "P5"}
    else:
        bank_status = "opération inconnue ou expirée"
        raw = {"idOp": idop, "code": "P1"}
    return BankAnswer(
        external_id=_text(response.order_id) or idop,
        status=status,
        signed=True,  # the answer comes from our own call to the PayFiP web-service
        unsigned_protocol=False,
        test=raw.get("saisie") == "T",
        amount_cents=_cents(raw.get("montant")),
        bank_reference=raw.get("numauto", ""),
        bank_status=bank_status,
        raw=raw,
        return_content=None,
        numcli=raw.get("numcli", ""),
    )


def fetch_status(regie, attempt) -> BankAnswer | None:
    """Ask the bank where an attempt stands (payfip_ws only; None for the others).

    Used by the reconciliation job. Raises BackendError when PayFiP cannot be reached.
    """
    if regie.backend != Backend.PAYFIP_WS or not attempt.external_id:
        return None
    return _payfip_status(regie, attempt.external_id, transaction_date=attempt.created_at)


# --- What a régie form must ask ----------------------------------------------------------------------


def backend_parameters(backend: str) -> list[dict]:
    """The backend_options a régie needs for `backend`: name, label (French), required, secret,
    plus help_text, pattern (a regex the value must fully match, or "") and choices (or None)."""

    def param(name, label, *, required=True, secret=False, help_text="", pattern="", choices=None):
        return {
            "name": name,
            "label": label,
            "required": required,
            "secret": secret,
            "help_text": help_text,
            "pattern": pattern,
            "choices": choices,
        }

    if backend in SYSTEMPAY_KINDS:
        return [
            param(
                "vads_site_id",
                "Identifiant de la boutique",
                help_text="8 chiffres, donnés par la banque (back-office Systempay / PayZen).",
                pattern=r"\d{8}",
            ),
            param(
                "secret_test",
                "Clé de test",
                secret=True,
                help_text="Lettres et chiffres, dans le back-office de la banque.",
                pattern=r"[A-Za-z0-9]+",
            ),
            param(
                "secret_production",
                "Clé de production",
                required=False,
                secret=True,
                help_text="Obligatoire pour sortir la régie du mode test.",
                pattern=r"[A-Za-z0-9]+",
            ),
            param(
                "signature_algo",
                "Algorithme de signature",
                required=False,
                help_text="HMAC-SHA-256 sauf indication contraire de la banque.",
                choices=[("hmac_sha256", "HMAC-SHA-256"), ("sha1", "SHA-1 (ancien)")],
            ),
        ]
    if backend in PAYFIP_KINDS:
        return [
            param(
                "numcli",
                "Numéro client PayFiP",
                help_text="6 chiffres, donnés par la DGFiP à l'adhésion de la régie.",
                pattern=r"\d{6}",
            )
        ]
    return []
