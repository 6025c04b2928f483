"""Family and staff login (e-mail or child codes), logout, password reset, invitation
activation and self sign-up. Views parse, call one service, render."""

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from portail.core.errors import BusinessError
from portail.organisations.models import Town

from .backends import axes_username
from .forms import PASSWORD_HELP, ChildFormSet, CodeLoginForm, EmailLoginForm, SignupForm
from .services import accept_invitation, pending_invitation, signup_household

# One message for a wrong password, an unknown account and a locked one (no enumeration).
GENERIC_LOGIN_ERROR = (
    "Identifiants incorrects ou compte temporairement bloqué après plusieurs essais. "
    "Vérifiez votre saisie ou réessayez dans 15 minutes."
)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def _render_login(request, *, email_form=None, code_form=None, tab="email", error=False):
    email_form = email_form or EmailLoginForm()
    code_form = code_form or CodeLoginForm()
    # The cursor goes to the way of logging in the family chose (first field of that form).
    focus = email_form["email"] if tab == "email" else code_form["child_code"]
    focus.field.widget.attrs["autofocus"] = True
    return render(
        request,
        "accounts/login.html",
        {
            "email_form": email_form,
            "code_form": code_form,
            "active_tab": tab,
            "generic_error": GENERIC_LOGIN_ERROR if error else "",
            "next": _safe_next(request),
        },
    )


def _failed_login(request, tab: str):
    """The page after a refused attempt; lockout_response renders exactly the same one."""
    email = request.POST.get("email", "").strip() if tab == "email" else ""
    return _render_login(request, email_form=EmailLoginForm(initial={"email": email}), tab=tab, error=True)


def _complete_login(request, user):
    login(request, user)
    target = _safe_next(request)
    if target:
        return redirect(target)
    return redirect("backoffice:home" if user.is_staff else "portal:home")


def lockout_response(request, original_response=None, credentials=None, *args, **kwargs):
    """Called by django-axes when an account is locked: the same page as a wrong password."""
    tab = "codes" if (credentials or {}).get("child_code") or "child_code" in request.POST else "email"
    return _failed_login(request, tab)


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.method != "POST":
        return _render_login(request)
    form = EmailLoginForm(request.POST)
    if not form.is_valid():
        return _render_login(request, email_form=form, tab="email")
    user = authenticate(request, username=form.cleaned_data["email"], password=form.cleaned_data["password"])
    if user is None:
        return _failed_login(request, "email")
    return _complete_login(request, user)


@sensitive_post_parameters("child_code", "payer_code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_codes_view(request):
    if request.method != "POST":
        return redirect(reverse("accounts:login") + "#connexion-codes")
    form = CodeLoginForm(request.POST)
    if not form.is_valid():
        return _render_login(request, code_form=form, tab="codes")
    child_code = form.cleaned_data["child_code"]
    user = authenticate(request, child_code=child_code, payer_code=form.cleaned_data["payer_code"])
    if user is None:
        return _failed_login(request, "codes")
    # Axes resets the user's e-mail key on success; the failures counted on the child code go too.
    AxesProxyHandler.reset_attempts(username=axes_username(request, {"child_code": child_code}))
    return _complete_login(request, user)


class LogoutView(auth_views.LogoutView):
    """POST only (Django refuses GET); back to the login page with a short confirmation."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "Vous êtes déconnecté. À bientôt !")
        return response


# --- Password reset ------------------------------------------------------------------


class ResetRequestForm(PasswordResetForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].label = "Adresse e-mail de votre compte"


class FamilySetPasswordForm(SetPasswordForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].label = "Nouveau mot de passe"
        self.fields["new_password1"].help_text = PASSWORD_HELP
        self.fields["new_password2"].label = "Confirmation du nouveau mot de passe"


class PasswordResetView(auth_views.PasswordResetView):
    """Same answer whether the address has an account or not (Django only mails known, active
    users with a password)."""

    form_class = ResetRequestForm
    template_name = "accounts/password_reset_form.html"
    email_template_name = "emails/accounts/password_reset.txt"
    subject_template_name = "emails/accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form):
        self.extra_email_context = {"site_url": settings.SITE_URL, "town": Town.current()}
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = FamilySetPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        # Whoever reads the mailbox owns the account: lift a lockout at once.
        AxesProxyHandler.reset_attempts(username=axes_username(self.request, {"username": form.user.email}))
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("portal:home")

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.fields["old_password"].label = "Mot de passe actuel"
        form.fields["new_password1"].label = "Nouveau mot de passe"
        form.fields["new_password1"].help_text = PASSWORD_HELP
        form.fields["new_password2"].label = "Confirmation du nouveau mot de passe"
        return form

    def form_valid(self, form):
        messages.success(self.request, "Votre mot de passe a été modifié.")
        return super().form_valid(form)


# --- Invitation ------------------------------------------------------------------------


@sensitive_post_parameters("new_password1", "new_password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def activate(request, token):
    invitation = pending_invitation(token)
    if invitation is None:
        return render(request, "accounts/activation_invalid.html", status=410)
    form = FamilySetPasswordForm(invitation.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = accept_invitation(token=token, password=form.cleaned_data["new_password1"])
        except BusinessError as error:
            form.add_error(None, error.message)
        else:
            login(request, user, backend=MODEL_BACKEND)
            messages.success(request, "Votre mot de passe est enregistré : bienvenue sur le Portail Famille !")
            return redirect("portal:home")
    return render(request, "accounts/activate.html", {"form": form, "invitation": invitation})


# --- Self sign-up ----------------------------------------------------------------------


def _signup_again_with_one_more_child(request):
    """ "Ajouter un enfant" re-displays what was typed (except passwords) with one more row."""
    form = SignupForm(request.POST)
    formset = ChildFormSet(request.POST)
    initial = {name: form[name].value() for name in form.fields if name not in SignupForm.PASSWORD_FIELDS}
    rows = [{name: child[name].value() for name in child.fields} for child in formset.forms]
    extra = ChildFormSet(initial=rows)
    extra.extra = 1 if len(rows) < ChildFormSet.max_num else 0
    return SignupForm(initial=initial), extra


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        messages.info(request, "Vous êtes déjà connecté.")
        return redirect("portal:home")
    if request.method != "POST":
        form, formset = SignupForm(), ChildFormSet()
    elif "add_child" in request.POST:
        form, formset = _signup_again_with_one_more_child(request)
    else:
        form, formset = SignupForm(request.POST), ChildFormSet(request.POST)
        if form.is_valid() and formset.is_valid():
            try:
                change_request = signup_household(
                    payer=form.payer_data(), password=form.cleaned_data["password1"], children=formset.children()
                )
            except BusinessError as error:
                form.add_error(None, error.message)
            else:
                login(request, change_request.submitted_by, backend=MODEL_BACKEND)
                messages.success(
                    request,
                    "Votre compte famille est créé et en attente de validation par la Mairie. "
                    "Vous recevrez un e-mail dès qu'il sera validé.",
                )
                return redirect("portal:home")
    return render(
        request, "accounts/signup.html", {"form": form, "formset": formset, "max_children": ChildFormSet.max_num}
    )
