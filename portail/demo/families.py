"""The demo households and staff accounts of Ville-Fleurie (all fictional)."""

from datetime import date

from django.contrib.auth.hashers import check_password

from portail.accounts.codes import child_code_digest
from portail.accounts.models import AccessCode, User
from portail.accounts.roles import ensure_roles
from portail.accounts.services import issue_access_codes
from portail.core.audit import Channel
from portail.households.models import (
    AuthorizedPerson,
    BenefitScheme,
    ChangeRequest,
    Child,
    Civility,
    Diet,
    FamilyQuotient,
    Guardian,
    HealthRecord,
    Household,
    RequestKind,
    RequestStatus,
    SchoolLevel,
    Sex,
)

from . import constants as C
from .catalog import Catalog
from .upsert import Tally

JULES_FERRY, LES_LILAS, MARIE_CURIE = (
    "École élémentaire Jules Ferry",
    "École maternelle Les Lilas",
    "École primaire Marie Curie",
)
ADDRESS = {"postcode": "99999", "city": C.TOWN_NAME}
EMPTY_HEALTH = {"allergies": "", "has_care_plan": False, "care_plan_details": "", "treatment": "", "notes": ""}

HOUSEHOLDS = [
    {
        "reference": "D000001",
        "benefit_scheme": BenefitScheme.CAF,
        "benefit_number": "2468101",
        "quotients": [(820, date(2026, 1, 1), date(2026, 12, 31))],
        "guardians": [
            {
                "civility": Civility.MME,
                "first_name": "Claire",
                "last_name": "Martin",
                "relationship": "mère",
                "email": C.MARTIN_EMAIL,
                "mobile_phone": "06 39 98 00 01",
                "work_phone": "01 99 00 10 01",
                "employer_name": "Clinique des Tilleuls",
                "address_line1": "12 rue des Glycines",
                "is_payer": True,
                "login": True,
            },
            {
                "civility": Civility.M,
                "first_name": "Julien",
                "last_name": "Martin",
                "relationship": "père",
                "email": f"julien.martin@{C.DEMO_DOMAIN}",
                "mobile_phone": "06 39 98 00 02",
                "address_line1": "12 rue des Glycines",
            },
        ],
        "children": [
            {
                "first_name": "Léa",
                "last_name": "Martin",
                "birth_date": date(2017, 3, 14),
                "sex": Sex.FEMALE,
                "school": JULES_FERRY,
                "school_level": SchoolLevel.CM1,
                "photo_allowed": True,
                "health": {"doctor_name": "Dr Anne Lefèvre", "doctor_phone": "01 99 00 20 01"},
                "authorized": [("Monique", "Martin", "06 39 98 00 03", "grand-mère")],
            },
            {
                "first_name": "Hugo",
                "last_name": "Martin",
                "birth_date": date(2021, 6, 2),
                "sex": Sex.MALE,
                "school": LES_LILAS,
                "school_level": SchoolLevel.GS,
                "diet": Diet.MEDICAL,
                "health": {
                    "allergies": "Arachide",
                    "has_care_plan": True,
                    "care_plan_details": "PAI alimentaire : éviction de l'arachide et des fruits à coque. "
                    "Panier repas fourni par la famille. Trousse d'urgence à emporter lors des sorties.",
                    "treatment": "Stylo d'adrénaline 150 µg en cas de réaction grave, puis appel du 15.",
                    "doctor_name": "Dr Anne Lefèvre",
                    "doctor_phone": "01 99 00 20 01",
                },
                "authorized": [("Monique", "Martin", "06 39 98 00 03", "grand-mère")],
            },
        ],
        "requests": [
            {
                "kind": RequestKind.QUOTIENT,
                "payload": {"value": 790, "valid_from": "2027-01-01", "valid_until": "2027-12-31", "source": "caf"},
                "message": "Bonjour, voici notre quotient familial CAF pour 2027. Cordialement, Claire Martin.",
            }
        ],
    },
    {
        "reference": "D000002",
        "benefit_scheme": BenefitScheme.CAF,
        "benefit_number": "1357911",
        "quotients": [(1450, date(2026, 1, 1), date(2026, 12, 31))],
        "guardians": [
            {
                "civility": Civility.M,
                "first_name": "Thomas",
                "last_name": "Bernard",
                "relationship": "père",
                "email": C.BERNARD_EMAIL,
                "mobile_phone": "06 39 98 00 11",
                "home_phone": "01 99 00 10 11",
                "employer_name": "Transports Fleurie",
                "work_phone": "01 99 00 10 12",
                "address_line1": "5 allée des Coquelicots",
                "is_payer": True,
                "login": True,
            },
            {
                "civility": Civility.MME,
                "first_name": "Sophie",
                "last_name": "Bernard",
                "relationship": "mère",
                "email": f"sophie.bernard@{C.DEMO_DOMAIN}",
                "mobile_phone": "06 39 98 00 12",
                "address_line1": "5 allée des Coquelicots",
            },
        ],
        "children": [
            {
                "first_name": "Chloé",
                "last_name": "Bernard",
                "birth_date": date(2016, 11, 20),
                "sex": Sex.FEMALE,
                "school": JULES_FERRY,
                "school_level": SchoolLevel.CM2,
                "may_leave_alone": True,
                "photo_allowed": True,
                "health": {"allergies": "Pollen de graminées (rhinite au printemps)", "doctor_name": "Dr Marc Petit"},
                "authorized": [],
            },
            {
                "first_name": "Nathan",
                "last_name": "Bernard",
                "birth_date": date(2019, 1, 9),
                "sex": Sex.MALE,
                "school": JULES_FERRY,
                "school_level": SchoolLevel.CE1,
                "photo_allowed": True,
                "health": {"doctor_name": "Dr Marc Petit"},
                "authorized": [("Fatima", "Benali", "06 39 98 00 13", "voisine")],
            },
            {
                "first_name": "Inès",
                "last_name": "Bernard",
                "birth_date": date(2022, 9, 30),
                "sex": Sex.FEMALE,
                "school": LES_LILAS,
                "school_level": SchoolLevel.MS,
                "diet": Diet.NO_PORK,
                "health": {"doctor_name": "Dr Marc Petit"},
                "authorized": [("Fatima", "Benali", "06 39 98 00 13", "voisine")],
            },
        ],
        "requests": [
            {
                "kind": RequestKind.ADD_AUTHORIZED_PERSON,
                "target": "Nathan",
                "payload": {
                    "first_name": "Hélène",
                    "last_name": "Roux",
                    "phone": "06 39 98 00 14",
                    "relationship": "grand-mère",
                },
                "message": "Sa grand-mère viendra le chercher le jeudi soir.",
            }
        ],
    },
    {
        # No login yet: staff can demonstrate the invitation from this household.
        "reference": "D000003",
        "benefit_scheme": BenefitScheme.MSA,
        "benefit_number": "8642097",
        "quotients": [(540, date(2026, 1, 1), date(2026, 12, 31))],
        "guardians": [
            {
                "civility": Civility.MME,
                "first_name": "Sofia",
                "last_name": "Haddad",
                "relationship": "mère",
                "email": f"sofia.haddad@{C.DEMO_DOMAIN}",
                "mobile_phone": "06 39 98 00 21",
                "address_line1": "27 route de la Vallée",
                "address_line2": "Bâtiment B, appartement 12",
                "is_payer": True,
            },
        ],
        "children": [
            {
                "first_name": "Yanis",
                "last_name": "Haddad",
                "birth_date": date(2018, 5, 22),
                "sex": Sex.MALE,
                "school": MARIE_CURIE,
                "school_level": SchoolLevel.CE2,
                "diet": Diet.NO_MEAT,
                "health": {"notes": "Porte des lunettes."},
                "authorized": [("Karim", "Haddad", "06 39 98 00 22", "oncle")],
            },
        ],
        "requests": [],
    },
]

