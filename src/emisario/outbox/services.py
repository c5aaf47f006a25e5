"""Intake: ``enqueue`` and ``enqueue_many``, the one way mail enters the outbox.

Both run inside the caller's transaction (a savepoint of it, never a commit of their own), so
a statement's mail exists exactly when the statement does: roll back and the mail was never
queued. Every field is validated here by our own code before anything is written, and a
refusal is an :class:`InvalidMessage` naming the field (``to[2]``, ``attachments[0]``,
``headers.X-Invoice``), a stable code (``emisario.outbox.messages.INTAKE_ERRORS``) and, for
``enqueue_many``, the item's position.

Idempotency: a caller's key is unique per company (a conditional unique constraint). The same
key returns the first message, also when two transactions queue it at the same moment: the
second insert waits for the first transaction on the unique index (PostgreSQL) or for the
write lock (SQLite, immediate transactions), then fails, and the first message is returned.
The content of a repeated call is not compared: the key alone names the message.
"""

from __future__ import annotations

import io
import mimetypes
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from emisario.accounts.models import AccountType, Company, SmtpAccount
from emisario.core.accounts import DEFAULT_TYPE, NoAccountAvailable, resolve_account
from emisario.core.addresses import (
    needs_smtputf8,
    normalize_address,
    normalize_host,
    refuse_control_characters,
)
from emisario.core.dispatch.wire import WireSafety
from emisario.core.errors import InvalidValue
from emisario.core.mail import headers as mail_headers
from emisario.core.mail import mime
from emisario.core.mail.envelope import fixed_head
from emisario.outbox import conf, storage
from emisario.outbox.models import (
    Attachment,
    MessageAttachment,
    MessageStatus,
    OutboundMessage,
    Recipient,
    RecipientKind,
)

MAX_HEADERS = 50
MAX_DISPLAY_NAME = 200
MAX_KEY = 255
BULK_CHUNK = 500
FALLBACK_ID_DOMAIN = "emisario.invalid"

RESERVED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "return-path",
        "received",
        "dkim-signature",
        "authentication-results",
        "x-emisario-message",
    }
)
"""Fields Emisario writes itself, or that only servers write (RFC 5322 section 3.6 fields,
trace fields, signatures). ``Content-*``, ``Resent-*`` and ``ARC-*`` are refused as prefixes."""
RESERVED_PREFIXES = ("content-", "resent-", "arc-")
ASCII_ONLY_HEADERS = frozenset(
    {"in-reply-to", "references", "list-unsubscribe", "list-unsubscribe-post", "list-id"}
)
"""Structured fields whose value must travel as typed: an encoded-word would break them."""
_HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,75}$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")


class InvalidMessage(InvalidValue):
    """A message ``enqueue`` refused. ``field`` names the value, ``code`` the rule; ``index``
    is the item's position in ``enqueue_many`` (None for ``enqueue``)."""

    def __init__(self, code: str, *, field: str, index: int | None = None, **params: Any):
        self.index = index
        where = f"item {index}: " if index is not None else ""
        super().__init__(code, field=field, message=f"{where}{field}: {code}", **params)


# --- validated values ---------------------------------------------------------------------


@dataclass
class _Attachment:
    filename: str
    content_type: str
    source: Any
    """A path, or bytes, or a binary file object (read from its current position)."""
    declared_size: int | None
    start: int | None = None
    """A file object's position when validated: read from there (again, on a retry)."""


@dataclass
class _Draft:
    company: Company
    account_type: AccountType
    recipients: list[tuple[str, str, str]]  # kind, address, display name
    subject: str
    text: str
    html: str
    from_address: str
    reply_to: str
    headers: list[list[str]]
    attachments: list[_Attachment]
    idempotency_key: str | None
    index: int | None = None


def _fail(code: str, field: str, index: int | None, **params: Any) -> InvalidMessage:
    return InvalidMessage(code, field=field, index=index, **params)


