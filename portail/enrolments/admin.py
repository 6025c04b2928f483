"""Read-mostly admin: decisions go through the staff pages (services), so they are audited."""

from django.contrib import admin

from .models import Enrolment, WeeklyPattern


class WeeklyPatternInline(admin.TabularInline):
    model = WeeklyPattern
    extra = 0
    can_delete = False
    readonly_fields = ["weekday", "unit"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    list_display = ["reference", "child", "activity", "period", "group", "status", "created_at"]
    list_filter = ["status", "activity__facility", "activity"]
    search_fields = ["reference", "child__first_name", "child__last_name", "child__household__reference"]
    list_select_related = ["child", "activity", "period", "group"]
    inlines = [WeeklyPatternInline]
    readonly_fields = [f.name for f in Enrolment._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
