"""`seed_bench`: the large deterministic dataset of QUALITY.md §4.1, on top of the demo town.

At scale 1: 5,000 households (1.5 guardians each on average, every guardian with a login), 8,000
children (10 % with allergies, 3 % with a PAI), 12 schools, 40 activities with their sessions for the
2026-2027 school year. Same scale and seed → same rows (random.Random(seed), no clock, no set order).

Bench rows are recognisable so `--reset` removes them and nothing else: households "B000001…",
users "@bench.portail-famille.fr", activities and facilities "bench-…", the 9 extra schools.
Speed: bulk_create in batches and one password hash for everybody (a hash per user would cost minutes).
"""

import hashlib
import random
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth.hashers import make_password
from django.db import transaction

from portail.accounts.models import User
from portail.catalog.models import Activity, Facility, PaymentMode, Unit
from portail.core.errors import BusinessError
from portail.enrolments.eligibility import check_group_band
from portail.enrolments.models import Enrolment, EnrolmentStatus
from portail.enrolments.services import REFERENCE_PREFIX
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
    HouseholdStatus,
    RequestKind,
    RequestStatus,
    Sex,
)
from portail.organisations.models import School

from . import bench_data as D
from . import constants as C
from .catalog import Catalog, ensure_activity, ensure_facility, paris
from .loader import load_demo
from .upsert import Tally

BATCH_SIZE = 1000
HOUSEHOLDS_AT_SCALE_1 = 5000
CHILDREN_AT_SCALE_1 = 8000
SECOND_GUARDIAN_RATE = 0.5  # 1.5 guardians per household
ALLERGY_RATE = 0.10
CARE_PLAN_RATE = 0.03  # PAI, always among the children with an allergy
PENDING_REQUEST_RATE = 0.02
MAX_CHILDREN = 4
# Validated enrolments (QUALITY.md §4.1 rates), never more than a group's places.
CANTEEN_RATE = 0.80  # of the children of the 9 bench schools, in their school's canteen
PERISCOLAIRE_RATE = 0.40  # same schools, their périscolaire
MERCREDIS_RATE = 0.25  # of every bench child, in one of the 3 bench centres' mercredis
MAX_SCALE = 20


@dataclass
class BenchResult:
    counts: Counter
    seconds: float
    scale: float
    seed: int

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def bench_households():
    return Household.objects.filter(reference__startswith=C.BENCH_REFERENCE_PREFIX)


def bench_exists() -> bool:
    return bench_households().exists()


def reset_bench() -> Counter:
    """Delete the bench rows only (demo town and real data are left alone); returns deleted counts."""
    deleted: Counter = Counter()
    with transaction.atomic():
        for queryset in (
            bench_households(),
            User.objects.filter(email__endswith="@" + C.BENCH_DOMAIN),
            Activity.objects.filter(slug__startswith=C.BENCH_SLUG_PREFIX),
            Facility.objects.filter(slug__startswith=C.BENCH_SLUG_PREFIX),
            School.objects.filter(town__name=C.TOWN_NAME, name__in=D.BENCH_SCHOOLS),
        ):
            _total, per_model = queryset.delete()
            deleted.update(per_model)
    return deleted


def seed_bench(*, scale: float, seed: int, reset: bool = False) -> BenchResult:
    """Seed the bench dataset (refused if it exists, unless reset=True which replaces it)."""
    if not 0 < scale <= MAX_SCALE:
        raise BusinessError(f"L'échelle doit être comprise entre 0 (exclu) et {MAX_SCALE}.")
    started = time.perf_counter()
    with transaction.atomic():
        if bench_exists():
            if not reset:
                raise BusinessError(
                    "Le jeu de données de test de charge existe déjà. Relancez avec --reset pour le remplacer."
                )
            reset_bench()
        catalog = load_demo().catalog
        counts: Counter = Counter()
        seed_catalog(catalog, counts)
        rng = random.Random(seed)
        households = seed_households(rng=rng, scale=scale, catalog=catalog, counts=counts)
        # Own random stream: adding or changing enrolments never changes the households above.
        seed_enrolments(rng=random.Random(f"{seed}/enrolments"), catalog=catalog, counts=counts)
        counts["bookings"] = seed_bookings(rng=rng, scale=scale, catalog=catalog, households=households)
    return BenchResult(counts=+counts, seconds=time.perf_counter() - started, scale=scale, seed=seed)


