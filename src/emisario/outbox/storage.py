"""Attachment files: content-addressed, written in chunks, never read whole.

A file is named after the SHA-256 of its bytes (``ab/cd/abcd…``), so two messages carrying
the same PDF share one file and one :class:`~emisario.outbox.models.Attachment` row. It is
written to ``tmp/`` first while its hash and size are computed chunk by chunk (refused as
soon as it passes the size limit), then moved into place with ``os.replace``: a file under its
final name is always complete, and replacing it with the same name means the same bytes.

Rollback. The file is written before the caller's transaction commits, and Django has no
"on rollback" hook, so a rolled-back ``enqueue`` leaves a file without a row. That file is
harmless: it is never served (only rows point at files), a later ``enqueue`` of the same
content reuses its name, and :func:`collect_orphans` deletes files that no row names once they
are older than a grace period (longer than any transaction that could still be writing the
row). Deleting the file on commit failure instead would race with a concurrent transaction
that stored the same content and did commit.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from django.core.files.storage import FileSystemStorage
from django.db import IntegrityError, transaction

from emisario.outbox import conf

CHUNK = 64 * 1024
TMP = "tmp"


class AttachmentStorage(FileSystemStorage):
    """File storage under ``conf.attachment_root()``, read when used (tests move it)."""

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return str(conf.attachment_root())

    @property
    def location(self) -> str:  # type: ignore[override]
        return os.path.abspath(self.base_location)

    @property
    def base_url(self) -> None:  # type: ignore[override]
        return None  # never served over HTTP


_storage = AttachmentStorage()


def attachment_storage() -> AttachmentStorage:
    """The storage of ``Attachment.content`` (a callable, so migrations don't pin a path)."""
    return _storage


def blob_name(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class TooLarge(Exception):
    """The stream passed ``limit`` bytes; ``seen`` is how many were read when it stopped."""

    def __init__(self, seen: int) -> None:
        self.seen = seen
        super().__init__(f"more than the limit after {seen} bytes")


def store(stream: BinaryIO, *, limit: int):
    """Store ``stream``'s bytes (read in chunks up to ``limit``) and return its Attachment row,
    the existing one when the same content is already stored. Raises :class:`TooLarge`.

    Runs inside the caller's transaction: the row is created in a savepoint, and a concurrent
    insert of the same content (the unique ``sha256``) returns the winner's row.
    """
    from emisario.outbox.models import Attachment

    sha256, size, name = write_file(iter(lambda: stream.read(CHUNK), b""), limit=limit)
    existing = Attachment.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Attachment.objects.create(sha256=sha256, size=size, content=name)
    except IntegrityError:  # the same content, stored by a concurrent transaction
        return Attachment.objects.get(sha256=sha256)


BODIES = "bodies/"
"""Where rendered message bodies live, apart from the attachments they encode."""


def write_file(
    chunks: Iterable[bytes], *, limit: int | None = None, prefix: str = ""
) -> tuple[str, int, str]:
    """Write ``chunks`` under their hash (durably: fsync before the rename) and return
    ``(sha256, size, name)``; no row is written. Raises :class:`TooLarge` past ``limit``."""
    root = Path(_storage.location)
    (root / TMP).mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root / TMP, prefix="incoming-")
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                if isinstance(chunk, str):
                    raise TypeError("a text-mode file: read() gave str")
                size += len(chunk)
                if limit is not None and size > limit:
                    raise TooLarge(size)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha256 = digest.hexdigest()
        name = prefix + blob_name(sha256)
        final = root / name
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        return sha256, size, name
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def rows_for(files: Iterable[tuple[str, int, str]]) -> dict[str, Any]:
    """The Attachment row of every file :func:`write_file` wrote, by hash, in two queries
    whatever their number (bulk intake)."""
    from emisario.outbox.models import Attachment

    wanted = {sha: (size, name) for sha, size, name in files}
    rows = Attachment.objects.in_bulk(list(wanted), field_name="sha256")
    missing = [
        Attachment(sha256=sha, size=size, content=name)
        for sha, (size, name) in wanted.items()
        if sha not in rows
    ]
    if missing:
        Attachment.objects.bulk_create(missing, ignore_conflicts=True)
        rows.update(Attachment.objects.in_bulk([a.sha256 for a in missing], field_name="sha256"))
    return rows


def iter_chunks(name: str, chunk_size: int = CHUNK, *, root: str | None = None) -> Iterator[bytes]:
    """A stored file's bytes in chunks. ``root`` (the storage's location, looked up once by a
    caller reading thousands of files) skips the storage's per-call path work; names are
    ours (``ab/cd/<sha256>``), never a user's."""
    path = os.path.join(root, name) if root is not None else _storage.path(name)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def location() -> str:
    return _storage.location


def collect_orphans(*, older_than: timedelta = timedelta(hours=6)) -> int:
    """Delete attachment files no row names (left by rolled-back or crashed intakes) and
    temporary files, once older than ``older_than``; return how many went.

    The grace period protects a transaction that wrote a file and has not committed its row
    yet. A file is first moved aside, then checked again (its age, a committed row), and put
    back when either says it is in use.
    """
    from emisario.outbox.models import Attachment

    root = Path(_storage.location)
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    for path in list(root.rglob("*")):
        if not path.is_file():
            continue
        try:
            if path.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        relative = path.relative_to(root).as_posix()
        if relative.startswith(f"{TMP}/"):
            path.unlink(missing_ok=True)
            removed += 1
            continue
        if Attachment.objects.filter(content=relative).exists():
            continue
        aside = path.with_name(path.name + ".collecting")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            continue
        if aside.stat().st_mtime > cutoff or Attachment.objects.filter(content=relative).exists():
            os.replace(aside, path)
            continue
        aside.unlink()
        removed += 1
    return removed
