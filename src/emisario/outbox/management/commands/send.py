"""``emisario send``: queue one message from the command line, or a JSON Lines file of them.

A batch file is all or nothing: every line is checked and queued inside one transaction, and a
file with any bad line queues nothing. Half a month-end file queued would leave the user to
work out which lines went; after a fix the same command is simply run again.

Intake errors are rendered from their codes with the English msgids (the CLI speaks English;
the web console speaks Spanish), naming the option or the file and line they came from.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import stat
import sys
import time
from array import array
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, transaction
from django.utils import timezone, translation

from emisario.console.messages import INVALID_VALUE
from emisario.core.accounts import DEFAULT_TYPE
from emisario.outbox import conf
from emisario.outbox.messages import INTAKE_ERRORS
from emisario.outbox.models import OutboundMessage
from emisario.outbox.services import BULK_CHUNK, InvalidMessage, enqueue, enqueue_many

MAX_REPORTED = 20
"""Bad lines reported before a batch stops reading: enough to see a pattern, not a flood."""
MAX_CHUNK = 10_000
BATCH_KEYS = frozenset(
    {
        "company",
        "type",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "from",
        "subject",
        "text",
        "html",
        "attachments",
        "headers",
        "idempotency_key",
    }
)
OPTIONS = {
    "company": "--company",
    "type": "--type",
    "to": "--to",
    "cc": "--cc",
    "bcc": "--bcc",
    "reply_to": "--reply-to",
    "from_address": "--from",
    "subject": "--subject",
    "text_file": "--text-file",
    "html_file": "--html-file",
    "attach": "--attach",
    "header": "--header",
    "idempotency_key": "--idempotency-key",
}
"""The options of one message, by their argparse names."""
OPTION_OF_FIELD = {
    "account_type": "type",
    "text": "text_file",
    "html": "html_file",
    "attachments": "attach",
    "headers": "header",
}
"""enqueue's field names as the options that gave them, where they differ (``to[2]`` is the
third ``--to``)."""
JSON_KINDS: dict[type, str] = {
    list: "a list",
    str: "a string",
    bool: "true or false",
    type(None): "null",
}
KEY_OF_FIELD = {"account_type": "type", "from_address": "from"}
"""enqueue's field names as the batch file's keys, where they differ."""


def describe(error: InvalidMessage) -> str:
    """The English sentence for an intake error's code, with its placeholders filled."""
    template = INTAKE_ERRORS.get(error.code) or INVALID_VALUE.get(error.code)
    if template is None:
        return error.code.replace("_", " ")
    with translation.override(None):  # the msgid: the CLI is English whatever LANGUAGE_CODE
        text = str(template)
    if not error.params:
        return text
    try:
        return text % error.params
    except (KeyError, TypeError, ValueError):  # a placeholder without its value
        return text