STAFF_NAMES = {
    "Agent d'accueil": ("Nadia", "Lambert"),
    "Gestionnaire": ("Paul", "Girard"),
    "Régisseur": ("Isabelle", "Moreau"),
    "Administrateur": ("Marc", "Fontaine"),
}

GUARDIAN_DEFAULTS = {
    "relationship": "",
    "mobile_phone": "",
    "home_phone": "",
    "employer_name": "",
    "work_phone": "",
    "address_line1": "",
    "address_line2": "",
    "is_payer": False,
}
CHILD_DEFAULTS = {"school_level": "", "diet": Diet.STANDARD, "photo_allowed": False, "may_leave_alone": False}


def ensure_user(tally: Tally, *, email: str, password: str, first_name: str, last_name: str, is_staff: bool) -> User:
    """The user of `email`; the password is hashed only when it does not match (argon2 is slow on purpose)."""
    created_before = tally.created["accounts.User"]
    user = tally.upsert(
        User,
        {"email": email},
        {
            "first_name": first_name,
            "last_name": last_name,
            "is_staff": is_staff,
            "is_superuser": False,
            "is_active": True,
        },
    )
    # A new user has no password yet: skip the check (Django hashes even then, to hide timing).
    if not user.password or not check_password(password, user.password):
        user.set_password(password)
        user.save(update_fields=["password"])
        if tally.created["accounts.User"] == created_before:
            tally.updated["accounts.User"] += 1
    return user


