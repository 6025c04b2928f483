"""`load_demo`: the fictional town of Ville-Fleurie, its catalog, three families (the Martins with enrolments,
bookings and an excused absence), their invoices of September to November 2026 (one paid at the desk, two
to pay online) and one agent per role.

Idempotent: every row is found by its natural key (slug, reference, e-mail, name) and only fields that
differ are written, so a second run changes nothing, and a demo value changed by hand is put back
(requests decided by staff stay decided). Runs in one transaction.
"""

from dataclasses import dataclass

from django.db import transaction

from portail.accounts.models import User
from portail.core.audit import Channel, log_action
from portail.households.models import Household

from .billing import ensure_billing
from .catalog import Catalog, ensure_catalog
from .families import ensure_households, ensure_staff
from .payments import ensure_regies
from .plannings import ensure_plannings
from .tariffs import ensure_tariffs
from .upsert import Tally


@dataclass
class DemoResult:
    tally: Tally
    catalog: Catalog
    staff: dict[str, User]
    households: list[Household]


@transaction.atomic
def load_demo() -> DemoResult:
    tally = Tally()
    catalog = ensure_catalog(tally)
    staff = ensure_staff(tally)
    households = ensure_households(tally, catalog)
    ensure_plannings(tally, staff)
    ensure_regies(tally, catalog.town)
    ensure_tariffs(tally)
    ensure_billing(tally, staff)
    if tally.changed:
        log_action(
            actor=None,
            channel=Channel.SYSTEM,
            action="demo.loaded",
            after={"created": dict(tally.created), "updated": dict(tally.updated)},
            message="Données de démonstration chargées (Ville-Fleurie).",
        )
    return DemoResult(tally=tally, catalog=catalog, staff=staff, households=households)
