"""The demo bank's pages (PAYMENTS.md §2.1–2.4): Systempay/PayZen form, TIPI classic, PayFiP
web-service (page + SOAP) and the dummy backend's page.

They stand for other websites: no login, no CSRF token (csrf_exempt), and they call the portal
back (notifications) in-process through portail.demobank.transport, never over the network.
"""

import hmac
import logging
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portail.catalog.wording import format_euros
from portail.payments.backends import SYSTEMPAY_KINDS, systempay_signature
from portail.payments.models import Backend, Regie

from . import soap
from .models import DemoPayFiPOperation
from .transport import post_in_process

logger = logging.getLogger(__name__)

DEFAULT_PORTAL_RETURN_PATH = "/paiements/retour/"
PAYFIP_IDOP_MINUTES = 15  # an idop is valid 15 minutes (PayFiP guide)


class SeeOther(HttpResponseRedirect):
    status_code = 303


def _error(request, title: str, messages: list[str], *, status: int = 400, link: str = "", link_label: str = ""):
    context = {"title": title, "messages": messages, "link": link, "link_label": link_label}
    return render(request, "demobank/error.html", context, status=status)


def _notify(url: str, data: dict, *, times: int = 1, method: str = "POST") -> list[str]:
    """Send the bank's notification to the portal in-process; returns one line per sending."""
    outcomes = []
    for _ in range(times):
        try:
            response = post_in_process(url, data, method=method)
        except requests.RequestException as failure:
            logger.warning("Demo bank: notification to %s failed: %s", url, failure)
            outcomes.append(f"échec : {failure}")
        else:
            outcomes.append(f"réponse HTTP {response.status_code}")
    return outcomes


def _times(post) -> int:
    return 2 if post.get("deux_fois") else 1


def _with_query(url: str, params: dict) -> str:
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _regie_by_numcli(numcli: str) -> Regie | None:
    for regie in Regie.objects.filter(backend__in=[Backend.TIPI, Backend.PAYFIP_WS]):
        if str((regie.backend_options or {}).get("numcli", "")) == numcli:
            return regie
    return None


def _paris_now() -> datetime:
    return timezone.localtime(timezone.now())


# --- Systempay / PayZen ----------------------------------------------------------------------------

SYSTEMPAY_CHOICES = {
    # choice: (vads_result, vads_auth_result, vads_trans_status)
    "payer": ("00", "00", "CAPTURED"),
    "refuser": ("05", "05", "REFUSED"),
    "annuler": ("17", "", "ABANDONED"),
    "erreur": ("96", "", ""),
}
SYSTEMPAY_RETURN_URLS = {
    "00": "vads_url_success",
    "05": "vads_url_refused",
    "17": "vads_url_cancel",
    "96": "vads_url_error",
}


def _systempay_fields(post) -> dict[str, str]:
    return {name: post.get(name, "") for name in post if name.startswith("vads_") or name == "signature"}


def _systempay_shop(fields: dict[str, str]):
    """(régie, key, algorithm) whose key signs the form, or a list of French error lines."""
    errors = []
    if not re.fullmatch(r"\d{8}", fields.get("vads_site_id", "")):
        errors.append("Identifiant de boutique (vads_site_id) absent ou invalide.")
    if fields.get("vads_ctx_mode") not in ("TEST", "PRODUCTION"):
        errors.append("Mode (vads_ctx_mode) absent ou invalide.")
    if not re.fullmatch(r"\d{1,12}", fields.get("vads_amount", "")):
        errors.append("Montant (vads_amount) absent ou invalide.")
    if not re.fullmatch(r"[A-Za-z0-9]{6}", fields.get("vads_trans_id", "")):
        errors.append("Identifiant de transaction (vads_trans_id) absent ou invalide.")
    if not fields.get("signature"):
        errors.append("Signature absente.")
    if errors:
        return errors
    site_id = fields["vads_site_id"]
    key_name = "secret_test" if fields["vads_ctx_mode"] == "TEST" else "secret_production"
    shops = [
        regie
        for regie in Regie.objects.filter(backend__in=SYSTEMPAY_KINDS)
        if str((regie.backend_options or {}).get("vads_site_id", "")) == site_id
    ]
    if not shops:
        return [f"Boutique {site_id} inconnue de la banque de démonstration."]
    for regie in shops:
        key = str((regie.backend_options or {}).get(key_name) or "")
        if not key:
            continue
        for algo in ("hmac_sha256", "sha1"):
            if hmac.compare_digest(systempay_signature(fields, key, algo).encode(), fields["signature"].encode()):
                return regie, key, algo
    return ["Signature du formulaire invalide : le paiement est refusé."]