def seed_catalog(catalog: Catalog, counts: Counter) -> None:
    """12 schools and 40 activities: the demo's plus the bench's (deterministic, no randomness)."""
    tally = Tally()
    for name in D.BENCH_SCHOOLS:
        catalog.schools[name] = tally.upsert(School, {"town": catalog.town, "name": name})
    for position, values in enumerate(D.bench_facilities(), start=len(catalog.facilities)):
        ensure_facility(tally, catalog, values, position=position)
    for facility_slug, spec in D.bench_activities():
        ensure_activity(tally, catalog, facility=catalog.facilities[facility_slug], spec=spec)
    set_unit_capacities()
    counts.update(tally.created)


def set_unit_capacities() -> None:
    """Places per session of the bench activities that are booked day by day: the facility's places,
    i.e. the sum of the activity's groups (a Wednesday of a centre with groups of 48 and 72 → 120)."""
    activities = (
        Activity.objects.filter(slug__startswith=C.BENCH_SLUG_PREFIX)
        .exclude(payment_mode=PaymentMode.AT_ENROLMENT)
        .prefetch_related("groups")
    )
    for activity in activities:
        places = sum(group.capacity or 0 for group in activity.groups.all()) or None
        Unit.objects.filter(activity=activity).update(capacity=places)


def seed_enrolments(*, rng: random.Random, catalog: Catalog, counts: Counter) -> int:
    """Validated enrolments for the year: canteen and périscolaire of the child's school (bench schools),
    mercredis in one of the 3 bench centres. Each child is placed in the first group whose age or level
    band fits it (the enrolments' own eligibility rule), and a group never gets more children than its
    places: at scale 1 the bench catalog's places, not the rates, are the limit."""
    children = list(
        Child.objects.filter(household__reference__startswith=C.BENCH_REFERENCE_PREFIX)
        .select_related("school")
        .order_by("pk")
    )
    activities = {
        a.slug: a
        for a in Activity.objects.filter(slug__startswith=C.BENCH_SLUG_PREFIX).prefetch_related("groups", "periods")
    }
    wanted: list[tuple[Child, Activity]] = []
    by_school: dict[str, list[Child]] = {}
    for child in children:
        by_school.setdefault(child.school.name if child.school else "", []).append(child)
    for school in D.BENCH_SCHOOLS:
        pupils = by_school.get(school, [])
        slug = D.slug_of(school)
        for prefix, rate in (("restauration", CANTEEN_RATE), ("periscolaire", PERISCOLAIRE_RATE)):
            activity = activities[f"{C.BENCH_SLUG_PREFIX}{prefix}-{slug}"]
            wanted += [(child, activity) for child in rng.sample(pupils, round(len(pupils) * rate))]
    centres = [activities[f"{C.BENCH_SLUG_PREFIX}mercredis-{D.slug_of(name)}"] for name in D.CENTRES]
    for child in rng.sample(children, round(len(children) * MERCREDIS_RATE)):
        wanted.append((child, rng.choice(centres)))

    places: Counter = Counter()
    enrolments = []
    for child, activity in wanted:
        period = activity.periods.all()[0]
        for group in activity.groups.all():
            if places[group.pk] < (group.capacity or 0) and not check_group_band(
                child=child, period=period, group=group
            ):
                places[group.pk] += 1
                created_at = _when(rng, paris(2026, 6, 1), 60)
                enrolments.append(
                    Enrolment(
                        child=child,
                        activity=activity,
                        period=period,
                        group=group,
                        status=EnrolmentStatus.VALIDATED,
                        created_at=created_at,
                        decided_at=created_at + timedelta(days=2),
                    )
                )
                break
    enrolments = _bulk(Enrolment, enrolments, counts)
    for enrolment in enrolments:  # the services' format, built from the primary key
        enrolment.reference = f"{REFERENCE_PREFIX}-{enrolment.created_at.year}-{enrolment.pk:06d}"
    Enrolment.objects.bulk_update(enrolments, ["reference"], batch_size=BATCH_SIZE)
    return len(enrolments)