def _address(value: Any, field: str, index: int | None) -> str:
    if not isinstance(value, str):
        raise _fail("invalid_address", field, index)
    try:
        return normalize_address(value, field=field)
    except InvalidValue as exc:
        raise _fail(exc.code, field, index) from None


def _recipients(lists: Sequence[tuple[str, Any]], index: int | None) -> list[tuple[str, str, str]]:
    seen: set[str] = set()
    result: list[tuple[str, str, str]] = []
    for kind, entries in lists:
        if isinstance(entries, str):
            entries = [entries]
        for position, entry in enumerate(entries or ()):
            where = f"{kind}[{position}]"
            name = ""
            if isinstance(entry, tuple):
                if len(entry) != 2 or not isinstance(entry[0], str):
                    raise _fail("invalid_address", where, index)
                name, entry = entry[0].strip(), entry[1]
            address = _address(entry, where, index)
            if name:
                if len(name) > MAX_DISPLAY_NAME:
                    raise _fail("too_long", where, index, limit=MAX_DISPLAY_NAME)
                try:
                    mail_headers.mailbox(address, name)
                except InvalidValue as exc:
                    raise _fail(exc.code, where, index) from None
            if address in seen:  # once per message: one RCPT, one status
                continue
            seen.add(address)
            result.append((kind, address, name))
    if not result:
        raise _fail("no_recipients", "to", index)
    limit = conf.max_recipients()
    if len(result) > limit:
        raise _fail("too_many_recipients", "to", index, limit=limit)
    return result


def _subject(value: Any, index: int | None) -> str:
    if not isinstance(value, str):
        raise _fail("required", "subject", index)
    try:
        mail_headers.field("Subject", mail_headers.unstructured(value))
    except InvalidValue as exc:
        raise _fail(exc.code, "subject", index, **exc.params) from None
    except mail_headers.HeaderError:
        raise _fail("too_long", "subject", index) from None
    return value


def _body(value: Any, field: str, index: int | None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail("invalid_text", field, index)
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate cannot be sent at all
        raise _fail("invalid_text", field, index) from None
    if "\0" in value:
        raise _fail("invalid_text", field, index)
    limit = conf.max_body_bytes()
    if size > limit:
        raise _fail("body_too_large", field, index, limit=limit)
    return value


def _headers(value: Any, index: int | None) -> list[list[str]]:
    if value is None:
        return []
    pairs = list(value.items()) if isinstance(value, Mapping) else list(value)
    if len(pairs) > MAX_HEADERS:
        raise _fail("too_many_headers", "headers", index, limit=MAX_HEADERS)
    result = []
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise _fail("invalid_header_name", "headers", index)
        name, text = pair
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise _fail("invalid_header_name", "headers", index, name=str(name)[:80])
        where = f"headers.{name}"
        lowered = name.lower()
        if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_PREFIXES):
            raise _fail("reserved_header", where, index, name=name)
        if not isinstance(text, str):
            raise _fail("invalid_text", where, index)
        try:
            refuse_control_characters(text, field=where)
            if lowered in ASCII_ONLY_HEADERS and not _PRINTABLE.match(text):
                raise _fail("header_not_ascii", where, index, name=name)
            mail_headers.field(name, mail_headers.unstructured(text))
        except InvalidMessage:
            raise
        except InvalidValue as exc:
            raise _fail(exc.code, where, index) from None
        except mail_headers.HeaderError:
            raise _fail("too_long", where, index) from None
        result.append([name, text])
    return result


def _filename(value: Any, where: str, index: int | None) -> str:
    if not isinstance(value, str):
        raise _fail("invalid_filename", where, index)
    name = value.strip()
    if not name or "/" in name or "\\" in name or name in {".", ".."} or len(name) > 255:
        raise _fail("invalid_filename", where, index)
    try:
        refuse_control_characters(name, field=where)
    except InvalidValue as exc:
        raise _fail(exc.code, where, index) from None
    return name


