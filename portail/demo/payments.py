"""The demo town's two régies, both paid through the local demo bank (portail.demobank), so that a
newcomer can pay in the demo with no internet:

- "Régie Enfance-Jeunesse" (centre de loisirs, périscolaire, restauration): PayFiP web-service, the
  Trésor public's service most towns use;
- "Régie des sports" (École municipale des sports, paid at enrolment): Systempay, a bank gateway,
  with its real HMAC-SHA256 signature checked both ways.

Both are in test mode with made-up identifiers; docs/payments.md says how a town sets real ones.
The invoice mentions (ordonnateur, the town's SIRET) and the SEPA creditor (ICS, DFT account) are
fake but valid in format (Luhn key, ISO 7064 check digits, IBAN checksum and RIB key).
"""

from portail.catalog.models import Activity, ActivityType
from portail.payments.models import Backend, Means, Regie

from .upsert import Tally

SYSTEMPAY_DEMO_SITE_ID = "12345678"
SYSTEMPAY_DEMO_TEST_KEY = "DemoCleDeTest2026"
PAYFIP_DEMO_NUMCLI = "123456"
# Département 99 does not exist: an obviously fake SIRET, valid for the Luhn key.
DEMO_TOWN_SIRET = "21990001600011"

REGIES = [
    {
        "code": "ENF",
        "name": "Régie Enfance-Jeunesse",
        "activities": [
            "pommiers-mercredis-2026-2027",
            "pommiers-vacances-2026-2027",
            "accueil-periscolaire-2026-2027",
            "restauration-scolaire-2026-2027",
        ],
        "accepted_means": [Means.ONLINE, Means.CHEQUE, Means.CASH, Means.CESU, Means.CARD_DESK, Means.DIRECT_DEBIT],
        "backend": Backend.PAYFIP_WS,
        "backend_options": {"numcli": PAYFIP_DEMO_NUMCLI},
        "lock_minutes": 30,
        "hold_minutes": 15,
        "cesu_types": ["periscolaire", "mercredis", "vacances"],
        "contact": "Mme Leroy, régisseuse – Hôtel de ville, 01 99 00 00 10",
        "issuer_name": "M. Alain Dubreuil",  # not the demo family's payer (Claire Martin)
        "issuer_quality": "Maire",
        "sepa_creditor_name": "Regie Enfance-Jeunesse Ville-Fleurie",
        "sepa_ics": "FR72ZZZ123456",
        # The Banque de France's published test account (RIB key 85).
        "sepa_iban": "FR7630001007941234567890185",
        "sepa_bic": "BDFEFRPPCCT",
    },
    {
        "code": "SPO",
        "name": "Régie des sports",
        "activities": ["ecole-municipale-des-sports-2026-2027"],
        "accepted_means": [Means.ONLINE, Means.CHEQUE, Means.CASH, Means.TRANSFER],
        "backend": Backend.SYSTEMPAY,
        "backend_options": {
            "vads_site_id": SYSTEMPAY_DEMO_SITE_ID,
            "secret_test": SYSTEMPAY_DEMO_TEST_KEY,
            "signature_algo": "hmac_sha256",
        },
        "lock_minutes": 0,
        "hold_minutes": 15,
        "cesu_types": [],
        "contact": "M. Girard, régisseur – Gymnase Alain Mimoun, 01 99 00 00 22",
        "issuer_name": "M. Paul Durand",
        "issuer_quality": "par délégation du Maire, l'adjoint aux sports",
        "sepa_creditor_name": "Regie des sports Ville-Fleurie",
        "sepa_ics": "FR48ZZZ990001",
        # A made-up DFT account at the Trésor public (bank 10071), valid IBAN and RIB key.
        "sepa_iban": "FR7610071750000000100543280",
        "sepa_bic": "TRPUFRP1XXX",
    },
]


REGIE_MENTIONS = ("issuer_name", "issuer_quality", "sepa_creditor_name", "sepa_ics", "sepa_iban", "sepa_bic")


def ensure_regies(tally: Tally, town) -> dict[str, Regie]:
    if not town.siret:  # printed on every invoice; kept if an administrator set another one
        type(town).objects.filter(pk=town.pk).update(siret=DEMO_TOWN_SIRET)
        town.siret = DEMO_TOWN_SIRET
    regies = {}
    for spec in REGIES:
        regie = tally.upsert(
            Regie,
            {"code": spec["code"]},
            {
                "town": town,
                "name": spec["name"],
                "accepted_means": [str(means) for means in spec["accepted_means"]],
                "backend": spec["backend"],
                "backend_options": spec["backend_options"],
                "test_mode": True,
                "lock_minutes": spec["lock_minutes"],
                "hold_minutes": spec["hold_minutes"],
                "receipt_prefix": "R",
                "contact": spec["contact"],
                **{name: spec[name] for name in REGIE_MENTIONS},
            },
        )
        wanted = set(Activity.objects.filter(slug__in=spec["activities"]).values_list("pk", flat=True))
        if set(regie.activities.values_list("pk", flat=True)) != wanted:
            regie.activities.set(wanted)
            tally.updated["payments.Regie"] += 1
        cesu = set(ActivityType.objects.filter(slug__in=spec["cesu_types"]).values_list("pk", flat=True))
        if set(regie.cesu_accepted_for.values_list("pk", flat=True)) != cesu:
            regie.cesu_accepted_for.set(cesu)
        regies[spec["code"]] = regie
    return regies
