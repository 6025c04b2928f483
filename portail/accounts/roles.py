"""Staff roles as Django groups. The matrix below is the single source of truth;
`ensure_roles` (run after every migrate) makes the database match it."""

from django.contrib.auth.models import Group, Permission

AGENT = "Agent d'accueil"
MANAGER = "Gestionnaire"
CASHIER = "Régisseur"
ADMINISTRATOR = "Administrateur"

_FAMILY_READ = [
    "households.view_household",
    "households.view_guardian",
    "households.view_child",
    "households.view_authorizedperson",
    "households.view_familyquotient",
    "households.view_changerequest",
]
_FAMILY_WRITE = [
    "households.add_household",
    "households.change_household",
    "households.change_guardian",
    "households.add_guardian",
    "households.change_child",
    "households.add_child",
    "households.add_authorizedperson",
    "households.change_authorizedperson",
    "households.delete_authorizedperson",
    "households.add_familyquotient",
    "households.change_changerequest",
    "accounts.manage_family_access",
]
_HEALTH = ["households.view_healthrecord", "households.change_healthrecord"]
_CATALOG_READ = [
    f"catalog.view_{m}"
    for m in ("facility", "activitytype", "activity", "period", "group", "unit", "session", "bookingdeadlinerule")
]
_CATALOG_WRITE = [
    f"catalog.{action}_{m}"
    for m in ("facility", "activitytype", "activity", "period", "group", "unit", "session", "bookingdeadlinerule")
    for action in ("add", "change", "delete")
]
_AUDIT = ["core.view_logentry"]
_ENROLMENT_READ = ["enrolments.view_enrolment", "enrolments.view_weeklypattern"]
_ENROLMENT_WRITE = ["enrolments.change_enrolment"]
# Planning: staff book and cancel for a family (past deadlines, audited) and declare absences.
_BOOKING_READ = ["bookings.view_booking"]
_BOOKING_WRITE = ["bookings.change_booking", "bookings.add_absence"]
# The absence queue shows reasons, comments and medical certificates: health-like data, so the
# same roles as the health record (Gestionnaire, Administrateur).
_ABSENCES = ["bookings.view_absence", "bookings.change_absence"]
# Money: the régisseur records desk payments, refunds, handles incidents and sets up the régies.
_PAYMENTS_READ = [
    "payments.view_payment",
    "payments.view_regie",
    "payments.view_paymentincident",
    "payments.view_paymentattempt",
    "payments.view_banknotification",
]
_PAYMENTS_WRITE = [
    "payments.add_payment",
    "payments.change_payment",
    "payments.change_regie",
    "payments.change_paymentincident",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    AGENT: _FAMILY_READ
    + _FAMILY_WRITE
    + _CATALOG_READ
    + _AUDIT
    + _ENROLMENT_READ
    + _ENROLMENT_WRITE
    + _BOOKING_READ
    + _BOOKING_WRITE,
    MANAGER: _FAMILY_READ
    + _FAMILY_WRITE
    + _HEALTH
    + _CATALOG_READ
    + _CATALOG_WRITE
    + _AUDIT
    + _ENROLMENT_READ
    + _ENROLMENT_WRITE
    + _BOOKING_READ
    + _BOOKING_WRITE
    + _ABSENCES
    + _PAYMENTS_READ,
    CASHIER: _FAMILY_READ + _CATALOG_READ + _AUDIT + _ENROLMENT_READ + _BOOKING_READ + _PAYMENTS_READ + _PAYMENTS_WRITE,
    # Administrators also configure the town through the Django admin.
    ADMINISTRATOR: _FAMILY_READ
    + _FAMILY_WRITE
    + _HEALTH
    + _CATALOG_READ
    + _CATALOG_WRITE
    + _AUDIT
    + _ENROLMENT_READ
    + _ENROLMENT_WRITE
    + _BOOKING_READ
    + _BOOKING_WRITE
    + _ABSENCES
    + _PAYMENTS_READ
    + _PAYMENTS_WRITE
    + [
        "payments.add_regie",
        "accounts.access_admin",
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "auth.view_group",
        "organisations.view_town",
        "organisations.change_town",
        "organisations.add_schoolyear",
        "organisations.change_schoolyear",
        "organisations.view_schoolyear",
        "organisations.add_school",
        "organisations.change_school",
        "organisations.view_school",
        "organisations.add_closure",
        "organisations.change_closure",
        "organisations.delete_closure",
        "organisations.view_closure",
    ],
}


def ensure_roles() -> dict[str, Group]:
    existing = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list("pk", "content_type__app_label", "codename")
    }
    groups = {}
    for name, labels in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        # Permissions of apps not migrated yet are skipped; the next post_migrate adds them.
        group.permissions.set([existing[label] for label in labels if label in existing])
        groups[name] = group
    return groups


def on_post_migrate(sender, **kwargs):
    ensure_roles()