def _content_type(value: Any, filename: str, where: str, index: int | None) -> str:
    if value is None or value == "":
        return mimetypes.guess_type(filename, strict=False)[0] or "application/octet-stream"
    if not isinstance(value, str) or not _CONTENT_TYPE.match(value.strip().lower()):
        raise _fail("invalid_content_type", where, index)
    return value.strip().lower()


def _stream_size(stream: Any) -> int | None:
    """The bytes left in a file object, when that can be known without reading it."""
    try:
        info = os.fstat(stream.fileno())
        if stat.S_ISREG(info.st_mode):
            return max(info.st_size - stream.tell(), 0)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    try:
        if stream.seekable():
            here = stream.tell()
            end = stream.seek(0, io.SEEK_END)
            stream.seek(here)
            return max(end - here, 0)
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _position(data: Any) -> int | None:
    try:
        return data.tell() if hasattr(data, "seekable") and data.seekable() else None
    except (OSError, ValueError):
        return None


def _attachments(value: Any, index: int | None) -> list[_Attachment]:
    items = list(value or ())
    limit_count = conf.attachment_max_count()
    if len(items) > limit_count:
        raise _fail("too_many_attachments", "attachments", index, limit=limit_count)
    limit = conf.attachment_max_bytes()
    result = []
    total = 0
    for position, item in enumerate(items):
        where = f"attachments[{position}]"
        if isinstance(item, str | os.PathLike):
            path = Path(item)
            try:
                info = path.stat()
            except OSError:
                raise _fail("attachment_unreadable", where, index) from None
            if not stat.S_ISREG(info.st_mode):  # /dev/zero has no end
                raise _fail("attachment_unreadable", where, index)
            filename = _filename(path.name, where, index)
            attachment = _Attachment(
                filename, _content_type(None, filename, where, index), path, info.st_size
            )
        elif isinstance(item, tuple) and len(item) in (2, 3):
            filename = _filename(item[0], where, index)
            data = item[1]
            given_type = item[2] if len(item) == 3 else None
            content_type = _content_type(given_type, filename, where, index)
            if isinstance(data, bytes | bytearray | memoryview):
                size: int | None = memoryview(data).nbytes
            elif hasattr(data, "read") and not isinstance(data, io.TextIOBase):
                size = _stream_size(data)
            else:
                raise _fail("invalid_attachment", where, index)
            attachment = _Attachment(filename, content_type, data, size, _position(data))
        else:
            raise _fail("invalid_attachment", where, index)
        # Refused by its size before a byte is read; an unknown size is counted while read.
        if attachment.declared_size is not None:
            total += attachment.declared_size
            if attachment.declared_size > limit or total > limit:
                raise _fail("attachment_too_large", where, index, limit=limit)
        result.append(attachment)
    return result


