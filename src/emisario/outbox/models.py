"""The outbox's rows: plain columns and JSON, never pickles, so any row can be read by any
version of the code, by SQL, and by the console.

A message is queued whole in one transaction (message, recipients, attachment links) by
``emisario.outbox.services``; the worker (next step) claims due rows, sends, and writes one
:class:`Attempt` per try and each recipient's outcome on its :class:`Recipient` row.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from emisario.accounts.models import AccountType, Company, SmtpAccount
from emisario.core.smtp.steps import Step
from emisario.outbox.storage import attachment_storage


class MessageStatus(models.TextChoices):
    """Where a message is in its life. Closed: the worker, the console and the CLI know no
    other value, and a row never leaves this set."""

    QUEUED = "queued", _("queued")
    """Accepted by ``enqueue``, never tried yet; due from ``next_attempt_at`` (its queue time)."""
    SENDING = "sending", _("sending")
    """Claimed by a worker (``lease_owner``) until ``lease_expires_at``; an expired lease makes
    it claimable again, so a crashed worker never leaves it stuck."""
    SENT = "sent", _("sent")
    """The server accepted every recipient (final 250 after DATA). Final."""
    PARTIALLY_SENT = "partially_sent", _("partially sent")
    """The server accepted the message for some recipients and refused the others for good;
    each refused recipient row keeps its reply. Final: it is never reported as sent."""
    DEFERRED = "deferred", _("deferred")
    """Not sent yet for a reason that may pass (4xx, network, an account paused or over its
    limit); tried again from ``next_attempt_at`` until ``expires_at``."""
    FAILED = "failed", _("failed")
    """Given up: every recipient refused for good, the message itself refused, or expired
    (``last_error_code`` says which, with the last reply). Final."""
    CANCELLED = "cancelled", _("cancelled")
    """Withdrawn by a person or the calling application before it was sent. Final."""


DUE_STATUSES = (MessageStatus.QUEUED, MessageStatus.DEFERRED)
FINAL_STATUSES = (
    MessageStatus.SENT,
    MessageStatus.PARTIALLY_SENT,
    MessageStatus.FAILED,
    MessageStatus.CANCELLED,
)


class OutboundMessage(models.Model):
    """One outgoing mail as the caller gave it, plus the fixed parts every attempt reuses:
    ``message_id`` and ``date`` are set when it is queued, so a resend after a crash carries
    the same Message-ID (the one duplicate no mail system can avoid stays correlatable)."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="outbound_messages")
    account_type = models.ForeignKey(AccountType, on_delete=models.PROTECT, related_name="+")
    from_address = models.CharField(
        max_length=254, blank=True, help_text=_("Empty: the sending account's Usuario.")
    )
    reply_to = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    headers = models.JSONField(default=list, blank=True)
    """Extra header fields as ``[[name, value], ...]``, validated at intake (no From, To,
    Message-ID, Date, MIME or Content-* fields: those are ours)."""
    message_id = models.CharField(max_length=255, unique=True)
    """``<left@domain>`` (RFC 5322 section 3.6.4), fixed at queue time."""
    date = models.DateTimeField()
    """The Date header, fixed at queue time."""
    # NULL, not "": messages without a key stay out of the conditional unique constraint.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    """The caller's key: the same key for the same company returns the first message."""
    recipient_count = models.PositiveIntegerField(default=0)
    head = models.TextField(blank=True)
    """Every header field but From, and the blank line, rendered at intake
    (``emisario.core.mail.envelope.fixed_head``: To, Cc, Reply-To, Subject, Date, Message-ID,
    the caller's headers, the MIME head); a worker writes the From of the account that
    sends, then this, then the body."""
    body = models.ForeignKey(
        "Attachment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    """The MIME body, rendered once at intake and stored as a file: never built at send time."""
    body_size = models.PositiveBigIntegerField(default=0)
    needs_smtputf8 = models.BooleanField(default=False)
    """An address has a non-ASCII local part: only a server offering SMTPUTF8 can take it."""

    status = models.CharField(
        max_length=20, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    account_used = models.ForeignKey(
        SmtpAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    data_started_at = models.DateTimeField(null=True, blank=True)
    """Written just before DATA: if the worker dies before recording the reply, the next
    claim marks that attempt "possibly delivered" (the server may have it already)."""

    last_error_code = models.CharField(max_length=40, blank=True)
    """A stable code (e.g. ``expired``, ``recipients_refused``), translated by the console."""
    last_error_text = models.TextField(blank=True)
    """The server's last reply, verbatim (never a password: replies are redacted first)."""
    last_reply_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_enhanced_code = models.CharField(max_length=16, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outgoing messages")
        constraints = [
            # Conditional: messages without a key are never compared with each other.
            models.UniqueConstraint(
                fields=["company", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="outbox_message_idempotency",
            ),
            models.CheckConstraint(
                condition=Q(status__in=MessageStatus.values), name="outbox_message_status"
            ),
        ]
        indexes = [
            # The claim's index: only rows that can be due are in it, so finished rows (the
            # vast majority after a month-end run) never slow the claim down.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status__in=DUE_STATUSES),
                name="outbox_message_due",
            ),
            # Expired leases of crashed workers, claimable again.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status=MessageStatus.SENDING),
                name="outbox_message_leased",
            ),
            models.Index(fields=["company", "status"], name="outbox_message_company"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"


class RecipientKind(models.TextChoices):
    TO = "to", "To"
    CC = "cc", "Cc"
    BCC = "bcc", "Bcc"
    """Gets the mail (RCPT TO) but is never written in a header."""


class RecipientStatus(models.TextChoices):
    """Each recipient's own outcome: a partial RCPT refusal must never vanish."""

    QUEUED = "queued", _("queued")
    """Not accepted by a server yet (also after a transient refusal: tried again)."""
    SENT = "sent", _("sent")
    """Accepted: RCPT 250 and the final 250 after DATA."""
    REFUSED = "refused", _("refused")
    """The server refused this address for good (5xx at RCPT); ``reply_*`` keep why."""
    FAILED = "failed", _("failed")
    """Given up for another reason (the message expired or failed before this address was
    accepted)."""


class Recipient(models.Model):
    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="recipients"
    )
    kind = models.CharField(max_length=3, choices=RecipientKind.choices)
    address = models.CharField(max_length=254)
    """Normalised: IDN domain in A-labels (``emisario.core.addresses.normalize_address``)."""
    display_name = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=RecipientStatus.choices, default=RecipientStatus.QUEUED
    )
    reply_code = models.PositiveSmallIntegerField(null=True, blank=True)
    enhanced_code = models.CharField(max_length=16, blank=True)
    reply_text = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["message", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "address"], name="outbox_recipient_once_per_message"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.address} ({self.status})"