def _chunk_size(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_CHUNK:
        raise argparse.ArgumentTypeError(
            f"write a whole number from 1 to {MAX_CHUNK}, not {value!r}"
        )
    return number


def _file_problem(path: Path, *, regular: bool) -> str | None:
    """Why ``path`` cannot be read as a file, in words, or None. ``regular``: refuse pipes and
    devices too (an attachment must have an end: /dev/zero has none)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "there is no such file"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a file"
    if regular and not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def _decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError(f"{label}: is not UTF-8 text (byte {exc.start + 1})") from None


def _read_body(stream: Any, label: str) -> str:
    """A body read from a file or stdin, refused past the size limit without reading it all."""
    limit = conf.max_body_bytes()
    source = getattr(stream, "buffer", stream)
    try:
        data = source.read(limit + 1)
    except OSError as exc:
        raise CommandError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        too_large = InvalidMessage("body_too_large", field="text", limit=limit)
        raise CommandError(f"{label}: {describe(too_large)}")
    return _decode(data, label) if isinstance(data, bytes) else data


def _read_body_file(value: str, option: str) -> str:
    label = f"{option} {value}"
    problem = _file_problem(Path(value), regular=False)  # a pipe is fine: <(make-body)
    if problem:
        raise CommandError(f"{label}: {problem}")
    try:
        with open(value, "rb") as handle:
            return _read_body(handle, label)
    except OSError as exc:
        raise CommandError(f"{label}: cannot be read ({exc.strerror})") from None


def _header(value: str) -> tuple[str, str]:
    name, colon, text = value.partition(":")
    if not colon or not name.strip():
        raise CommandError(
            f"--header {shlex.quote(value)}: write it as 'Name: value', "
            "for example --header 'X-Invoice: F-1001'."
        )
    return name.strip(), text.strip()


class Command(BaseCommand):
    help = (
        "Queue one message (--company, --to, --subject and a body), or every message of a "
        "JSON Lines file (--batch FILE), all or nothing. The text body comes from --text-file, "
        "or from stdin when it is not a terminal."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        one = parser.add_argument_group("one message")
        one.add_argument("--company", metavar="CODE", help="the sending company's code")
        one.add_argument(
            "--type", metavar="CODE", help=f"account type code (default {DEFAULT_TYPE})"
        )
        for name in ("to", "cc", "bcc"):
            one.add_argument(f"--{name}", action="append", metavar="ADDR", help="repeatable")
        one.add_argument("--reply-to", metavar="ADDR")
        one.add_argument(
            "--from", dest="from_address", metavar="ADDR", help="default: the account's sender"
        )
        one.add_argument("--subject", metavar="TEXT")
        one.add_argument("--text-file", metavar="PATH", help="the text body; - reads stdin")
        one.add_argument("--html-file", metavar="PATH", help="the HTML body")
        one.add_argument("--attach", action="append", metavar="PATH", help="repeatable")
        one.add_argument(
            "--header", action="append", metavar="'NAME: VALUE'", help="extra header, repeatable"
        )
        one.add_argument(
            "--idempotency-key",
            metavar="KEY",
            help="the same key for the same company returns the first message",
        )
        many = parser.add_argument_group("a batch")
        many.add_argument("--batch", metavar="FILE.jsonl", help="one JSON message per line")
        many.add_argument(
            "--chunk-size",
            type=_chunk_size,
            metavar="N",
            help=f"messages written per round trip (default {BULK_CHUNK})",
        )
        shown = many.add_mutually_exclusive_group()
        shown.add_argument(
            "--progress", dest="progress", action="store_true", default=None, help="always"
        )
        shown.add_argument(
            "--no-progress", dest="progress", action="store_false", help="never (default: on a TTY)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch = options["batch"]
        if batch is not None:
            given = [option for name, option in OPTIONS.items() if options.get(name) is not None]
            if given:
                raise CommandError(
                    f"--batch takes every field from the file: leave out {', '.join(given)}."
                )
            self._send_batch(Path(batch), options)
            return
        if options["chunk_size"] is not None or options["progress"] is not None:
            raise CommandError("--chunk-size, --progress and --no-progress only apply to --batch.")
        self._send_one(options)

    # --- one message --------------------------------------------------------------------

    def _send_one(self, options: dict[str, Any]) -> None:
        company = options["company"]
        if not company:
            raise CommandError(
                "--company is required: the code of the company that sends "
                "(or give a file with --batch)."
            )
        text = self._text(options)
        html = None
        if options["html_file"]:
            html = _read_body_file(options["html_file"], "--html-file")
        attachments = []
        for value in options["attach"] or ():
            problem = _file_problem(Path(value), regular=True)
            if problem:
                raise CommandError(f"--attach {value}: {problem}")
            attachments.append(Path(value))
        headers = [_header(value) for value in options["header"] or ()]
        key = options["idempotency_key"]
        try:
            with transaction.atomic():
                earlier = (
                    key is not None
                    and OutboundMessage.objects.filter(
                        company__code=company, idempotency_key=key
                    ).exists()
                )
                message = enqueue(
                    company=company,
                    account_type=options["type"] or DEFAULT_TYPE,
                    to=options["to"] or (),
                    cc=options["cc"] or (),
                    bcc=options["bcc"] or (),
                    reply_to=options["reply_to"],
                    from_address=options["from_address"],
                    subject=options["subject"],
                    text=text,
                    html=html,
                    attachments=attachments,
                    headers=headers,
                    idempotency_key=key,
                )
        except InvalidMessage as exc:
            raise CommandError(f"{self._option(exc.field, options)}: {describe(exc)}") from None
        except DatabaseError as exc:
            raise _database_error(exc) from exc
        if earlier:
            self.stdout.write(
                f"Message {message.pk}, Message-ID {message.message_id}, was queued earlier "
                f"with idempotency key {key!r}: nothing new was queued."
            )
        else:
            self.stdout.write(f"Queued message {message.pk}, Message-ID {message.message_id}")

    def _text(self, options: dict[str, Any]) -> str | None:
        path = options["text_file"]
        stdin = options.get("stdin") or sys.stdin
        if path and path != "-":
            return _read_body_file(path, "--text-file")
        if path == "-" or (options["html_file"] is None and not _is_tty(stdin)):
            options["text_file"] = "-"  # errors about the text then say "stdin"
            return _read_body(stdin, "stdin")
        return None

    @staticmethod
    def _option(field: str, options: dict[str, Any]) -> str:
        """``to[1]`` as ``--to 'second address'``: the option the user typed, and its value."""
        base, _, rest = field.partition("[")
        name, dot, header = base.partition(".")
        dest = OPTION_OF_FIELD.get(name, name)
        option = OPTIONS.get(dest)
        if option is None:
            return field
        given = options.get(dest)
        if dot:
            return f"{option} {shlex.quote(header)}"
        if given == "-":
            return "stdin"
        if rest and isinstance(given, list):
            position = int(rest.rstrip("]"))
            given = given[position] if position < len(given) else None
        if isinstance(given, str | Path) and len(str(given)) <= 80:  # a long subject: the name
            return f"{option} {shlex.quote(str(given))}"
        return option

    # --- a batch file -------------------------------------------------------------------

    def _send_batch(self, path: Path, options: dict[str, Any]) -> None:
        problem = _file_problem(path, regular=False)
        if problem:
            raise CommandError(f"--batch {path}: {problem}")
        show = options["progress"]
        if show is None:
            show = self.stderr.isatty()
        started, clock = timezone.now(), time.monotonic()
        reader = _BatchReader(path)
        try:
            with open(path, "rb") as handle:
                total = _count_lines(handle) if show else None
                with _progress(self.stderr, total, show) as bar:
                    reader.on_line = bar.update
                    counts = self._queue(
                        reader, handle, options["chunk_size"] or BULK_CHUNK, started
                    )
        except OSError as exc:
            raise CommandError(f"--batch {path}: cannot be read ({exc.strerror})") from None
        except DatabaseError as exc:
            raise _database_error(exc) from exc
        if reader.errors:
            for line in reader.errors:
                self.stderr.write(line)
            stopped = f" (stopped reading after {MAX_REPORTED})" if reader.stopped else ""
            raise CommandError(
                f"{path}: {len(reader.errors)} bad line(s){stopped}; nothing was queued. "
                "Fix them and run the same command again."
            )
        queued, earlier = counts
        self.stdout.write(
            f"Queued {queued} new message(s) from {path} in {time.monotonic() - clock:.1f} s; "
            f"{earlier} line(s) named a message queued earlier (same idempotency key)."
        )

    @staticmethod
    def _queue(
        reader: _BatchReader, handle: BinaryIO, chunk: int, started: datetime
    ) -> tuple[int, int]:
        """Queue every line in one transaction, rolled back whole on any bad line. After the
        first error the rest of the file is only checked line by line (JSON, keys, types,
        attachment files): queuing it would render and store bodies only to roll them back."""
        with transaction.atomic():
            items = reader.items(handle)
            try:
                ids = enqueue_many(items, chunk_size=chunk)
            except InvalidMessage as exc:
                number = reader.lines[exc.index] if exc.index is not None else 0
                reader.error(number, f"{_batch_key(exc.field)}: {describe(exc)}")
                with contextlib.suppress(_Refused):
                    for _ in items:  # yields nothing now: it only checks the remaining lines
                        pass
            except _Refused:
                pass
            if reader.errors:
                transaction.set_rollback(True)
                return 0, 0
            return _new_and_earlier(ids, started)


class _Refused(Exception):
    """Raised by the reader at the end of a file with bad lines, so that ``enqueue_many``
    does not write the chunk it holds."""


class _LineError(Exception):
    """A line that is not a message: its text is ``field: reason`` or the reason alone."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _LineError(f"{key}: the key is given twice")
        result[key] = value
    return result


class _BatchReader:
    """Reads a JSON Lines file one line at a time into ``enqueue`` keywords, remembering the
    line number of each item it hands out (``enqueue_many`` reports item positions)."""

    def __init__(self, path: Path):
        self.path = path
        self.base = path.absolute().parent
        self.errors: list[str] = []
        self.stopped = False
        self.lines = array("L")
        self.on_line: Any = lambda _n: None

    def error(self, number: int, text: str) -> None:
        self.errors.append(f"{self.path}:{number}: {text}")

    def items(self, handle: BinaryIO) -> Iterator[dict[str, Any]]:
        for number, raw in enumerate(handle, start=1):
            if len(self.errors) >= MAX_REPORTED:
                self.stopped = True
                break
            self.on_line(1)
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                self.error(number, f"is not UTF-8 text (byte {exc.start + 1} of the line)")
                continue
            if not text.strip():
                continue  # blank lines are allowed, and still counted
            try:
                item = _item(json.loads(text, object_pairs_hook=_no_duplicates), self.base)
            except json.JSONDecodeError as exc:
                self.error(number, f"invalid JSON: {exc.msg} (column {exc.colno})")
                continue
            except _LineError as exc:
                self.error(number, str(exc))
                continue
            if not self.errors:
                self.lines.append(number)
                yield item
        if self.errors:
            raise _Refused


def _item(value: Any, base: Path) -> dict[str, Any]:
    """One line's object as ``enqueue`` keywords, with every key and type checked."""
    if not isinstance(value, dict):
        raise _LineError(
            "each line must be a JSON object {...}, "
            f"this one is {JSON_KINDS.get(type(value), 'a number')}"
        )
    unknown = sorted(set(value) - BATCH_KEYS)
    if unknown:
        raise _LineError(
            f"{unknown[0]}: unknown key (the keys are {', '.join(sorted(BATCH_KEYS))})"
        )
    for required in ("company", "subject"):
        if value.get(required) is None:
            raise _LineError(f"{required}: {describe(InvalidMessage('required', field=required))}")
    item: dict[str, Any] = {
        "company": _string(value, "company", "a company code"),
        "account_type": _string(value, "type", "an account type code"),
        "reply_to": _string(value, "reply_to", "an address"),
        "from_address": _string(value, "from", "an address"),
        "subject": _string(value, "subject", "text"),
        "text": _string(value, "text", "text"),
        "html": _string(value, "html", "text"),
        "idempotency_key": _string(value, "idempotency_key", "text"),
    }
    if item["account_type"] is None:
        item["account_type"] = DEFAULT_TYPE
    for kind in ("to", "cc", "bcc"):
        entries = value.get(kind)
        if isinstance(entries, str):
            entries = [entries]
        elif entries is None:
            entries = []
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise _LineError(f"{kind}: must be an address or a list of addresses")
        item[kind] = entries
    item["headers"] = _headers(value.get("headers"))
    item["attachments"] = _attachments(value.get("attachments"), base)
    return item


def _string(value: dict[str, Any], key: str, what: str) -> str | None:
    found = value.get(key)
    if found is not None and not isinstance(found, str):
        raise _LineError(f"{key}: must be {what} (a JSON string)")
    return found


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _LineError('headers: must be an object such as {"X-Invoice": "F-1001"}')
    for name, text in value.items():
        if not isinstance(text, str):
            raise _LineError(f"headers.{name}: must be text (a JSON string)")
    return value


def _attachments(value: Any, base: Path) -> list[Path]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise _LineError("attachments: must be a list of file paths")
    paths = []
    for position, given in enumerate(value):
        path = base / given  # an absolute path stays itself
        problem = _file_problem(path, regular=True)
        if problem:
            raise _LineError(f"attachments[{position}]: {given}: {problem}")
        paths.append(path)
    return paths


def _batch_key(field: str) -> str:
    base, sep, rest = field.partition("[")
    return KEY_OF_FIELD.get(base, base) + sep + rest


def _new_and_earlier(ids: list[int], started: datetime) -> tuple[int, int]:
    """How many ids are messages this batch created, and how many lines got a message queued
    before (by another run, or by an earlier line with the same idempotency key)."""
    distinct = sorted(set(ids))
    new = 0
    for start in range(0, len(distinct), BULK_CHUNK):
        new += OutboundMessage.objects.filter(
            pk__in=distinct[start : start + BULK_CHUNK], created_at__gte=started
        ).count()
    return new, len(ids) - new


def _count_lines(handle: BinaryIO) -> int:
    count, last = 0, b"\n"
    while block := handle.read(1 << 20):
        count += block.count(b"\n")
        last = block[-1:]
    handle.seek(0)
    return count + (last != b"\n")


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _progress(stderr: Any, total: int | None, show: bool):
    from tqdm import tqdm

    # The wrapper adds a newline to each write; tqdm redraws its line with "\r".
    return tqdm(
        total=total,
        file=getattr(stderr, "_out", stderr),
        disable=not show,
        unit=" lines",
        desc="Queuing",
        mininterval=0.2,
        leave=True,
    )


def _database_error(exc: DatabaseError) -> CommandError:
    return CommandError(
        f"The database refused the work: {exc}. Nothing was queued. If its tables are "
        "missing, run: emisario migrate"
    )
