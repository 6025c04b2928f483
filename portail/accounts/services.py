"""Account writes: access codes, invitations, login e-mail changes, family self sign-up.

Every function is keyword-only, atomic, and leaves an audit entry (log_action).
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from portail.core.audit import Channel, log_action
from portail.core.errors import BusinessError
from portail.households.models import (
    ChangeRequest,
    Child,
    Guardian,
    Household,
    HouseholdStatus,
    RequestKind,
    RequestStatus,
)
from portail.households.references import next_household_reference
from portail.organisations.models import Town

from . import emails
from .codes import child_code_digest, generate_code, is_valid_code, normalize_code
from .models import AccessCode, Invitation, InvitationStatus, User

DEFAULT_INVITATION_DAYS = 7


def _email_taken(email: str, *, exclude_user: User | None = None) -> bool:
    users = User.objects.filter(email__iexact=email.strip())
    if exclude_user is not None:
        users = users.exclude(pk=exclude_user.pk)
    return users.exists()


def _payer_user(household: Household) -> tuple[Guardian, User]:
    """The payer guardian and their user, created without a password if missing."""
    payer = household.guardians.select_for_update().filter(is_payer=True).first()
    if payer is None:
        raise BusinessError("Ce foyer n'a pas de responsable payeur : désignez-en un avant de générer des codes.")
    if payer.user_id is None:
        email = payer.email if payer.email and not _email_taken(payer.email) else None
        payer.user = User.objects.create_user(email=email, first_name=payer.first_name, last_name=payer.last_name)
        payer.save(update_fields=["user"])
    return payer, payer.user


# --- Access codes ------------------------------------------------------------------------


@transaction.atomic
def issue_access_codes(
    *, child, actor, channel, child_code: str | None = None, payer_code: str | None = None
) -> tuple[str, str]:
    """New codes for `child`, returned in clear exactly once; earlier active codes are revoked.

    Explicit codes are for the demo town; staff always get generated ones.
    """
    child = Child.objects.select_for_update(of=("self",)).select_related("household").get(pk=child.pk)
    for value in (child_code, payer_code):
        if value is not None and not is_valid_code(value):
            raise BusinessError("Un code doit comporter de 6 à 32 lettres ou chiffres.")
    _payer_user(child.household)
    revoked = AccessCode.objects.active().filter(child=child).update(revoked_at=timezone.now())

    if child_code is not None:
        if AccessCode.objects.active().filter(child_code_digest=child_code_digest(child_code)).exists():
            raise BusinessError("Ce code enfant est déjà attribué à un autre enfant.")
    else:
        for _ in range(10):
            child_code = generate_code()
            if not AccessCode.objects.active().filter(child_code_digest=child_code_digest(child_code)).exists():
                break
    payer_code = payer_code if payer_code is not None else generate_code()

    code = AccessCode.objects.create(
        child=child,
        child_code_digest=child_code_digest(child_code),
        payer_code_hash=make_password(normalize_code(payer_code)),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    log_action(
        actor=actor,
        channel=channel,
        action="access_codes.issued",
        obj=child,
        household=child.household,
        after={"access_code": code.pk, "previous_revoked": revoked},
        message=f"Codes d'accès générés pour {child.full_name}",
    )
    return child_code, payer_code


@transaction.atomic
def revoke_access_codes(*, child, actor, channel) -> int:
    """Revoke the child's active codes; returns how many were active (0 or 1)."""
    count = AccessCode.objects.active().filter(child=child).update(revoked_at=timezone.now())
    if count:
        log_action(
            actor=actor,
            channel=channel,
            action="access_codes.revoked",
            obj=child,
            household=child.household,
            before={"active_codes": count},
            after={"active_codes": 0},
            message=f"Codes d'accès révoqués pour {child.full_name}",
        )
    return count


# --- Invitations -------------------------------------------------------------------------


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def activation_url(token: str) -> str:
    return settings.SITE_URL + reverse("accounts:activate", args=[token])


@transaction.atomic
def invite_guardian(*, guardian, actor, channel) -> Invitation:
    """E-mail `guardian` a single-use link to set a password (valid Town.invitation_validity_days).

    Refused when the guardian already logs in with a password. A user without password
    (codes only) is reused; otherwise one is created. Earlier pending invitations stop working.
    The returned invitation carries `raw_token` (in memory only) for the caller.
    """
    guardian = Guardian.objects.select_for_update(of=("self",)).select_related("user", "household").get(pk=guardian.pk)
    user = guardian.user
    if user is not None and user.has_usable_password():
        raise BusinessError(
            "Ce responsable a déjà un accès avec mot de passe. S'il l'a oublié, il peut utiliser "
            "« Mot de passe oublié ? » sur la page de connexion."
        )
    email = (user.email if user is not None and user.email else guardian.email or "").strip().lower()
    if not email:
        raise BusinessError("Ce responsable n'a pas d'adresse e-mail : ajoutez-la à sa fiche avant de l'inviter.")
    if _email_taken(email, exclude_user=user):
        raise BusinessError("Cette adresse e-mail est déjà utilisée par un autre compte.")
    if user is None:
        user = User.objects.create_user(email=email, first_name=guardian.first_name, last_name=guardian.last_name)
        guardian.user = user
        guardian.save(update_fields=["user"])
    elif not user.email:
        user.email = email
        user.save(update_fields=["email"])

    now = timezone.now()
    Invitation.objects.filter(guardian=guardian, accepted_at__isnull=True, cancelled_at__isnull=True).update(
        cancelled_at=now
    )
    town = Town.current()
    days = town.invitation_validity_days if town else DEFAULT_INVITATION_DAYS
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        guardian=guardian,
        user=user,
        email=email,
        token_digest=_token_digest(token),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    invitation.raw_token = token
    log_action(
        actor=actor,
        channel=channel,
        action="invitation.sent",
        obj=guardian,
        household=guardian.household,
        after={"email": email, "expires_at": invitation.expires_at},
        message=f"Invitation envoyée à {email}",
    )
    emails.send_templated(
        to=[email],
        template="invitation",
        context={"guardian": guardian, "url": activation_url(token), "expires_at": invitation.expires_at},
    )
    return invitation


