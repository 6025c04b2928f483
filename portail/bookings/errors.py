"""The booking error and its French messages (safe to show to families and staff)."""

from portail.core.errors import BusinessError

MESSAGES = {
    "busy": "Trop de demandes en même temps, réessayez dans un instant.",
    "full": "Complet : il n'y a plus de place le {date} ({unit}).",
    "past_deadline": "Réservation possible jusqu'au {deadline} : ce délai est dépassé.",
    "not_enrolled": "{child} n'a pas d'inscription validée pour « {activity} » à cette date.",
    "session_cancelled": "Pas d'accueil le {date} ({unit}).",
    "paid": "Cette réservation est payée : seule la Mairie peut l'annuler.",
    "awaiting_payment": "Cette réservation est en cours de paiement : elle ne peut pas être modifiée.",
    "at_enrolment": "Les séances de « {activity} » sont comprises dans l'inscription : rien à cocher.",
    "not_booked": "Cette séance n'est pas réservée.",
    "already_booked": "Cette séance est déjà réservée.",
    "has_absence": "Une absence est déjà déclarée pour cette séance.",
    "absence_too_early": "Cette séance peut encore être annulée : décochez-la dans le planning.",
    "absence_decided": "Cette absence a déjà été traitée.",
    "bad_range": "Choisissez une date de fin postérieure à la date de début, dans la période d'inscription.",
    "empty_basket": "Aucune modification en cours.",
    "basket_changed": "Vos modifications en cours ont changé entre-temps (réservation expirée ou retirée) : vérifiez-les.",
    "bad_certificate": "Le justificatif doit être un PDF, JPEG ou PNG de 5 Mo au plus.",
    "bad_reason": "Choisissez le motif de l'absence dans la liste.",
    "overlap": "{child} a déjà « {other} » ce jour-là, qui a lieu aux mêmes heures que « {unit} ».",
    "note_required": "Indiquez le motif : il sera envoyé à la famille.",
    "no_session": "Séance introuvable.",
    "waitlist_off": "Pas de liste d'attente pour « {activity} » : choisissez un autre jour.",
    "waitlist_not_full": "Il reste de la place le {date} ({unit}) : cochez la case dans le planning.",
    "waitlist_already": "{child} est déjà sur la liste d'attente du {date} ({unit}).",
    "waitlist_in_basket": "Cette séance est déjà dans vos modifications en cours : terminez-les pour la réserver.",
    "waitlist_not_found": "Cette inscription sur liste d'attente n'est plus en cours.",
}


class BookingError(BusinessError):
    pass


def error(code: str, **params) -> BookingError:
    return BookingError(MESSAGES[code].format(**params), code=code)
