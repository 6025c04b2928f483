"""Read-only admin views of the household record.

Family data is edited on the staff pages, which validate and write the audit log; the admin
would bypass both, so it only lists. Health records are not registered at all: every read of
them must be logged (record_health_access)."""

from django.contrib import admin

from .models import AuthorizedPerson, ChangeRequest, Child, FamilyQuotient, Guardian, Household


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Household)
class HouseholdAdmin(ReadOnlyAdmin):
    list_display = ["reference", "status", "benefit_scheme", "created_at"]
    list_filter = ["status", "benefit_scheme"]
    search_fields = ["reference", "guardians__last_name", "children__last_name"]


@admin.register(Guardian)
class GuardianAdmin(ReadOnlyAdmin):
    list_display = ["last_name", "first_name", "household", "email", "is_payer"]
    search_fields = ["last_name", "first_name", "email", "household__reference"]
    list_select_related = ["household"]
    exclude = ["user"]


@admin.register(Child)
class ChildAdmin(ReadOnlyAdmin):
    list_display = ["last_name", "first_name", "birth_date", "household", "is_active"]
    search_fields = ["last_name", "first_name", "household__reference"]
    list_select_related = ["household"]


@admin.register(AuthorizedPerson)
class AuthorizedPersonAdmin(ReadOnlyAdmin):
    list_display = ["last_name", "first_name", "child", "relationship"]
    list_select_related = ["child"]


@admin.register(FamilyQuotient)
class FamilyQuotientAdmin(ReadOnlyAdmin):
    list_display = ["household", "value", "valid_from", "valid_until", "source"]
    list_select_related = ["household"]


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ReadOnlyAdmin):
    list_display = ["household", "kind", "status", "submitted_at", "decided_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["household"]
    # The payload may hold health values: not shown here.
    exclude = ["payload"]
