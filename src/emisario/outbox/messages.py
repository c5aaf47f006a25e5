"""What each intake error code means, as text the console and the CLI show (translated with
the rest of the catalogue; the codes are stable, tests import them from here). Address and
text codes (``invalid_address``, ``control_characters``, ...) are the shared ones of
``emisario.console.messages.INVALID_VALUE``.

Placeholders are named: ``%(limit)s`` (a number), ``%(name)s`` (a header name)."""

from django.utils.translation import gettext_lazy as _

INTAKE_ERRORS = {
    "unknown_company": _("There is no company with that code."),
    "unknown_type": _("There is no account type with that code."),
    "no_recipients": _("The message needs at least one recipient (To, Cc or Bcc)."),
    "too_many_recipients": _("The message has more than %(limit)s recipients."),
    "no_body": _("The message needs a text or an HTML body."),
    "body_too_large": _("The body is larger than %(limit)s bytes."),
    "invalid_text": _("The text holds a NUL character or characters that cannot be encoded."),
    "invalid_header_name": _(
        "A header name is letters, digits and hyphens, starting with a letter (X-Invoice)."
    ),
    "reserved_header": _("The header %(name)s is written by Emisario and cannot be set."),
    "header_not_ascii": _("The header %(name)s only accepts plain ASCII text."),
    "too_many_headers": _("The message has more than %(limit)s extra headers."),
    "too_many_attachments": _("The message has more than %(limit)s attachments."),
    "attachment_too_large": _("The attachments are larger than %(limit)s bytes."),
    "attachment_unreadable": _("The attachment cannot be read (not a regular file?)."),
    "invalid_attachment": _(
        "Give an attachment as a file path or as (file name, bytes or binary file, type)."
    ),
    "invalid_filename": _("Write a file name without folders or control characters."),
    "invalid_content_type": _("Write a content type such as application/pdf."),
    "invalid_item": _("Each message is a set of named fields (to, subject, text, ...)."),
    "invalid_idempotency_key": _(
        "The idempotency key is 1 to 255 characters without control characters."
    ),
}
