"""The enrolment error and its French messages (safe to show to families and staff)."""

from portail.core.errors import BusinessError

MESSAGES = {
    "busy": "Trop de demandes en même temps, réessayez dans un instant.",
    "already_enrolled": "{child} a déjà une inscription en cours pour cette activité et cette période.",
    "wrong_status": "Cette inscription est « {status} » : cette action n'est pas possible.",
    "reason_required": "Indiquez le motif du refus : il sera envoyé à la famille.",
    "group_full": "Le groupe « {group} » est complet.",
    "same_group": "L'inscription est déjà dans ce groupe.",
    "other_activity_group": "Le groupe choisi n'appartient pas à l'activité de cette inscription.",
    "capacity_below_held": "Le groupe compte déjà {held} place(s) occupée(s) : la capacité ne peut pas être inférieure.",
    "capacity_invalid": "Indiquez un nombre de places positif.",
    "waiting_list_changed": "La liste d'attente a changé entre-temps : rechargez la page puis recommencez.",
    "offer_expired": "Le délai pour accepter cette place est dépassé.",
    "bad_weekly_pattern": "La semaine type contient un jour ou une unité qui ne correspond pas à cette activité.",
    "duplicate_nothing_changes": "Choisissez un autre enfant ou une autre période pour dupliquer l'inscription.",
    "duplicate_needs_group": "Choisissez le groupe : la période choisie appartient à une autre activité.",
}


class EnrolmentError(BusinessError):
    """A rule refused an enrolment operation. `refusals` holds the eligibility reasons, if any."""

    def __init__(self, message: str = "", *, code: str = "invalid", refusals=()):
        self.refusals = list(refusals)
        if not message:
            message = " ".join(refusal.message for refusal in self.refusals)
        super().__init__(message, code=code)


def error(code: str, **params) -> EnrolmentError:
    return EnrolmentError(MESSAGES[code].format(**params), code=code)