def _key(value: Any, index: int | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_KEY:
        raise _fail("invalid_idempotency_key", "idempotency_key", index)
    try:
        refuse_control_characters(value, field="idempotency_key")
    except InvalidValue:
        raise _fail("invalid_idempotency_key", "idempotency_key", index) from None
    return value


def _by_code(model, value: Any, index: int | None, cache: dict | None, *, code: str, field: str):
    """A company or account type given as itself or by its code (cached for bulk intake)."""
    if isinstance(value, model) and value.pk is not None:
        return value
    if cache is not None and value in cache:
        return cache[value]
    found = model.objects.filter(code=value).first() if isinstance(value, str) else None
    if found is None:
        raise _fail(code, field, index)
    if cache is not None:
        cache[value] = found
    return found


def _company(value: Any, index: int | None, cache: dict[Any, Company] | None = None) -> Company:
    return _by_code(Company, value, index, cache, code="unknown_company", field="company")


def _account_type(value: Any, index: int | None, cache: dict[Any, AccountType] | None = None):
    return _by_code(AccountType, value, index, cache, code="unknown_type", field="account_type")


def _draft(
    *,
    company: Any,
    to: Any,
    cc: Any = (),
    bcc: Any = (),
    reply_to: Any = None,
    subject: Any,
    text: Any = None,
    html: Any = None,
    attachments: Any = (),
    account_type: Any = DEFAULT_TYPE,
    from_address: Any = None,
    headers: Any = None,
    idempotency_key: Any = None,
    index: int | None = None,
    caches: dict[str, dict[Any, Any]] | None = None,
) -> _Draft:
    caches = caches if caches is not None else {}
    company_row = _company(company, index, caches.get("company"))
    type_row = _account_type(account_type, index, caches.get("type"))
    key = _key(idempotency_key, index)
    recipients = _recipients(
        [(RecipientKind.TO, to), (RecipientKind.CC, cc), (RecipientKind.BCC, bcc)], index
    )
    text_body = _body(text, "text", index)
    html_body = _body(html, "html", index)
    if not text_body and not html_body:
        raise _fail("no_body", "text", index)
    return _Draft(
        company=company_row,
        account_type=type_row,
        recipients=recipients,
        subject=_subject(subject, index),
        text=text_body,
        html=html_body,
        from_address=_address(from_address, "from_address", index) if from_address else "",
        reply_to=_address(reply_to, "reply_to", index) if reply_to else "",
        headers=_headers(headers, index),
        attachments=_attachments(attachments, index),
        idempotency_key=key,
        index=index,
    )


# --- Message-ID -----------------------------------------------------------------------------


def _id_domain(draft: _Draft, cache: dict[tuple[int, int], str] | None = None) -> str:
    """The domain of the Message-ID: the explicit From's, else the domain of the account that
    would send it now (the seed's rule), else ``EMISARIO_MESSAGE_ID_DOMAIN``, else a reserved
    name (RFC 2606 ``.invalid``) that still makes a valid, unique Message-ID."""
    if draft.from_address:
        return draft.from_address.rpartition("@")[2]
    slot = (draft.company.pk, draft.account_type.pk)
    if cache is not None and slot in cache:
        return cache[slot]
    domain = _account_domain(draft.company, draft.account_type) or ""
    if not domain and conf.message_id_domain():
        try:
            domain = normalize_host(conf.message_id_domain(), field="EMISARIO_MESSAGE_ID_DOMAIN")
        except InvalidValue:
            domain = ""
    domain = domain or FALLBACK_ID_DOMAIN
    if cache is not None:
        cache[slot] = domain
    return domain


def _account_domain(company: Company, account_type: AccountType) -> str | None:
    from emisario.accounts.selectors import generic_endpoint

    accounts = {
        a.pk: a
        for a in SmtpAccount.objects.select_related("account_type").filter(
            Q(company=company) | Q(company__isnull=True), account_type=account_type
        )
    }
    try:
        resolution = resolve_account(
            [a.as_row() for a in accounts.values()],
            company=company.pk,
            type_code=account_type.code,
            generic=generic_endpoint(),
        )
    except NoAccountAvailable:
        return None
    if resolution.account is not None:
        sender = accounts[resolution.account.id].sender
    elif resolution.generic is not None:
        sender = resolution.generic.sender
    else:
        return None
    return sender.rpartition("@")[2].lower() or None


def make_message_id(domain: str, when: datetime) -> str:
    """``<time.random@domain>``: RFC 5322 section 3.6.4 msg-id, a dot-atom on the left (hex),
    unique by 80 random bits, never guessable from another message's."""
    return f"<{int(when.timestamp() * 1000):x}.{secrets.token_hex(10)}@{domain}>"


# --- writing --------------------------------------------------------------------------------


def _new_message(
    draft: _Draft, now: datetime, domain: str, rendered: Mapping[str, Any] | None = None
) -> OutboundMessage:
    fields = dict(rendered or {})
    message_id = make_message_id(domain, now)
    if "mime_head" in fields:
        fields["head"] = _head(draft, message_id, now, fields.pop("mime_head"))
    return OutboundMessage(
        **fields,
        company=draft.company,
        account_type=draft.account_type,
        from_address=draft.from_address,
        reply_to=draft.reply_to,
        subject=draft.subject,
        text_body=draft.text,
        html_body=draft.html,
        headers=draft.headers,
        message_id=message_id,
        date=now,
        idempotency_key=draft.idempotency_key,
        recipient_count=len(draft.recipients),
        status=MessageStatus.QUEUED,
        next_attempt_at=now,
        expires_at=now + conf.expiry(),
        created_at=now,
    )


def _head(draft: _Draft, message_id: str, date: datetime, mime_head: bytes) -> str:
    """Every header field but From (``envelope.fixed_head``), as stored with the message."""
    visible: dict[str, list[tuple[str, str]]] = {RecipientKind.TO: [], RecipientKind.CC: []}
    for kind, address, name in draft.recipients:
        if kind in visible:
            visible[kind].append((address, name))
    head = fixed_head(
        to=visible[RecipientKind.TO],
        cc=visible[RecipientKind.CC],
        reply_to=draft.reply_to,
        subject=draft.subject,
        date=date,
        message_id=message_id,
        extra=draft.headers,
        mime_head=mime_head,
    )
    return head.decode("utf-8")  # UTF-8 only where SMTPUTF8 addresses need it


def _recipient_rows(message: OutboundMessage, draft: _Draft) -> list[Recipient]:
    return [
        Recipient(message=message, kind=kind, address=address, display_name=name, position=n)
        for n, (kind, address, name) in enumerate(draft.recipients)
    ]


def _open(attachment: _Attachment) -> tuple[BinaryIO, bool]:
    """A binary stream of the attachment and whether we opened it (and must close it)."""
    source = attachment.source
    if isinstance(source, Path):
        return source.open("rb"), True
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source), True
    if attachment.start is not None:
        source.seek(attachment.start)
    return source, False


