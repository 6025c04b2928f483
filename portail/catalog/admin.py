"""Catalog configuration in the Django admin (administrators). Every save and delete is audited."""

from django.contrib import admin

from portail.core.audit import Channel

from .deadlines import describe_rule
from .models import Activity, ActivityType, BookingDeadlineRule, Facility, Group, Period, Session, Unit
from .services import log_catalog_deletion, save_catalog_instance
from .wording import describe_group_band, format_euros


class AuditedAdmin(admin.ModelAdmin):
    """Writes an audit entry for the object and its inlines, like the staff pages do."""

    def save_model(self, request, obj, form, change):
        save_catalog_instance(instance=obj, actor=request.user, channel=Channel.STAFF)

    def delete_model(self, request, obj):
        log_catalog_deletion(obj=obj, actor=request.user)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            log_catalog_deletion(obj=obj, actor=request.user)
        super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            log_catalog_deletion(obj=obj, actor=request.user)
            obj.delete()
        for obj in instances:
            save_catalog_instance(instance=obj, actor=request.user)
        formset.save_m2m()


class PeriodInline(admin.TabularInline):
    model = Period
    extra = 0


class GroupInline(admin.TabularInline):
    model = Group
    extra = 0


class UnitInline(admin.TabularInline):
    model = Unit
    extra = 0
    fields = ["name", "kind", "start_time", "end_time", "price_cents", "deadline_rule", "position"]


class ActivityInline(admin.TabularInline):
    model = Activity
    extra = 0
    fields = ["name", "slug", "activity_type", "is_published", "position"]
    show_change_link = True


@admin.register(Facility)
class FacilityAdmin(AuditedAdmin):
    list_display = ["name", "town", "is_active", "position"]
    list_filter = ["is_active", "town"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ActivityInline]


@admin.register(ActivityType)
class ActivityTypeAdmin(AuditedAdmin):
    list_display = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Activity)
class ActivityAdmin(AuditedAdmin):
    list_display = ["name", "facility", "activity_type", "school_year", "payment_mode", "is_published"]
    list_filter = ["facility", "activity_type", "school_year", "payment_mode", "is_published"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    list_select_related = ["facility", "activity_type", "school_year"]
    inlines = [PeriodInline, GroupInline, UnitInline]


@admin.register(Period)
class PeriodAdmin(AuditedAdmin):
    list_display = ["name", "activity", "start_date", "end_date", "enrolment_opens_at", "enrolment_closes_at"]
    list_filter = ["activity__facility", "activity"]
    date_hierarchy = "start_date"
    list_select_related = ["activity"]


@admin.register(Group)
class GroupAdmin(AuditedAdmin):
    list_display = ["name", "activity", "band", "capacity"]
    list_filter = ["activity__facility", "activity"]
    list_editable = ["capacity"]
    list_select_related = ["activity"]

    @admin.display(description="public")
    def band(self, obj):
        return describe_group_band(obj)


@admin.register(BookingDeadlineRule)
class BookingDeadlineRuleAdmin(AuditedAdmin):
    list_display = ["name", "in_words", "skip_public_holidays", "skip_school_holidays"]
    list_filter = ["kind", "skip_public_holidays", "skip_school_holidays"]

    @admin.display(description="règle")
    def in_words(self, obj):
        return describe_rule(obj)


@admin.register(Unit)
class UnitAdmin(AuditedAdmin):
    list_display = ["name", "activity", "kind", "start_time", "end_time", "price", "deadline_rule", "deadline_in_words"]
    list_filter = ["kind", "activity__facility", "activity", "deadline_rule"]
    list_select_related = ["activity", "deadline_rule"]

    @admin.display(description="prix")
    def price(self, obj):
        return format_euros(obj.price_cents)

    @admin.display(description="délai en clair")
    def deadline_in_words(self, obj):
        return describe_rule(obj.deadline_rule) if obj.deadline_rule else "—"


@admin.register(Session)
class SessionAdmin(AuditedAdmin):
    list_display = ["date", "unit", "is_cancelled"]
    list_filter = ["is_cancelled", "unit__activity__facility", "unit__activity", "unit"]
    date_hierarchy = "date"
    list_select_related = ["unit__activity"]
