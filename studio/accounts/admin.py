from django.contrib import admin

from studio.accounts.models import Invitation, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created", "api_key_last4"]
    search_fields = ["name"]
    # The encrypted key is never shown or edited here: team settings handle it.
    exclude = ["api_key_encrypted"]
    readonly_fields = ["api_key_last4", "api_key_set_at"]
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["team", "role", "email", "created", "expires", "accepted", "revoked"]
    list_filter = ["role"]
    raw_id_fields = ["invited_by", "accepted_by"]

    def has_add_permission(self, request) -> bool:
        # Made in team settings, which mails the link and shows it once; the row keeps a hash only.
        return False