def _store_attachments(draft: _Draft) -> list[tuple[Attachment, _Attachment]]:
    """Store each attachment's content (once per distinct content) and return it with the
    caller's name and type for the message."""
    limit = conf.attachment_max_bytes()
    remaining = limit
    stored = []
    for position, attachment in enumerate(draft.attachments):
        where = f"attachments[{position}]"
        try:
            stream, owned = _open(attachment)
        except OSError:
            raise _fail("attachment_unreadable", where, draft.index) from None
        try:
            blob = storage.store(stream, limit=remaining)
        except storage.TooLarge:
            raise _fail("attachment_too_large", where, draft.index, limit=limit) from None
        except TypeError:  # a text-mode file: read() gave str
            raise _fail("invalid_attachment", where, draft.index) from None
        except OSError:
            raise _fail("attachment_unreadable", where, draft.index) from None
        finally:
            if owned:
                stream.close()
        remaining -= blob.size
        stored.append((blob, attachment))
    return stored


def _attachment_rows(
    message: OutboundMessage, stored: list[tuple[Attachment, _Attachment]]
) -> list[MessageAttachment]:
    return [
        MessageAttachment(
            message=message,
            blob=blob,
            filename=attachment.filename,
            content_type=attachment.content_type,
            position=position,
        )
        for position, (blob, attachment) in enumerate(stored)
    ]


def _render(draft: _Draft, stored: list[tuple[Attachment, _Attachment]]) -> dict[str, Any]:
    """The message's MIME body, rendered now and written to a file, so the worker only writes
    bytes (``emisario.core.mail.mime``). Returns the message's fields, with ``body`` the
    file's ``(sha256, size, name)``: :func:`_with_body_rows` turns it into the row."""
    parts = [
        mime.AttachmentPart(
            attachment.filename, attachment.content_type, partial(blob.chunks, storage.CHUNK)
        )
        for blob, attachment in stored
    ]
    rendered = mime.render_body(text=draft.text, html=draft.html, attachments=parts)
    body = storage.write_file(_wire_safe(rendered.chunks), prefix=storage.BODIES)
    addresses = [address for _kind, address, _name in draft.recipients]
    if draft.from_address:
        addresses.append(draft.from_address)
    return {
        "mime_head": rendered.head,
        "body": body,
        "body_size": body[1],
        "needs_smtputf8": any(needs_smtputf8(address) for address in addresses),
    }


