"""Admin: the outbox, read-only. Mail enters through ``emisario.outbox.services`` (validated,
idempotent) and changes state through the worker; an edit here would bypass both."""

from django.contrib import admin

from emisario.accounts.admin import ReadOnlyAdmin
from emisario.outbox.models import (
    Attachment,
    Attempt,
    MessageAttachment,
    OutboundMessage,
    Recipient,
)


class RecipientInline(admin.TabularInline):
    model = Recipient
    extra = 0
    can_delete = False
    fields = ("kind", "address", "status", "reply_code", "enhanced_code", "reply_text")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AttemptInline(RecipientInline):
    model = Attempt
    fields = (
        "started_at",
        "account_label",
        "step",
        "reply_code",
        "enhanced_code",
        "server_text",
        "duration_ms",
        "outcome",
        "possibly_delivered",
    )
    readonly_fields = fields


class MessageAttachmentInline(RecipientInline):
    model = MessageAttachment
    fields = ("filename", "content_type", "blob")
    readonly_fields = fields


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "company", "subject", "status", "attempts", "next_attempt_at", "date")
    list_filter = ("status", "company", "account_type")
    search_fields = ("message_id", "idempotency_key", "subject", "recipients__address")
    exclude = ("text_body", "html_body")
    inlines = (RecipientInline, MessageAttachmentInline, AttemptInline)


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ("sha256", "size", "created_at")
    search_fields = ("sha256",)
