from django.contrib import admin

from .models import Closure, School, SchoolYear, Town

admin.site.register(Town)
admin.site.register(SchoolYear, list_display=["label", "start_date", "end_date"])
admin.site.register(School)
admin.site.register(Closure, list_display=["label", "start_date", "end_date"])