def seed_bookings(*, rng: random.Random, scale: float, catalog: Catalog, households: list[Household]) -> int:
    """Hook for the bookings and invoices of QUALITY.md §4.1, which do not exist yet.

    When the bookings app lands, generate here with `rng` (after the households, so their data do not
    change): canteen 80 % of children × school days, périscolaire 40 %, mercredis 25 %; then 9 months of
    invoices (70 % paid online). Use bulk_create in batches like seed_households. Returns rows created.
    """
    return 0


# --- Households ------------------------------------------------------------------------------


def _ascii(value: str) -> str:
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return "".join(c if c.isalnum() else "-" for c in plain.lower()).strip("-")


def _phone(rng: random.Random, prefix: str = "06 39 98") -> str:
    # ARCEP's ranges reserved for fiction: no real person gets called.
    return f"{prefix} {rng.randrange(100):02d} {rng.randrange(100):02d}"


def _when(rng: random.Random, start, days: int):
    return start + timedelta(minutes=rng.randrange(days * 24 * 60))


def _bulk(model, objects: list, counts: Counter) -> list:
    created = model.objects.bulk_create(objects, batch_size=BATCH_SIZE)
    counts[model._meta.label] += len(created)
    return created


def _children_per_household(rng: random.Random, households: int, children: int) -> list[int]:
    """Exactly `children` children, at least one and at most MAX_CHILDREN per household."""
    children = min(max(children, households), households * MAX_CHILDREN)
    per_household = [1] * households
    extra = children - households
    while extra:
        index = rng.randrange(households)
        if per_household[index] < MAX_CHILDREN:
            per_household[index] += 1
            extra -= 1
    return per_household


