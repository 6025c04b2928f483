"""Staff pages for a household's access to the portal: invitations, child codes, login e-mail."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from portail.accounts.forms import LoginEmailForm
from portail.accounts.models import AccessCode, Invitation
from portail.accounts.services import change_login_email, invite_guardian, issue_access_codes, revoke_access_codes
from portail.core.audit import Channel
from portail.core.errors import BusinessError
from portail.households.models import Child, Guardian, Household

from .decorators import staff_required

PERM = "accounts.manage_family_access"


def _access_url(household_id):
    return redirect("backoffice:household_access", household_id=household_id)


@staff_required(PERM)
def household_access(request, household_id):
    household = get_object_or_404(Household, pk=household_id)
    guardians = list(household.guardians.select_related("user"))
    latest = {}
    for invitation in Invitation.objects.filter(guardian__household=household).order_by("guardian_id", "-created_at"):
        latest.setdefault(invitation.guardian_id, invitation)
    for guardian in guardians:
        guardian.latest_invitation = latest.get(guardian.pk)
        guardian.has_password = bool(guardian.user and guardian.user.has_usable_password())
    children = list(household.children.all())
    codes = {code.child_id: code for code in AccessCode.objects.active().filter(child__household=household)}
    for child in children:
        child.active_code = codes.get(child.pk)
    return render(
        request,
        "backoffice/accounts/household_access.html",
        {"household": household, "guardians": guardians, "children": children},
    )


@staff_required(PERM)
@require_POST
def invite(request, household_id, guardian_id):
    guardian = get_object_or_404(Guardian, pk=guardian_id, household_id=household_id)
    try:
        invitation = invite_guardian(guardian=guardian, actor=request.user, channel=Channel.STAFF)
    except BusinessError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"Invitation envoyée à {invitation.email}, valable jusqu'au {invitation.expires_at:%d/%m/%Y}.",
        )
    return _access_url(household_id)


@staff_required(PERM)
@require_http_methods(["GET", "POST"])
def login_email(request, household_id, guardian_id):
    guardian = get_object_or_404(
        Guardian.objects.select_related("user", "household"), pk=guardian_id, household_id=household_id
    )
    form = LoginEmailForm(request.POST or None, initial={"email": guardian.user.email if guardian.user else ""})
    if request.method == "POST" and form.is_valid():
        try:
            change_login_email(
                guardian=guardian, email=form.cleaned_data["email"], actor=request.user, channel=Channel.STAFF
            )
        except BusinessError as error:
            form.add_error("email", error.message)
        else:
            messages.success(request, f"L'adresse de connexion de {guardian.full_name} est modifiée.")
            return _access_url(household_id)
    return render(request, "backoffice/accounts/login_email.html", {"guardian": guardian, "form": form})


@staff_required(PERM)
@require_POST
@never_cache
def issue_codes(request, household_id, child_id):
    child = get_object_or_404(Child.objects.select_related("household"), pk=child_id, household_id=household_id)
    try:
        child_code, payer_code = issue_access_codes(child=child, actor=request.user, channel=Channel.STAFF)
    except BusinessError as error:
        messages.error(request, error.message)
        return _access_url(household_id)
    # Rendered in the POST response, never stored: the codes cannot be displayed again.
    return render(
        request,
        "backoffice/accounts/codes_issued.html",
        {
            "child": child,
            "household": child.household,
            "child_code": child_code,
            "payer_code": payer_code,
            "site_url": settings.SITE_URL,
        },
    )


@staff_required(PERM)
@require_POST
def revoke_codes(request, household_id, child_id):
    child = get_object_or_404(Child.objects.select_related("household"), pk=child_id, household_id=household_id)
    if revoke_access_codes(child=child, actor=request.user, channel=Channel.STAFF):
        messages.success(request, f"Les codes d'accès de {child.full_name} sont révoqués.")
    else:
        messages.info(request, f"{child.full_name} n'avait pas de codes d'accès actifs.")
    return _access_url(household_id)