def _systempay_answer(fields: dict[str, str], choice: str, key: str, algo: str) -> dict[str, str]:
    """The signed response (§2.1 table): the request's vads_* fields minus the URLs, plus the result."""
    answer = {
        name: value for name, value in fields.items() if name.startswith("vads_") and not name.startswith("vads_url_")
    }
    result, auth_result, trans_status = SYSTEMPAY_CHOICES[choice]
    now = datetime.now(UTC)
    answer.update(
        {
            "vads_result": result,
            "vads_auth_result": auth_result,
            "vads_extra_result": "",
            "vads_trans_status": trans_status,
            "vads_auth_number": f"{secrets.randbelow(10**6):06d}" if choice == "payer" else "",
            "vads_auth_mode": "FULL",
            "vads_trans_uuid": uuid.uuid4().hex,
            "vads_effective_creation_date": now.strftime("%Y%m%d%H%M%S"),
            "vads_effective_amount": fields.get("vads_amount", ""),
            "vads_operation_type": "DEBIT",
            "vads_url_check_src": "PAY",
            "vads_card_brand": "CB",
            "vads_card_number": "497010XXXXXX0000",
            "vads_expiry_month": "12",
            "vads_expiry_year": str(now.year + 2),
            "vads_hash": secrets.token_hex(32),
        }
    )
    answer["signature"] = systempay_signature(answer, key, algo)
    return answer


@csrf_exempt
@require_POST
def systempay(request):
    """The payment form the family's browser posts (vads-payment/)."""
    fields = _systempay_fields(request.POST)
    shop = _systempay_shop(fields)
    if isinstance(shop, list):
        return _error(request, "Paiement impossible", shop)
    regie, _key, _algo = shop
    context = {
        "fields": sorted(fields.items()),
        "regie": regie,
        "site_id": fields["vads_site_id"],
        "amount": format_euros(int(fields["vads_amount"])),
        "order_id": fields.get("vads_order_id", ""),
        "test": fields["vads_ctx_mode"] == "TEST",
        "email": fields.get("vads_cust_email", ""),
        "brand": "PayZen" if regie.backend == Backend.PAYZEN else "Systempay",
    }
    return render(request, "demobank/systempay.html", context)


@csrf_exempt
@require_POST
def systempay_answer(request):
    """The family's choice: sign the answer, send the IPN in-process, send the browser back."""
    fields = _systempay_fields(request.POST)
    shop = _systempay_shop(fields)
    if isinstance(shop, list):
        return _error(request, "Paiement impossible", shop)
    _regie, key, algo = shop
    choice = request.POST.get("choix", "")
    return_url = fields.get("vads_url_return", "")
    if choice == "silence":
        # No IPN: the family comes back to the portal, which shows "paiement en cours".
        if return_url:
            return SeeOther(return_url)
        return _error(request, "Aucune réponse", ["La banque n'a rien envoyé."], status=200)
    if choice not in SYSTEMPAY_CHOICES:
        return _error(request, "Choix inconnu", ["Choisissez Payer, Refuser, Annuler ou Ne pas répondre."])
    answer = _systempay_answer(fields, choice, key, algo)
    ipn_url = fields.get("vads_url_check", "")
    if ipn_url:
        ipn = dict(answer)
        if request.POST.get("mauvaise_signature"):
            signature = ipn["signature"]
            ipn["signature"] = ("B" if signature.startswith("A") else "A") + signature[1:]
        for outcome in _notify(ipn_url, ipn, times=_times(request.POST)):
            logger.info("Demo bank: Systempay IPN to %s: %s", ipn_url, outcome)
    return_url = fields.get(SYSTEMPAY_RETURN_URLS.get(answer["vads_result"], ""), "") or return_url
    if not return_url:
        return render(request, "demobank/done.html", {"title": "Paiement terminé", "link": ""})
    mode = fields.get("vads_return_mode", "GET") or "GET"
    if mode == "NONE":
        return SeeOther(return_url)
    if mode == "POST":
        return render(request, "demobank/post_return.html", {"url": return_url, "fields": sorted(answer.items())})
    return SeeOther(_with_query(return_url, answer))


# --- TIPI classic (paiement.web) ----------------------------------------------------------------------

