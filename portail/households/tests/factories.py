"""Factories of the households tests (shared ones live in tests/factories.py)."""

import datetime as dt

from portail.core.audit import Channel
from portail.households.models import RequestKind
from portail.households.services import submit_request


def child_payload(**overrides) -> dict:
    """What a family types to ask for a new child (child and health fields, JSON-safe)."""
    payload = {
        "first_name": "Léa",
        "last_name": "Martin",
        "birth_date": dt.date(2019, 3, 2).isoformat(),
        "sex": "F",
        "school": None,
        "school_level": "GS",
        "diet": "no_pork",
        "photo_allowed": True,
        "may_leave_alone": False,
        "allergies": "Kiwi",
        "has_care_plan": False,
        "care_plan_details": "",
        "treatment": "",
        "doctor_name": "Dr Dupont",
        "doctor_phone": "01 23 45 67 89",
        "notes": "",
    }
    payload.update(overrides)
    return payload


NO_HEALTH = {"allergies": "", "doctor_name": "", "doctor_phone": ""}


def add_child_request(household, guardian, **overrides):
    return submit_request(
        household=household,
        kind=RequestKind.ADD_CHILD,
        payload=child_payload(**overrides),
        actor=guardian.user,
        channel=Channel.WEB,
    )
