"""Attachments: stored once by content, limited by size and count, never read whole."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from datetime import timedelta

import pytest

from emisario.outbox import storage
from emisario.outbox.models import Attachment, MessageAttachment
from emisario.outbox.services import InvalidMessage, enqueue
from tests.outbox.conftest import stored_files

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


def with_attachments(attachments, **fields):
    return enqueue(
        company="ACME",
        to=["cliente@example.com"],
        subject="Estado de cuenta",
        text="Adjunto.",
        attachments=attachments,
        **fields,
    )


def refused(attachments):
    with pytest.raises(InvalidMessage) as caught:
        with_attachments(attachments)
    return caught.value


class CountingStream(io.RawIOBase):
    """A binary stream of ``size`` zero bytes that counts what was read from it."""

    def __init__(self, size: int, *, seekable: bool = True):
        self.size, self.position, self.read_bytes, self._seekable = size, 0, 0, seekable

    def readable(self):
        return True

    def seekable(self):
        return self._seekable

    def tell(self):
        return self.position

    def seek(self, offset, whence=io.SEEK_SET):
        if not self._seekable:
            raise io.UnsupportedOperation
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[
            whence
        ] + offset
        return self.position

    def readinto(self, buffer):
        n = max(0, min(len(buffer), self.size - self.position))
        buffer[:n] = bytes(n)
        self.position += n
        self.read_bytes += n
        return n


def test_the_same_pdf_on_two_messages_is_one_blob_and_one_file(acme, tmp_path, attachment_root):
    pdf = tmp_path / "estado-0001.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 100)
    first = with_attachments([pdf])
    second = with_attachments([("copia.pdf", pdf.read_bytes())])
    assert Attachment.objects.filter(uses__isnull=False).distinct().count() == 1
    assert len(stored_files(attachment_root)) == 1
    blob = Attachment.objects.filter(uses__isnull=False).distinct().get()
    assert blob.sha256 == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert blob.size == pdf.stat().st_size
    uses = list(
        MessageAttachment.objects.order_by("message_id").values_list("message_id", "filename")
    )
    assert uses == [(first.pk, "estado-0001.pdf"), (second.pk, "copia.pdf")]
    assert b"".join(blob.chunks()) == pdf.read_bytes()


def test_content_types_are_guessed_or_taken(acme, tmp_path):
    (tmp_path / "estado.pdf").write_bytes(b"%PDF")
    message = with_attachments(
        [
            tmp_path / "estado.pdf",
            ("datos.bin.zzz", b"raw"),
            ("factura.xml", io.BytesIO(b"<cfdi/>"), "Application/XML"),
            ("nota.txt", b"hola", None),
        ]
    )
    assert list(message.attachments.values_list("filename", "content_type")) == [
        ("estado.pdf", "application/pdf"),
        ("datos.bin.zzz", "application/octet-stream"),
        ("factura.xml", "application/xml"),
        ("nota.txt", "text/plain"),
    ]


@pytest.mark.parametrize(
    ("attachment", "code"),
    [
        (("a.pdf", b"x", "application/pdf\r\nBcc: x@evil.example"), "invalid_content_type"),
        (("a.pdf", b"x", "application/pdf; name=x"), "invalid_content_type"),
        (("a.pdf", b"x", "pdf"), "invalid_content_type"),
        (("../etc/passwd", b"x"), "invalid_filename"),
        (("", b"x"), "invalid_filename"),
        (("a\r\nb.pdf", b"x"), "control_characters"),
        (("a\u202efdp.exe", b"x"), "invisible_characters"),
        (("a.pdf", "texto, no bytes"), "invalid_attachment"),
        (("a.pdf",), "invalid_attachment"),
        (42, "invalid_attachment"),
        ("/nonexistent/estado.pdf", "attachment_unreadable"),
        ("/dev/zero", "attachment_unreadable"),  # no end: never read
    ],
    ids=[
        "type-crlf",
        "type-params",
        "type-no-slash",
        "path-in-name",
        "empty-name",
        "name-crlf",
        "name-bidi",
        "str-data",
        "no-data",
        "int",
        "missing-file",
        "dev-zero",
    ],
)
def test_bad_attachments_are_refused(acme, attachment, code):
    error = refused([attachment])
    assert (error.field, error.code) == ("attachments[0]", code)


def test_a_directory_is_not_an_attachment(acme, tmp_path):
    assert refused([tmp_path]).code == "attachment_unreadable"


def test_a_text_mode_file_is_refused(acme, tmp_path):
    (tmp_path / "a.txt").write_text("hola")
    with open(tmp_path / "a.txt") as handle:
        assert refused([("a.txt", handle)]).code == "invalid_attachment"


def test_count_limit(acme, settings):
    settings.EMISARIO_ATTACHMENT_MAX_COUNT = 2
    error = refused([("a", b"1"), ("b", b"2"), ("c", b"3")])
    assert (error.field, error.code, error.params["limit"]) == (
        "attachments",
        "too_many_attachments",
        2,
    )


def test_total_size_limit(acme, settings):
    settings.EMISARIO_ATTACHMENT_MAX_BYTES = 10
    error = refused([("a", b"123456"), ("b", b"123456")])
    assert (error.field, error.code, error.params["limit"]) == (
        "attachments[1]",
        "attachment_too_large",
        10,
    )
    assert Attachment.objects.count() == 0


def test_a_30_mb_file_is_refused_by_its_size_without_being_read(acme, tmp_path):
    big = tmp_path / "estado-grande.pdf"
    with open(big, "wb") as handle:
        handle.truncate(30 * MB)  # sparse: 30 MB long, nothing written
    tracemalloc.start()
    error = refused([big])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (error.code, error.params["limit"]) == ("attachment_too_large", 25 * MB)
    assert peak < 1 * MB
    stream = CountingStream(30 * MB)
    assert refused([("grande.pdf", stream)]).code == "attachment_too_large"
    assert stream.read_bytes == 0  # its size was known: not one byte read


def test_a_stream_of_unknown_size_is_cut_at_the_limit(acme, settings, attachment_root):
    settings.EMISARIO_ATTACHMENT_MAX_BYTES = 1 * MB
    stream = CountingStream(30 * MB, seekable=False)
    assert refused([("grande.pdf", stream)]).code == "attachment_too_large"
    assert stream.read_bytes <= 1 * MB + storage.CHUNK
    assert stored_files(attachment_root) == []
    assert list((attachment_root / "tmp").iterdir()) == []  # the partial copy is gone


def test_a_20_mb_file_is_hashed_and_stored_in_chunks(acme, tmp_path):
    big = tmp_path / "estado.pdf"
    with open(big, "wb") as handle:
        handle.write(b"%PDF-1.7\n")
        handle.truncate(20 * MB)
    tracemalloc.start()
    message = with_attachments([big])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * MB, f"peak {peak / MB:.1f} MB for a 20 MB file"
    blob = message.attachments.get().blob
    assert blob.size == 20 * MB
    digest = hashlib.sha256()
    tracemalloc.start()
    for chunk in blob.chunks():  # and read back the same way
        digest.update(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 * MB
    with open(big, "rb") as handle:
        assert digest.hexdigest() == hashlib.file_digest(handle, "sha256").hexdigest()


def test_a_file_object_is_read_from_its_position(acme):
    data = io.BytesIO(b"HEADERpdf-body")
    data.seek(6)
    message = with_attachments([("estado.pdf", data)])
    assert b"".join(message.attachments.get().blob.chunks()) == b"pdf-body"


def test_orphan_collection_keeps_files_in_use(acme, attachment_root):
    with_attachments([("a.pdf", b"kept")])
    (attachment_root / "tmp" / "incoming-crashed").write_bytes(b"partial")
    stray = attachment_root / "ab" / "cd" / ("abcd" + "0" * 60)
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"rolled back")
    assert storage.collect_orphans(older_than=timedelta(0)) == 2
    assert [p.read_bytes() for p in stored_files(attachment_root)] == [b"kept"]
