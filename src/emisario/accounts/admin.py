"""Admin: companies and their members, the account-type catalog, groups, the audit trail.

SMTP accounts are edited in the console, where passwords are encrypted, tests run and every
change is audited; the admin shows them read-only.
"""

from django.contrib import admin

from emisario.accounts.models import AccountType, AuditRecord, Company, SmtpAccount


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")
    filter_horizontal = ("members",)


@admin.register(AccountType)
class AccountTypeAdmin(admin.ModelAdmin):
    list_display = ("code", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj is not None and obj.protected else ()

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.protected:
            return False
        return super().has_delete_permission(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SmtpAccount)
class SmtpAccountAdmin(ReadOnlyAdmin):
    list_display = ("sender", "host", "port", "security", "company", "account_type", "priority")
    list_filter = ("account_type", "company", "enabled")
    exclude = ("password_token", "last_test", "last_test_fingerprint")


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "account_label", "target", "verdict")
    list_filter = ("action",)