TIPI_PARAMS = ("numcli", "exer", "refdet", "objet", "montant", "mel", "urlcl", "saisie")
TIPI_CHOICES = {
    "P": "Paiement par carte accepté",
    "V": "Paiement par prélèvement accepté",
    "R": "Paiement par carte refusé",
    "Z": "Paiement par prélèvement refusé",
    "A": "Paiement abandonné",
}


def _tipi_params(data) -> dict[str, str]:
    return {name: data.get(name, "") for name in TIPI_PARAMS}


def _tipi_errors(params: dict[str, str]) -> list[str]:
    """The checks of the real service (§2.2)."""
    errors = []
    if not re.fullmatch(r"\d{6}", params["numcli"]):
        errors.append("Numéro client (numcli) : 6 chiffres attendus.")
    if not re.fullmatch(r"[A-Za-z0-9]{6,30}", params["refdet"]):
        errors.append("Référence (refdet) : 6 à 30 lettres ou chiffres attendus.")
    if not params["montant"].isdigit() or int(params["montant"]) < 100:
        errors.append("Montant (montant) : un nombre de centimes d'au moins 100 (1 €) est attendu.")
    if "@" not in params["mel"] or not 6 <= len(params["mel"]) <= 80:
        errors.append("Adresse e-mail (mel) : adresse de 6 à 80 caractères attendue.")
    if params["saisie"] not in ("T", "X", "A", "M"):
        errors.append("Type de saisie (saisie) : T, X, A ou M attendu.")
    if params["exer"] and not re.fullmatch(r"\d{4}", params["exer"]):
        errors.append("Exercice (exer) : 4 chiffres attendus.")
    if params["urlcl"] and not params["urlcl"].startswith(("http://", "https://")):
        errors.append("Adresse de retour (urlcl) invalide.")
    if len(params["objet"]) > 100 or not params["objet"].isascii():
        errors.append("Objet (objet) : 100 caractères ASCII au plus.")
    return errors


def portal_return_link(refdet: str) -> str:
    path = getattr(settings, "PAYMENT_DEMO_BANK_PORTAL_RETURN_PATH", "") or DEFAULT_PORTAL_RETURN_PATH
    return _with_query(path, {"ref": refdet})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def tipi(request):
    params = _tipi_params(request.GET if request.method == "GET" else request.POST)
    errors = _tipi_errors(params)
    if errors:
        return _error(request, "Demande de paiement invalide", errors)
    regie = _regie_by_numcli(params["numcli"])
    context = {
        "params": params,
        "hidden": [(name, value) for name, value in params.items() if value],
        "regie": regie,
        "amount": format_euros(int(params["montant"])),
        "test": params["saisie"] == "T",
        "choices": TIPI_CHOICES,
        "return_link": portal_return_link(params["refdet"]),
    }
    if request.method == "GET":
        return render(request, "demobank/tipi.html", context)

    choice = request.POST.get("choix", "")
    if choice == "silence":
        context.update(result="Aucune réponse envoyée au portail (paiement resté en cours).", notifications=[])
        return render(request, "demobank/ticket.html", context)
    if choice not in TIPI_CHOICES:
        return _error(request, "Choix inconnu", ["Choisissez un résultat de paiement."])
    now = _paris_now()
    result = {
        "numcli": params["numcli"],
        "exer": params["exer"],
        "refdet": params["refdet"],
        "objet": params["objet"],
        "montant": params["montant"],
        "mel": params["mel"],
        "saisie": params["saisie"],
        "resultrans": choice,
        "numauto": f"{secrets.randbelow(10**6):06d}" if choice in ("P", "V") else "",
        "dattrans": now.strftime("%d%m%Y"),
        "heurtrans": now.strftime("%H%M"),
    }
    if request.POST.get("montant_modifie"):
        result["montant"] = str(int(params["montant"]) + 100)
    notifications = _notify(params["urlcl"], result, times=_times(request.POST)) if params["urlcl"] else []
    context.update(
        result=TIPI_CHOICES[choice],
        numauto=result["numauto"],
        date=now,
        notifications=notifications,
    )
    return render(request, "demobank/ticket.html", context)


# --- PayFiP web-service (paiementws.web + SOAP) ----------------------------------------------------------


@csrf_exempt
@require_POST
def payfip_soap(request):
    answer = soap.handle(request.body)
    response = HttpResponse(answer.content, status=answer.status, content_type="text/xml; charset=utf-8")
    # Faults are HTTP 500 by the SOAP 1.1 rules, and expected (P5 while the family pays): not server errors to log.
    response._has_been_logged = True
    return response