class AttemptOutcome(models.TextChoices):
    """What one try ended with (the worker's classification, ``emisario.core.dispatch``)."""

    IN_PROGRESS = "in_progress", _("in progress")
    """Started, not finished: a worker holds it, or died holding it (see possibly_delivered)."""
    SENT = "sent", _("sent")
    """Every recipient accepted."""
    PARTIALLY_SENT = "partially_sent", _("partially sent")
    """Some recipients accepted, the others refused for good."""
    RETRY = "retry", _("retry later")
    """A transient failure (4xx, network, timeout): deferred with backoff."""
    ACCOUNT = "account", _("account unavailable")
    """An account-level failure (connect, TLS, auth, 421, quota): the account is paused and the
    message fails over to the next account of the ladder."""
    LIMITED = "limited", _("over a sending limit")
    """Not tried: the account was over a limit; deferred, never failed."""
    FAILED = "failed", _("failed")
    """A permanent failure of the message or of every recipient."""
    INTERRUPTED = "interrupted", _("interrupted")
    """The worker lost its lease or was stopped before an answer came."""


class Attempt(models.Model):
    """One try to send a message through one account, whatever its outcome."""

    message = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, related_name="tries")
    account = models.ForeignKey(
        SmtpAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    account_label = models.CharField(max_length=300, blank=True)
    """Who sent it, kept readable after the account is deleted (``sender (host:port)``)."""
    worker = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    step = models.CharField(max_length=10, choices=[(s.value, s.value) for s in Step], blank=True)
    """The SMTP step the attempt ended at (``emisario.core.smtp.steps.Step``)."""
    reply_code = models.PositiveSmallIntegerField(null=True, blank=True)
    enhanced_code = models.CharField(max_length=16, blank=True)
    server_text = models.TextField(blank=True)
    outcome = models.CharField(
        max_length=20, choices=AttemptOutcome.choices, default=AttemptOutcome.IN_PROGRESS
    )
    possibly_delivered = models.BooleanField(default=False)
    """DATA had started when the lease was lost: the server may have delivered it, and a
    resend carries the same Message-ID."""

    class Meta:
        ordering = ["message", "started_at", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} {self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"


class Attachment(models.Model):
    """An attachment's content, stored once whatever the number of messages carrying it:
    keyed by the SHA-256 of its bytes, which live in a file (``content``), never in a row."""

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.BigIntegerField()
    content = models.FileField(storage=attachment_storage, max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("attachment content")
        verbose_name_plural = _("attachment contents")

    def __str__(self) -> str:
        return f"{self.sha256[:12]}… ({self.size} bytes)"

    def chunks(self, chunk_size: int = 64 * 1024):
        """The content in chunks: an attachment is never read whole into memory."""
        with self.content.storage.open(self.content.name, "rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk


class MessageAttachment(models.Model):
    """One message's use of an attachment, under its own file name and type."""

    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="attachments"
    )
    blob = models.ForeignKey(Attachment, on_delete=models.PROTECT, related_name="uses")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["message", "position"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.content_type})"


# --- what the workers share about accounts (state in the database, never in a process) ------


def health_key(account_id: int | None) -> str:
    """The key of an account's shared state: ``account:<id>``, or ``generic`` for the
    administrator's generic account (it has no row of its own)."""
    return "generic" if account_id is None else f"account:{account_id}"


class AccountLimits(models.Model):
    """An account's own sending limits, over its provider's preset (empty: the preset's)."""

    account = models.OneToOneField(
        SmtpAccount, on_delete=models.CASCADE, related_name="sending_limits"
    )
    messages_per_minute = models.PositiveIntegerField(null=True, blank=True)
    messages_per_hour = models.PositiveIntegerField(null=True, blank=True)
    messages_per_day = models.PositiveIntegerField(null=True, blank=True)
    recipients_per_day = models.PositiveIntegerField(null=True, blank=True)
    recipients_per_message = models.PositiveIntegerField(null=True, blank=True)
    concurrent_sessions = models.PositiveIntegerField(null=True, blank=True)
    messages_per_session = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("sending limits")
        verbose_name_plural = _("sending limits")

    def __str__(self) -> str:
        return f"limits of {self.account_id}"


class AccountHealth(models.Model):
    """One account's pause and circuit breaker as every worker sees them, and the console's
    pause switch. ``key`` is :func:`health_key`."""

    key = models.CharField(max_length=40, unique=True)
    account = models.ForeignKey(
        SmtpAccount, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    switched_off = models.BooleanField(default=False)
    """The pause switch: no worker sends through this account until it is turned off."""
    paused_until = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=30, blank=True)
    breaker_state = models.CharField(max_length=10, default="closed")
    breaker_failures = models.PositiveIntegerField(default=0)
    breaker_trips = models.PositiveIntegerField(default=0)
    breaker_opened_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("account health")
        verbose_name_plural = _("account health")

    def __str__(self) -> str:
        return f"{self.key} ({self.breaker_state})"


class CompanyHold(models.Model):
    """The company's pause switch: while the row exists no worker claims its mail."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("company sending pause")
        verbose_name_plural = _("company sending pauses")

    def __str__(self) -> str:
        return f"hold on {self.company_id}"


class SessionSlot(models.Model):
    """One of an account's concurrent sessions, leased by a worker: the cap (Microsoft 365
    allows 3) holds across hosts because a session opens only after its slot is taken."""

    key = models.CharField(max_length=40)
    number = models.PositiveSmallIntegerField()
    owner = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "number"], name="outbox_session_slot_once")
        ]

    def __str__(self) -> str:
        return f"{self.key}#{self.number} {self.owner or '-'}"


class SendReservation(models.Model):
    """A send counted against an account's limits, taken before the message goes and kept
    until a window's length after it ended, so no rolling window ever holds more sends than
    the limit, whatever the number of workers."""

    key = models.CharField(max_length=40)
    reserved_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["key", "reserved_at"], name="outbox_reservation_key")]

    def __str__(self) -> str:
        return f"{self.key} {self.reserved_at:%H:%M:%S}"