def ensure_staff(tally: Tally) -> dict[str, User]:
    groups = ensure_roles()
    staff = {}
    for email, role in C.STAFF_ACCOUNTS:
        first_name, last_name = STAFF_NAMES[role]
        created_before = tally.created["accounts.User"]
        user = ensure_user(
            tally, email=email, password=C.STAFF_PASSWORD, first_name=first_name, last_name=last_name, is_staff=True
        )
        if set(user.groups.values_list("name", flat=True)) != {role}:
            user.groups.set([groups[role]])
            if tally.created["accounts.User"] == created_before:
                tally.updated["accounts.User"] += 1
        staff[role] = user
    return staff


def _ensure_household(tally: Tally, catalog: Catalog, spec: dict) -> Household:
    household = tally.upsert(
        Household,
        {"reference": spec["reference"]},
        {"status": "active", "benefit_scheme": spec["benefit_scheme"], "benefit_number": spec["benefit_number"]},
    )
    payer_user = None
    for guardian_spec in spec["guardians"]:
        values = {**GUARDIAN_DEFAULTS, **ADDRESS, **guardian_spec}
        login = values.pop("login", False)
        lookup = {"household": household, "first_name": values.pop("first_name"), "last_name": values.pop("last_name")}
        if login:
            user = ensure_user(
                tally,
                email=values["email"],
                password=C.FAMILY_PASSWORD,
                first_name=lookup["first_name"],
                last_name=lookup["last_name"],
                is_staff=False,
            )
            values["user"] = user
            payer_user = user if values["is_payer"] else payer_user
        tally.upsert(Guardian, lookup, values)
    children = {}
    for child_spec in spec["children"]:
        values = {**CHILD_DEFAULTS, **child_spec}
        health = {**EMPTY_HEALTH, "doctor_name": "", "doctor_phone": "", **values.pop("health")}
        authorized = values.pop("authorized")
        values["school"] = catalog.schools[values["school"]]
        child = tally.upsert(Child, {"household": household, "first_name": values.pop("first_name")}, values)
        tally.upsert(HealthRecord, {"child": child}, health)
        for first_name, last_name, phone, relationship in authorized:
            tally.upsert(
                AuthorizedPerson,
                {"child": child, "first_name": first_name, "last_name": last_name},
                {"phone": phone, "relationship": relationship},
            )
        children[child.first_name] = child
    for value, valid_from, valid_until in spec["quotients"]:
        tally.upsert(
            FamilyQuotient,
            {"household": household, "valid_from": valid_from},
            {"value": value, "valid_until": valid_until, "source": spec["benefit_scheme"]},
        )
    for request in spec["requests"]:
        target = children[request["target"]].pk if "target" in request else None
        # Keyed on the message whatever its status: once staff decide it, a re-run leaves it decided.
        lookup = {"household": household, "kind": request["kind"], "message": request["message"]}
        if not ChangeRequest.objects.filter(**lookup).exists():
            ChangeRequest.objects.create(
                **lookup,
                status=RequestStatus.PENDING,
                target_id=target,
                payload=request["payload"],
                submitted_by=payer_user,
            )
            tally.created["households.ChangeRequest"] += 1
    return household


def _ensure_demo_codes(tally: Tally) -> None:
    """Léa Martin's codes are fixed so the README can print them. Re-issued only if they no longer work
    (first run, codes regenerated by staff, or another SECRET_KEY)."""
    child = Child.objects.get(household__reference="D000001", first_name="Léa")
    active = AccessCode.objects.active().filter(child=child).first()
    if (
        active is not None
        and active.child_code_digest == child_code_digest(C.DEMO_CHILD_CODE)
        and check_password(C.DEMO_PAYER_CODE, active.payer_code_hash)
    ):
        return
    issue_access_codes(
        child=child, actor=None, channel=Channel.SYSTEM, child_code=C.DEMO_CHILD_CODE, payer_code=C.DEMO_PAYER_CODE
    )
    tally.created["accounts.AccessCode"] += 1


def ensure_households(tally: Tally, catalog: Catalog) -> list[Household]:
    households = [_ensure_household(tally, catalog, spec) for spec in HOUSEHOLDS]
    _ensure_demo_codes(tally)
    return households