def _wire_safe(chunks: Iterable[bytes]) -> Iterable[bytes]:
    """The rendered body, checked on its way to the file: CRLF line ends only, no line that
    starts with "." (the worker then writes it without scanning it again). The renderer
    cannot produce anything else; a failure here is our bug, never stored."""
    safety = WireSafety()
    last = b"\r\n"
    for chunk in chunks:
        if not safety.check(chunk):
            raise RuntimeError("the rendered body is not wire-safe: a renderer bug")
        if chunk:
            last = chunk
        yield chunk
    if not last.endswith(b"\r\n"):
        raise RuntimeError("the rendered body does not end with CRLF: a renderer bug")


def _with_body_rows(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rendered`` with each body file replaced by its Attachment row (one bulk write)."""
    rows = storage.rows_for(fields["body"] for fields in rendered)
    return [{**fields, "body": rows[fields["body"][0]]} for fields in rendered]


def _existing(company: Company, key: str | None) -> OutboundMessage | None:
    if key is None:
        return None
    return OutboundMessage.objects.filter(company=company, idempotency_key=key).first()


def _notify_workers() -> None:
    """Wake CRONUS workers when the caller's transaction commits (PostgreSQL delivers a
    NOTIFY only then, and folds repeats within one transaction). Elsewhere they poll."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [conf.NOTIFY_CHANNEL])


def enqueue(
    *,
    company: Company | str,
    to: Iterable[Any] | str,
    cc: Iterable[Any] = (),
    bcc: Iterable[Any] = (),
    reply_to: str | None = None,
    subject: str,
    text: str | None = None,
    html: str | None = None,
    attachments: Iterable[Any] = (),
    account_type: AccountType | str = DEFAULT_TYPE,
    from_address: str | None = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    idempotency_key: str | None = None,
) -> OutboundMessage:
    """Queue one message in the caller's transaction and return it (with the same
    ``idempotency_key`` for the same company: the first message, untouched).

    ``company`` is a Company or its code; ``account_type`` an AccountType or its code. A
    recipient is an address or a ``(display name, address)`` pair. An attachment is a file
    path or ``(filename, bytes or binary file, content type)`` (type guessed from the name
    when None or left out). Raises :class:`InvalidMessage`.
    """
    draft = _draft(
        company=company,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=reply_to,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        account_type=account_type,
        from_address=from_address,
        headers=headers,
        idempotency_key=idempotency_key,
    )
    message = _enqueue_draft(draft, None)
    _notify_workers()
    return message


def enqueue_many(items: Iterable[Mapping[str, Any]], *, chunk_size: int = BULK_CHUNK) -> list[int]:
    """Queue many messages (each a mapping of ``enqueue``'s keywords) all or nothing, in the
    caller's transaction, with rows written by ``bulk_create`` in chunks. Returns the message
    ids in the order of ``items``; a repeated idempotency key (already queued, or earlier in
    ``items``) gives the first message's id. A refused item raises :class:`InvalidMessage`
    with its ``index`` and nothing of ``items`` stays queued.

    Only one chunk of validated items is held at a time; the result holds ids, not rows.
    """
    caches: dict[str, dict[Any, Any]] = {"company": {}, "type": {}}
    domains: dict[tuple[int, int], str] = {}
    ids: list[int] = []
    seen_keys: dict[tuple[int, str], int] = {}
    with transaction.atomic():
        chunk: list[_Draft] = []
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise _fail("invalid_item", "item", index)
            try:
                chunk.append(_draft(**item, index=index, caches=caches))
            except TypeError as exc:  # an unknown keyword
                raise _fail("invalid_item", "item", index, detail=str(exc)[:200]) from None
            if len(chunk) >= chunk_size:
                ids.extend(_write_chunk(chunk, domains, seen_keys))
                chunk = []
        if chunk:
            ids.extend(_write_chunk(chunk, domains, seen_keys))
        if ids:
            _notify_workers()
    return ids