def seed_households(*, rng: random.Random, scale: float, catalog: Catalog, counts: Counter) -> list[Household]:
    n_households = max(1, round(HOUSEHOLDS_AT_SCALE_1 * scale))
    n_children = max(n_households, round(CHILDREN_AT_SCALE_1 * scale))
    password = make_password(C.BENCH_PASSWORD)  # hashed once, shared by every bench login
    school_ids = {name: school.pk for name, school in catalog.schools.items()}

    households, last_names = [], []
    for number in range(1, n_households + 1):
        scheme = rng.choices([BenefitScheme.CAF, BenefitScheme.MSA, BenefitScheme.NONE], weights=[80, 5, 15])[0]
        households.append(
            Household(
                reference=f"{C.BENCH_REFERENCE_PREFIX}{number:06d}",
                status=HouseholdStatus.ACTIVE,
                benefit_scheme=scheme,
                benefit_number="" if scheme == BenefitScheme.NONE else str(rng.randrange(1_000_000, 9_999_999)),
                created_at=_when(rng, paris(2025, 9, 1), 400),
            )
        )
        last_names.append(rng.choice(D.LAST_NAMES))
    households = _bulk(Household, households, counts)

    with_second = set(rng.sample(range(n_households), round(n_households * SECOND_GUARDIAN_RATE)))
    users, guardians = [], []
    for index, household in enumerate(households):
        street = f"{rng.randrange(1, 120)} {rng.choice(D.STREETS)}"
        for rank in (1, 2) if index in with_second else (1,):
            female = rng.random() < (0.6 if rank == 1 else 0.4)
            first_name = rng.choice(D.FEMALE_NAMES if female else D.MALE_NAMES)
            last_name = last_names[index] if rng.random() < 0.85 else rng.choice(D.LAST_NAMES)
            email = f"{_ascii(first_name)}.{_ascii(last_name)}.{household.reference.lower()}-{rank}@{C.BENCH_DOMAIN}"
            users.append(
                User(
                    email=email,
                    first_name=first_name,
                    last_name=last_name,
                    password=password,
                    date_joined=household.created_at,
                )
            )
            guardians.append(
                Guardian(
                    household=household,
                    civility=Civility.MME if female else Civility.M,
                    first_name=first_name,
                    last_name=last_name,
                    relationship="mère" if female else "père",
                    email=email,
                    mobile_phone=_phone(rng),
                    home_phone=_phone(rng, "01 99 00") if rng.random() < 0.3 else "",
                    address_line1=street,
                    postcode="99999",
                    city=C.TOWN_NAME,
                    is_payer=rank == 1,
                )
            )
    for user, guardian in zip(_bulk(User, users, counts), guardians, strict=True):
        guardian.user = user
    guardians = _bulk(Guardian, guardians, counts)

    children = []
    for household, count, last_name in zip(
        households, _children_per_household(rng, n_households, n_children), last_names, strict=True
    ):
        used: set[str] = set()
        for _ in range(count):
            birth_year = rng.choice(list(D.LEVEL_BY_BIRTH_YEAR))
            level = D.LEVEL_BY_BIRTH_YEAR[birth_year]
            female = rng.random() < 0.5
            names = [n for n in (D.FEMALE_NAMES if female else D.MALE_NAMES) if n not in used]
            first_name = rng.choice(names)
            used.add(first_name)
            birth_date = date(birth_year, 1, 1) + timedelta(days=rng.randrange(365))
            children.append(
                Child(
                    household=household,
                    first_name=first_name,
                    last_name=last_name,
                    birth_date=birth_date,
                    sex=Sex.FEMALE if female else Sex.MALE,
                    school_id=school_ids[rng.choice(D.schools_for(level))],
                    school_level=level,
                    diet=rng.choices([Diet.STANDARD, Diet.NO_PORK, Diet.NO_MEAT, Diet.VEGETARIAN], [82, 9, 5, 4])[0],
                    photo_allowed=rng.random() < 0.7,
                    may_leave_alone=birth_year <= 2017 and rng.random() < 0.3,
                    created_at=household.created_at,
                )
            )
    children = _bulk(Child, children, counts)

    allergic = rng.sample(range(len(children)), round(len(children) * ALLERGY_RATE))
    care_plans = set(allergic[: round(len(children) * CARE_PLAN_RATE)])
    allergic = set(allergic)
    records, persons = [], []
    for index, child in enumerate(children):
        record = HealthRecord(child=child, doctor_name=rng.choice(D.DOCTORS), doctor_phone=_phone(rng, "01 99 00"))
        if index in allergic:
            record.allergies = rng.choice(D.ALLERGIES)
        if index in care_plans:
            record.has_care_plan = True
            record.care_plan_details = f"PAI : éviction ({record.allergies.lower()}), trousse d'urgence à l'accueil."
            record.treatment = "Antihistaminique ; stylo d'adrénaline en cas de réaction grave."
            child.diet = Diet.MEDICAL
        records.append(record)
        for _ in range(rng.choices([0, 1, 2], [30, 50, 20])[0]):
            female = rng.random() < 0.6
            persons.append(
                AuthorizedPerson(
                    child=child,
                    first_name=rng.choice(D.FEMALE_NAMES if female else D.MALE_NAMES),
                    last_name=rng.choice(D.LAST_NAMES),
                    phone=_phone(rng),
                    relationship=rng.choice(D.RELATIONSHIPS),
                )
            )
    Child.objects.bulk_update([children[i] for i in sorted(care_plans)], ["diet"], batch_size=BATCH_SIZE)
    _bulk(HealthRecord, records, counts)
    _bulk(AuthorizedPerson, persons, counts)

    quotients = [
        FamilyQuotient(
            household=household,
            value=rng.randrange(300, 2500),
            valid_from=date(2026, 1, 1),
            valid_until=date(2026, 12, 31),
            source=household.benefit_scheme if household.benefit_scheme != BenefitScheme.NONE else BenefitScheme.OTHER,
            created_at=household.created_at,
        )
        for household in households
    ]
    _bulk(FamilyQuotient, quotients, counts)
    _bulk(ChangeRequest, _pending_requests(rng, households, guardians, children), counts)
    return households