def pending_invitation(token: str) -> Invitation | None:
    """The invitation a link opens, if it can still be used."""
    invitation = (
        Invitation.objects.select_related("user", "guardian").filter(token_digest=_token_digest(token or "")).first()
    )
    if invitation is None or invitation.status != InvitationStatus.PENDING:
        return None
    return invitation


@transaction.atomic
def accept_invitation(*, token: str, password: str) -> User:
    """Set the invited guardian's password (validated); the link cannot be used again."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("user", "guardian__household")
        .filter(token_digest=_token_digest(token or ""))
        .first()
    )
    if invitation is None or invitation.status != InvitationStatus.PENDING:
        raise BusinessError("Ce lien d'activation n'est plus valable. Demandez une nouvelle invitation à la Mairie.")
    user = invitation.user
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise BusinessError(" ".join(error.messages)) from error
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    log_action(
        actor=user,
        channel=Channel.WEB,
        action="invitation.accepted",
        obj=invitation.guardian,
        household=invitation.guardian.household,
        message=f"Compte activé par {invitation.email}",
    )
    return user


# --- Login e-mail ------------------------------------------------------------------------


@transaction.atomic
def change_login_email(*, guardian, email: str, actor, channel) -> User:
    """Staff change the address a guardian logs in with; both addresses are told."""
    guardian = Guardian.objects.select_for_update(of=("self",)).select_related("user", "household").get(pk=guardian.pk)
    user = guardian.user
    if user is None:
        raise BusinessError("Ce responsable n'a pas encore de compte : envoyez-lui d'abord une invitation.")
    email = (email or "").strip().lower()
    if not email:
        raise BusinessError("Indiquez une adresse e-mail.")
    old = user.email
    if email == old:
        raise BusinessError("C'est déjà l'adresse de connexion de ce responsable.")
    if _email_taken(email, exclude_user=user):
        raise BusinessError("Cette adresse e-mail est déjà utilisée par un autre compte.")
    user.email = email
    try:
        with transaction.atomic():
            user.save(update_fields=["email"])
    except IntegrityError as error:
        raise BusinessError("Cette adresse e-mail est déjà utilisée par un autre compte.") from error
    log_action(
        actor=actor,
        channel=channel,
        action="account.email_changed",
        obj=guardian,
        household=guardian.household,
        before={"email": old},
        after={"email": email},
        message="Adresse e-mail de connexion modifiée",
    )
    emails.send_templated(
        to=[email, old] if old else [email],
        template="email_changed",
        context={"guardian": guardian, "old_email": old, "new_email": email},
    )
    return user


# --- Self sign-up ------------------------------------------------------------------------

PAYER_FIELDS = [
    "civility",
    "first_name",
    "last_name",
    "relationship",
    "email",
    "mobile_phone",
    "address_line1",
    "address_line2",
    "postcode",
    "city",
]
CHILD_FIELDS = ["first_name", "last_name", "birth_date", "sex"]


@transaction.atomic
def signup_household(*, payer: dict, password: str, children: list[dict], channel=Channel.WEB) -> ChangeRequest:
    """A family creates its account: a PENDING household, its payer (with an active user),
    its children and the SIGNUP request staff will decide. The user can log in at once and
    sees the household as awaiting validation."""
    payer = {key: (payer.get(key) or "") for key in PAYER_FIELDS}
    payer["email"] = payer["email"].strip().lower()
    if not payer["email"]:
        raise BusinessError("Indiquez une adresse e-mail.")
    if _email_taken(payer["email"]):
        raise BusinessError(
            "Un compte existe déjà avec cette adresse e-mail. Connectez-vous ou utilisez « Mot de passe oublié ? »."
        )
    user = User(email=payer["email"], first_name=payer["first_name"], last_name=payer["last_name"])
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise BusinessError(" ".join(error.messages)) from error
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            household = Household.objects.create(reference=next_household_reference(), status=HouseholdStatus.PENDING)
    except IntegrityError as error:
        raise BusinessError("Votre demande n'a pas pu être enregistrée, merci de réessayer.") from error
    guardian = Guardian.objects.create(household=household, user=user, is_payer=True, **payer)
    kids = [Child.objects.create(household=household, **{k: child[k] for k in CHILD_FIELDS}) for child in children]
    summary = {
        "payer": {key: payer[key] for key in PAYER_FIELDS},
        "children": [{k: str(child[k]) for k in CHILD_FIELDS} for child in children],
    }
    change_request = ChangeRequest.objects.create(
        household=household,
        kind=RequestKind.SIGNUP,
        status=RequestStatus.PENDING,
        payload=summary,
        submitted_by=user,
    )
    log_action(
        actor=user,
        channel=channel,
        action="household.signup",
        obj=household,
        household=household,
        after=summary,
        message=f"Demande de création de compte famille ({len(kids)} enfant(s))",
    )
    context = {"household": household, "guardian": guardian, "children": kids, "change_request": change_request}
    emails.send_templated(to=[user.email], template="signup_received", context=context)
    town = Town.current()
    if town and town.email:
        emails.send_templated(
            to=[town.email],
            template="signup_staff_notice",
            context={**context, "requests_url": _requests_url()},
        )
    return change_request


def _requests_url() -> str:
    return settings.SITE_URL + reverse("backoffice:requests")