def _write_chunk(
    chunk: list[_Draft],
    domains: dict[tuple[int, int], str],
    seen_keys: dict[tuple[int, str], int],
) -> list[int]:
    keyed = [d for d in chunk if d.idempotency_key is not None]
    if keyed:
        wanted = {(d.company.pk, d.idempotency_key) for d in keyed} - set(seen_keys)
        for company_id in {c for c, _ in wanted}:
            keys = [k for c, k in wanted if c == company_id]
            for pk, key in OutboundMessage.objects.filter(
                company_id=company_id, idempotency_key__in=keys
            ).values_list("pk", "idempotency_key"):
                seen_keys[(company_id, key)] = pk
    now = timezone.now()
    fresh: list[tuple[_Draft, OutboundMessage]] = []
    stored: dict[int, list[tuple[Attachment, _Attachment]]] = {}
    pending: list[tuple[_Draft, dict[str, Any]]] = []
    claimed: set[tuple[int, str]] = set()
    for draft in chunk:
        slot = (draft.company.pk, draft.idempotency_key)
        if draft.idempotency_key is not None and (slot in seen_keys or slot in claimed):
            continue
        if draft.idempotency_key is not None:
            claimed.add(slot)  # type: ignore[arg-type]
        stored[id(draft)] = files = _store_attachments(draft)
        pending.append((draft, _render(draft, files)))
    bodies = _with_body_rows([fields for _draft, fields in pending])
    for (draft, _fields), fields in zip(pending, bodies, strict=True):
        fresh.append((draft, _new_message(draft, now, _id_domain(draft, domains), fields)))
    try:
        with transaction.atomic():
            OutboundMessage.objects.bulk_create([m for _, m in fresh])
            Recipient.objects.bulk_create(
                [r for d, m in fresh for r in _recipient_rows(m, d)], batch_size=BULK_CHUNK
            )
            MessageAttachment.objects.bulk_create(
                [a for d, m in fresh for a in _attachment_rows(m, stored[id(d)])],
                batch_size=BULK_CHUNK,
            )
    except IntegrityError:
        # A concurrent transaction queued one of these keys meanwhile: one by one, each in
        # its own savepoint, so the first message of every key wins.
        fresh = [(d, _enqueue_draft(d, domains)) for d, _ in fresh]
    for draft, message in fresh:
        if draft.idempotency_key is not None:
            seen_keys[(draft.company.pk, draft.idempotency_key)] = message.pk
    result = []
    by_draft = {id(d): m.pk for d, m in fresh}
    for draft in chunk:
        if id(draft) in by_draft:
            result.append(by_draft[id(draft)])
        else:
            result.append(seen_keys[(draft.company.pk, draft.idempotency_key)])  # type: ignore[index]
    return result


def _enqueue_draft(draft: _Draft, domains: dict[tuple[int, int], str] | None) -> OutboundMessage:
    first = _existing(draft.company, draft.idempotency_key)
    if first is not None:
        return first
    message = _new_message(draft, timezone.now(), _id_domain(draft, domains))
    try:
        with transaction.atomic():
            # The message first: on a concurrent key it waits here, before any file work.
            message.save(force_insert=True)
            Recipient.objects.bulk_create(_recipient_rows(message, draft))
            files = _store_attachments(draft)
            MessageAttachment.objects.bulk_create(_attachment_rows(message, files))
            rendered = _with_body_rows([_render(draft, files)])[0]
            mime_head = rendered.pop("mime_head")
            rendered["head"] = _head(draft, message.message_id, message.date, mime_head)
            for name, value in rendered.items():
                setattr(message, name, value)
            message.save(update_fields=list(rendered))
    except IntegrityError:
        first = _existing(draft.company, draft.idempotency_key)
        if first is None:
            raise
        return first
    return message