def _payfip_operation_or_error(request, idop: str):
    operation = soap.find_operation(idop)
    if operation is None:
        return _error(request, "Opération inconnue", ["Identifiant d'opération incorrect (P1)."], status=404)
    if operation.resultrans:
        return _error(
            request,
            "Opération déjà traitée",
            ["Ce paiement a déjà reçu une réponse (P3)."],
            status=200,
            link=operation.urlredirect,
            link_label="Retour sur le portail",
        )
    if timezone.now() - operation.created_at > timedelta(minutes=PAYFIP_IDOP_MINUTES):
        return _error(
            request,
            "Délai dépassé",
            [f"L'identifiant d'opération n'est valable que {PAYFIP_IDOP_MINUTES} minutes (P4)."],
            status=200,
            link=operation.urlredirect,
            link_label="Retour sur le portail",
        )
    return operation


@csrf_exempt
@require_http_methods(["GET", "POST"])
def payfip(request):
    idop = (request.GET if request.method == "GET" else request.POST).get("idop", "")
    operation = _payfip_operation_or_error(request, idop)
    if isinstance(operation, HttpResponse):
        return operation
    if request.method == "GET":
        context = {
            "operation": operation,
            "regie": _regie_by_numcli(operation.numcli),
            "amount": format_euros(operation.amount_cents),
            "test": operation.saisie == "T",
            "choices": TIPI_CHOICES,
        }
        return render(request, "demobank/payfip.html", context)

    choice = request.POST.get("choix", "")
    if choice == "silence":
        return SeeOther(operation.urlredirect)
    if choice not in TIPI_CHOICES:
        return _error(request, "Choix inconnu", ["Choisissez un résultat de paiement."])
    now = _paris_now()
    DemoPayFiPOperation.objects.filter(pk=operation.pk, resultrans="").update(
        resultrans=choice,
        numauto=f"{secrets.randbelow(10**6):06d}" if choice in ("P", "V") else "",
        dattrans=now.strftime("%d%m%Y"),
        heurtrans=now.strftime("%H%M"),
    )
    for outcome in _notify(operation.urlnotif, {"idop": str(operation.idop)}, times=_times(request.POST)):
        logger.info("Demo bank: PayFiP notification to %s: %s", operation.urlnotif, outcome)
    return SeeOther(operation.urlredirect)


# --- Dummy backend ------------------------------------------------------------------------------------

DUMMY_PARAMS = (
    "transaction_id",
    "amount",
    "email",
    "return_url",
    "direct_notification_url",
    "origin",
    "orderid",
    "subject",
)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def dummy(request):
    data = request.GET if request.method == "GET" else request.POST
    params = {name: data.get(name, "") for name in DUMMY_PARAMS}
    if not params["transaction_id"]:
        return _error(request, "Demande de paiement invalide", ["Identifiant de transaction absent."])
    if request.method == "GET":
        try:
            amount = format_euros(int((Decimal(params["amount"]) * 100).to_integral_value()))
        except (InvalidOperation, ValueError):
            amount = params["amount"]
        context = {
            "params": params,
            "amount": amount,
            "hidden": [(name, value) for name, value in params.items() if value],
        }
        return render(request, "demobank/dummy.html", context)

    choice = request.POST.get("choix", "")
    transaction_id = params["transaction_id"]
    notification = {
        "payer": {"transaction_id": transaction_id, "ok": "1", "signed": "1"},
        "refuser": {"transaction_id": transaction_id, "signed": "1", "reason": "refusé par la banque de démonstration"},
        "attente": {"transaction_id": transaction_id, "waiting": "1", "signed": "1"},
        "silence": None,
    }
    if choice not in notification:
        return _error(request, "Choix inconnu", ["Choisissez Payer, Refuser ou Ne pas répondre."])
    if notification[choice] and params["direct_notification_url"]:
        for outcome in _notify(params["direct_notification_url"], notification[choice], times=_times(request.POST)):
            logger.info("Demo bank: dummy notification to %s: %s", params["direct_notification_url"], outcome)
    if not params["return_url"]:
        return render(request, "demobank/done.html", {"title": "Paiement terminé", "link": ""})
    back = {"transaction_id": transaction_id}
    if choice == "payer":
        back["ok"] = "1"
    return SeeOther(_with_query(params["return_url"], back))


@require_GET
def index(request):
    operations = DemoPayFiPOperation.objects.all()[:20]
    return render(request, "demobank/index.html", {"operations": operations})