def _pending_requests(rng, households, guardians, children) -> list[ChangeRequest]:
    """A few pending requests, so the staff lists have something to sort and page."""
    payers = {g.household_id: g for g in guardians if g.is_payer}
    first_child = {}
    for child in children:
        first_child.setdefault(child.household_id, child)
    requests = []
    for index in sorted(rng.sample(range(len(households)), round(len(households) * PENDING_REQUEST_RATE))):
        household = households[index]
        submitted = {
            "household": household,
            "status": RequestStatus.PENDING,
            "submitted_by_id": payers[household.pk].user_id,
            "submitted_at": _when(rng, paris(2026, 10, 1), 50),
        }
        if index % 2:
            child = first_child[household.pk]
            payload = {
                "first_name": rng.choice(D.FEMALE_NAMES),
                "last_name": rng.choice(D.LAST_NAMES),
                "phone": _phone(rng),
                "relationship": rng.choice(D.RELATIONSHIPS),
            }
            requests.append(
                ChangeRequest(
                    kind=RequestKind.ADD_AUTHORIZED_PERSON,
                    target_id=child.pk,
                    payload=payload,
                    message=f"Personne autorisée pour {child.first_name}.",
                    **submitted,
                )
            )
        else:
            payload = {
                "value": rng.randrange(300, 2500),
                "valid_from": "2027-01-01",
                "valid_until": "2027-12-31",
                "source": "caf",
            }
            requests.append(
                ChangeRequest(
                    kind=RequestKind.QUOTIENT,
                    payload=payload,
                    message="Nouveau quotient familial pour 2027.",
                    **submitted,
                )
            )
    return requests


# --- Digest (determinism check) --------------------------------------------------------------


def bench_digest() -> str:
    """SHA-256 of the bench rows by their natural values (no ids, which differ between runs)."""
    prefix = C.BENCH_REFERENCE_PREFIX
    queries = [
        Household.objects.filter(reference__startswith=prefix).values_list(
            "reference", "status", "benefit_scheme", "benefit_number", "created_at"
        ),
        Guardian.objects.filter(household__reference__startswith=prefix).values_list(
            "household__reference",
            "civility",
            "first_name",
            "last_name",
            "email",
            "mobile_phone",
            "home_phone",
            "address_line1",
            "is_payer",
            "user__email",
        ),
        Child.objects.filter(household__reference__startswith=prefix).values_list(
            "household__reference",
            "first_name",
            "last_name",
            "birth_date",
            "sex",
            "school__name",
            "school_level",
            "diet",
            "photo_allowed",
            "may_leave_alone",
        ),
        HealthRecord.objects.filter(child__household__reference__startswith=prefix).values_list(
            "child__household__reference",
            "child__first_name",
            "allergies",
            "has_care_plan",
            "doctor_name",
            "doctor_phone",
        ),
        AuthorizedPerson.objects.filter(child__household__reference__startswith=prefix).values_list(
            "child__household__reference", "child__first_name", "first_name", "last_name", "phone", "relationship"
        ),
        FamilyQuotient.objects.filter(household__reference__startswith=prefix).values_list(
            "household__reference", "value", "valid_from", "valid_until", "source"
        ),
        ChangeRequest.objects.filter(household__reference__startswith=prefix).values_list(
            "household__reference", "kind", "status", "payload", "message", "submitted_at"
        ),
        Enrolment.objects.filter(child__household__reference__startswith=prefix).values_list(
            "child__household__reference", "child__first_name", "activity__slug", "group__name", "status", "created_at"
        ),
    ]
    digest = hashlib.sha256()
    for query in queries:
        for row in query.order_by("pk"):
            digest.update(repr(row).encode())
    return digest.hexdigest()
