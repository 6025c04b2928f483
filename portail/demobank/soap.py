"""The demo PayFiP web-service (SOAP 1.1, document/literal), enough for eopayment's PayFiP client.

Operations (PAYMENTS.md §2.3): creerPaiementSecurise, recupererDetailPaiementSecurise,
recupererDetailClient. Errors are FonctionnelleErreur faults (HTTP 500) with the codes the real
service uses: P1 unknown idop, P5 result not known yet, R3 refdet, A1/A2 e-mail, M1/M3/M5 amount,
T1 numcli, S1 saisie, N1 urlnotif, D1 urlredirect.
"""

import re
import uuid
from dataclasses import dataclass

from lxml import etree

from .models import DemoPayFiPOperation

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/contrat_paiement_securise/PaiementSecuriseService"
FAULT_STRING = "fr.gouv.finances.cp.tpa.webservice.exceptions.FonctionnelleErreur"

MESSAGES = {
    "P1": "IdOp incorrect",
    "P5": "Résultat de la transaction non connu",
    "R3": "Le format du paramètre REFDET n'est pas conforme",
    "A1": "Adresse mel absente",
    "A2": "Adresse mel incorrecte",
    "M1": "Le format du montant n'est pas conforme",
    "M3": "Le montant est inférieur au montant minimum (1 euro)",
    "M5": "Le montant est supérieur au montant maximum",
    "T1": "Le numéro de client est absent ou incorrect",
    "S1": "La valeur du paramètre SAISIE est incorrecte",
    "N1": "L'URL de notification est absente ou incorrecte",
    "D1": "L'URL de redirection est absente ou incorrecte",
    "E1": "Exercice incorrect",
    "X1": "Requête SOAP incorrecte",
}

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


@dataclass
class SoapAnswer:
    status: int
    content: bytes


class Fault(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _local(element) -> str:
    return etree.QName(element).localname


def _children(element) -> dict[str, str]:
    return {_local(child): (child.text or "").strip() for child in element if isinstance(child.tag, str)}


def _envelope(payload) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"S": SOAP_ENV})
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    body.append(payload)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _response(operation: str, values: dict[str, str]) -> SoapAnswer:
    wrapper = etree.Element(f"{{{TNS}}}{operation}Response", nsmap={"ns2": TNS})
    result = etree.SubElement(wrapper, "return")
    for name, value in values.items():
        etree.SubElement(result, name).text = value or ""
    return SoapAnswer(200, _envelope(wrapper))


def fault(code: str) -> SoapAnswer:
    payload = etree.Element(f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(payload, "faultcode").text = "S:Server"
    etree.SubElement(payload, "faultstring").text = FAULT_STRING
    detail = etree.SubElement(payload, "detail")
    error = etree.SubElement(detail, f"{{{TNS}}}FonctionnelleErreur", nsmap={"ns2": TNS})
    message = MESSAGES.get(code, "Erreur")
    for name, value in (("code", code), ("descriptif", message), ("libelle", message), ("severite", "2")):
        etree.SubElement(error, name).text = value
    return SoapAnswer(500, _envelope(payload))


def handle(body: bytes) -> SoapAnswer:
    """Answer one SOAP request body."""
    try:
        root = etree.fromstring(body, parser=_PARSER)
        soap_body = root.find(f"{{{SOAP_ENV}}}Body")
        request = next(child for child in soap_body if isinstance(child.tag, str))
    except (etree.XMLSyntaxError, TypeError, StopIteration, ValueError):
        return fault("X1")
    operation = _local(request)
    arg0 = next((child for child in request if isinstance(child.tag, str) and _local(child) == "arg0"), None)
    values = _children(arg0) if arg0 is not None else {}
    try:
        if operation == "creerPaiementSecurise":
            return _response(operation, {"idOp": str(create_operation(values).idop)})
        if operation == "recupererDetailPaiementSecurise":
            return _response(operation, operation_detail(values.get("idOp", "")))
        if operation == "recupererDetailClient":
            return _response(operation, client_detail(values.get("numCli", "")))
    except Fault as error:
        return fault(error.code)
    return fault("X1")


def create_operation(values: dict[str, str]) -> DemoPayFiPOperation:
    """creerPaiementSecurise: validate like the real service, store, return the operation."""
    numcli, refdet, montant = values.get("numcli", ""), values.get("refdet", ""), values.get("montant", "")
    mel, saisie, exer = values.get("mel", ""), values.get("saisie", ""), values.get("exer", "")
    urlnotif, urlredirect = values.get("urlnotif", ""), values.get("urlredirect", "")
    if not re.fullmatch(r"\d{6}", numcli):
        raise Fault("T1")
    if exer and not re.fullmatch(r"\d{4}", exer):
        raise Fault("E1")
    if not re.fullmatch(r"[A-Za-z0-9]{6,30}", refdet):
        raise Fault("R3")
    if not montant.isdigit():
        raise Fault("M1")
    if int(montant) < 100:
        raise Fault("M3")
    if int(montant) > 100_000_00:
        raise Fault("M5")
    if not mel:
        raise Fault("A1")
    if "@" not in mel or not 6 <= len(mel) <= 80:
        raise Fault("A2")
    if saisie not in ("T", "X", "W"):
        raise Fault("S1")
    if not urlnotif.startswith(("http://", "https://")):
        raise Fault("N1")
    if not urlredirect.startswith(("http://", "https://")):
        raise Fault("D1")
    return DemoPayFiPOperation.objects.create(
        numcli=numcli,
        exer=exer,
        refdet=refdet,
        montant=montant,
        mel=mel,
        objet=values.get("objet", "")[:100],
        saisie=saisie,
        urlnotif=urlnotif,
        urlredirect=urlredirect,
    )


def find_operation(idop: str) -> DemoPayFiPOperation | None:
    try:
        key = uuid.UUID(str(idop))
    except ValueError:
        return None
    return DemoPayFiPOperation.objects.filter(pk=key).first()


def operation_detail(idop: str) -> dict[str, str]:
    """recupererDetailPaiementSecurise: P1 for an unknown idop, P5 while the family has not answered."""
    operation = find_operation(idop)
    if operation is None:
        raise Fault("P1")
    if not operation.resultrans:
        raise Fault("P5")
    return {
        "dattrans": operation.dattrans,
        "exer": operation.exer,
        "heurtrans": operation.heurtrans,
        "idOp": str(operation.idop),
        "mel": operation.mel,
        "montant": operation.montant,
        "numauto": operation.numauto,
        "numcli": operation.numcli,
        "objet": operation.objet,
        "refdet": operation.refdet,
        "resultrans": operation.resultrans,
        "saisie": operation.saisie,
    }


def client_detail(numcli: str) -> dict[str, str]:
    """recupererDetailClient: the régie whose backend_options carry this numcli."""
    from portail.payments.models import Backend, Regie

    if not re.fullmatch(r"\d{6}", numcli):
        raise Fault("T1")
    for regie in Regie.objects.filter(backend__in=[Backend.TIPI, Backend.PAYFIP_WS]).select_related("town"):
        if str((regie.backend_options or {}).get("numcli", "")) == numcli:
            return {"libelleN1": regie.name, "libelleN2": str(regie.town), "libelleN3": "", "numcli": numcli}
    raise Fault("T1")
