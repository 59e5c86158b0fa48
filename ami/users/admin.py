from django.contrib import admin

from ami.users.models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "is_staff")
    search_fields = ("name",)
