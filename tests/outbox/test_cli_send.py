"""``emisario send``: one message from options and stdin, or a JSON Lines file queued all or
nothing, each refusal named by its option or by ``FILE:LINE``; and the same command run as a
real process on a SQLite file database."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from emisario.outbox.models import MessageAttachment, OutboundMessage, Recipient
from emisario.outbox.samples import write_statements
from emisario.outbox.services import enqueue
from tests.outbox.conftest import stored_files

pytestmark = pytest.mark.django_db

QUEUED = re.compile(r"^Queued message (\d+), Message-ID (<[^>]+>)$")
SUMMARY = re.compile(
    r"^Queued (\d+) new message\(s\) from (.+) in \d+\.\d s; "
    r"(\d+) line\(s\) named a message queued earlier \(same idempotency key\)\.$"
)
BAD_ADDRESS = "Write a valid e-mail address, such as cobranza@empresa.com."
EMISARIO = Path(sys.executable).with_name("emisario")


class Result:
    def __init__(self, out: str, err: str, error: str | None):
        self.out, self.err, self.error = out, err, error


def send(*args: str, stdin: str | io.IOBase = "") -> Result:
    """``emisario send ARGS`` in this process; a CommandError is returned, not raised."""
    out, err = io.StringIO(), io.StringIO()
    stream = io.StringIO(stdin) if isinstance(stdin, str) else stdin
    try:
        call_command("send", *args, stdin=stream, stdout=out, stderr=err)
    except CommandError as exc:
        return Result(out.getvalue(), err.getvalue(), str(exc))
    return Result(out.getvalue(), err.getvalue(), None)


def sent(result: Result) -> OutboundMessage:
    assert result.error is None, result.error
    match = QUEUED.match(result.out.strip())
    assert match, result.out
    message = OutboundMessage.objects.get(pk=int(match[1]))
    assert message.message_id == match[2]
    return message


def recipients(message: OutboundMessage) -> list[tuple[str, str]]:
    return list(message.recipients.order_by("position").values_list("kind", "address"))


def line(**fields) -> dict:
    values = {
        "company": "ACME",
        "to": "cliente@example.com",
        "subject": "Estado de cuenta",
        "text": "Adjuntamos su estado de cuenta.",
    }
    values.update(fields)
    return values


def jsonl(path: Path, lines: list) -> Path:
    """Write ``lines`` (dicts as JSON, str and bytes as given, None as a blank line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for entry in lines:
            if entry is None:
                data = b""
            elif isinstance(entry, bytes):
                data = entry
            elif isinstance(entry, str):
                data = entry.encode()
            else:
                data = json.dumps(entry, ensure_ascii=False).encode()
            out.write(data + b"\n")
    return path


def nothing_queued() -> bool:
    return not OutboundMessage.objects.exists() and not Recipient.objects.exists()


# --- one message ----------------------------------------------------------------------------


def test_one_message_takes_its_text_from_stdin(acme_account):
    result = send(
        "--company", "ACME", "--to", "cliente@example.com", "--subject", "Estado de cuenta",
        stdin="Adjuntamos su estado de cuenta.\n",
    )  # fmt: skip
    message = sent(result)
    assert message.message_id.endswith("@acme.example>")
    assert message.company.code == "ACME" and message.account_type.code == "INTERNO"
    assert (message.subject, message.text_body, message.html_body) == (
        "Estado de cuenta",
        "Adjuntamos su estado de cuenta.\n",
        "",
    )
    assert recipients(message) == [("to", "cliente@example.com")]
    assert message.idempotency_key is None


def test_text_file_dash_reads_stdin_beside_an_html_file(acme, tmp_path):
    (tmp_path / "cuerpo.html").write_text("<p>Estado de cuenta de <b>marzo</b></p>")
    result = send(
        "--company", "ACME", "--to", "cliente@example.com", "--subject", "Estado",
        "--text-file", "-", "--html-file", str(tmp_path / "cuerpo.html"),
        stdin="Texto desde stdin",
    )  # fmt: skip
    message = sent(result)
    assert message.text_body == "Texto desde stdin"
    assert message.html_body == "<p>Estado de cuenta de <b>marzo</b></p>"


def test_every_option_reaches_the_message(acme, tmp_path):
    (tmp_path / "cuerpo.txt").write_bytes("\ufeffSaldo: $1,234.00 — gracias".encode())
    pdf = tmp_path / "estado-0042.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    xml = tmp_path / "factura.xml"
    xml.write_bytes(b"<cfdi/>")
    result = send(
        "--company", "ACME", "--type", "INTERNO",
        "--to", "uno@example.com", "--to", "dos@example.com",
        "--cc", "copia@example.com", "--bcc", "oculta@example.com",
        "--reply-to", "cobranza@acme.example", "--from", "estados@acme.example",
        "--subject", "Estado de cuenta marzo",
        "--text-file", str(tmp_path / "cuerpo.txt"),
        "--attach", str(pdf), "--attach", str(xml),
        "--header", "X-Invoice: F-1001", "--header", "X-Cliente:00042",
        "--idempotency-key", "estado-2025-03-42",
    )  # fmt: skip
    message = sent(result)
    assert message.text_body == "Saldo: $1,234.00 — gracias"  # the BOM is not the text's
    assert recipients(message) == [
        ("to", "uno@example.com"),
        ("to", "dos@example.com"),
        ("cc", "copia@example.com"),
        ("bcc", "oculta@example.com"),
    ]
    assert (message.reply_to, message.from_address) == (
        "cobranza@acme.example",
        "estados@acme.example",
    )
    assert message.message_id.endswith("@acme.example>")
    assert message.headers == [["X-Invoice", "F-1001"], ["X-Cliente", "00042"]]
    assert message.idempotency_key == "estado-2025-03-42"
    uses = list(message.attachments.order_by("position"))
    assert [(u.filename, u.content_type) for u in uses] == [
        ("estado-0042.pdf", "application/pdf"),
        ("factura.xml", "application/xml"),
    ]
    assert b"".join(uses[0].blob.chunks()) == pdf.read_bytes()
    assert uses[0].blob.sha256 == hashlib.sha256(pdf.read_bytes()).hexdigest()


class TerminalStdin(io.StringIO):
    """A terminal: ``send`` must not wait for a body typed there."""

    def isatty(self) -> bool:
        return True

    def read(self, *args):
        raise AssertionError("stdin was read although it is a terminal")


def test_a_terminal_stdin_is_not_read(acme):
    result = send(
        "--company", "ACME", "--to", "cliente@example.com", "--subject", "Sin cuerpo",
        stdin=TerminalStdin(),
    )  # fmt: skip
    assert result.error == "--text-file: The message needs a text or an HTML body."
    assert nothing_queued()


def test_the_same_idempotency_key_returns_the_first_message(acme):
    common = ("--company", "ACME", "--to", "cliente@example.com")
    key = ("--idempotency-key", "estado-2025-03-7")
    first = sent(send(*common, "--subject", "Primero", *key, stdin="uno"))
    again = send(*common, "--subject", "Segundo", *key, stdin="dos")
    assert again.error is None
    assert again.out.strip() == (
        f"Message {first.pk}, Message-ID {first.message_id}, was queued earlier with "
        "idempotency key 'estado-2025-03-7': nothing new was queued."
    )
    assert list(OutboundMessage.objects.values_list("subject", "text_body")) == [("Primero", "uno")]
    other = sent(send(*common, "--subject", "Otro", "--idempotency-key", "otra", stdin="x"))
    assert other.pk != first.pk


def test_an_unknown_company_is_named(db):
    result = send("--company", "NOPE", "--to", "a@example.com", "--subject", "x", stdin="x")
    assert result.error == "--company NOPE: There is no company with that code."
    assert nothing_queued()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["--text-file", "{tmp}/falta.txt"],
            "--text-file {tmp}/falta.txt: there is no such file",
        ),
        (["--text-file", "{tmp}"], "--text-file {tmp}: is a folder, not a file"),
        (
            ["--text-file", "{tmp}/latin1.txt"],
            "--text-file {tmp}/latin1.txt: is not UTF-8 text (byte 4)",
        ),
        (["--attach", "{tmp}/falta.pdf"], "--attach {tmp}/falta.pdf: there is no such file"),
        (["--attach", "{tmp}"], "--attach {tmp}: is a folder, not a file"),
        (["--attach", "/dev/zero"], "--attach /dev/zero: is not a regular file"),
        (
            ["--header", "X-Invoice F-1001"],
            "--header 'X-Invoice F-1001': write it as 'Name: value', for example "
            "--header 'X-Invoice: F-1001'.",
        ),
        (
            ["--header", "Bcc: espia@example.com"],
            "--header Bcc: The header Bcc is written by Emisario and cannot be set.",
        ),
        (["--to", "no es correo"], f"--to 'no es correo': {BAD_ADDRESS}"),
        (["--cc", "ok@example.com", "--cc", "mal@"], f"--cc mal@: {BAD_ADDRESS}"),
        (["--reply-to", "mal"], f"--reply-to mal: {BAD_ADDRESS}"),
        (["--type", "VIP"], "--type VIP: There is no account type with that code."),
        (
            ["--idempotency-key", " "],
            "--idempotency-key ' ': The idempotency key is 1 to 255 "
            "characters without control characters.",
        ),
        (
            ["--chunk-size", "10"],
            "--chunk-size, --progress and --no-progress only apply to --batch.",
        ),
        (
            ["--batch", "{tmp}/lote.jsonl"],
            "--batch takes every field from the file: leave out --company, --to, --subject.",
        ),
    ],
    ids=[
        "text-missing",
        "text-folder",
        "text-not-utf8",
        "attach-missing",
        "attach-folder",
        "attach-device",
        "header-no-colon",
        "header-reserved",
        "bad-to",
        "bad-second-cc",
        "bad-reply-to",
        "unknown-type",
        "blank-key",
        "chunk-size-alone",
        "batch-and-options",
    ],
)
def test_bad_options_are_named_and_nothing_is_queued(acme, tmp_path, args, error):
    (tmp_path / "latin1.txt").write_bytes(b"Caf\xe9")  # ISO 8859-1, not UTF-8
    args = [a.format(tmp=tmp_path) for a in args]
    base = ["--company", "ACME", "--to", "cliente@example.com", "--subject", "Estado"]
    result = send(*base, *args, stdin="cuerpo")
    assert result.error == error.format(tmp=tmp_path)
    assert nothing_queued()


def test_company_is_required_without_a_batch(db):
    result = send("--to", "a@example.com", "--subject", "x", stdin="x")
    assert result.error == (
        "--company is required: the code of the company that sends (or give a file with --batch)."
    )


def test_a_body_over_the_limit_is_refused_without_reading_it_all(acme, settings):
    settings.EMISARIO_OUTBOX_MAX_BODY_BYTES = 100

    class Endless(io.BytesIO):
        def read(self, size=-1):
            assert size == 101, "an unbounded read of stdin"
            return b"x" * size

    class Stdin(io.StringIO):
        buffer = Endless()

    result = send("--company", "ACME", "--to", "a@example.com", "--subject", "x", stdin=Stdin())
    assert result.error == "stdin: The body is larger than 100 bytes."
    assert nothing_queued()


# --- a batch file ---------------------------------------------------------------------------


def test_a_batch_queues_every_line_with_attachments_beside_the_file(
    acme_account, tmp_path, monkeypatch
):
    folder = tmp_path / "lote"
    (folder / "pdf").mkdir(parents=True)
    (folder / "pdf" / "estado-1.pdf").write_bytes(b"%PDF-1.4 uno")
    elsewhere = tmp_path / "anexo.pdf"
    elsewhere.write_bytes(b"%PDF-1.4 dos")
    jsonl(
        folder / "marzo.jsonl",
        [
            line(to="uno@example.com", attachments=["pdf/estado-1.pdf"]),
            None,
            line(
                type="INTERNO",
                to=["dos@example.com", "tres@example.com"],
                cc="copia@example.com",
                bcc=["oculta@example.com"],
                reply_to="cobranza@acme.example",
                html="<p>Hola</p>",
                attachments=[str(elsewhere), "pdf/estado-1.pdf"],
                headers={"X-Cliente": "00002"},
                idempotency_key="estado-2025-03-2",
                **{"from": "estados@acme.example"},
            ),
            "   ",
            line(subject="Tercero", text=None, html="<p>solo HTML</p>"),
        ],
    )
    # Relative paths are the file's folder's, not the working directory's.
    monkeypatch.chdir(tmp_path)
    result = send("--batch", "lote/marzo.jsonl")
    assert result.error is None, result.err
    match = SUMMARY.match(result.out.strip())
    assert match, result.out
    assert (match[1], match[2], match[3]) == ("3", "lote/marzo.jsonl", "0")
    first, second, third = OutboundMessage.objects.order_by("pk")
    assert recipients(first) == [("to", "uno@example.com")]
    assert recipients(second) == [
        ("to", "dos@example.com"),
        ("to", "tres@example.com"),
        ("cc", "copia@example.com"),
        ("bcc", "oculta@example.com"),
    ]
    assert (second.from_address, second.reply_to, second.html_body) == (
        "estados@acme.example",
        "cobranza@acme.example",
        "<p>Hola</p>",
    )
    assert second.headers == [["X-Cliente", "00002"]]
    assert second.idempotency_key == "estado-2025-03-2"
    assert (third.subject, third.text_body, third.html_body) == ("Tercero", "", "<p>solo HTML</p>")
    contents = [
        (use.message_id, use.filename, b"".join(use.blob.chunks()))
        for use in MessageAttachment.objects.order_by("message_id", "position")
    ]
    assert contents == [
        (first.pk, "estado-1.pdf", b"%PDF-1.4 uno"),
        (second.pk, "anexo.pdf", b"%PDF-1.4 dos"),
        (second.pk, "estado-1.pdf", b"%PDF-1.4 uno"),
    ]


def test_a_batch_counts_lines_that_named_an_earlier_message(acme, tmp_path):
    earlier = enqueue(
        company="ACME", to="a@example.com", subject="x", text="x", idempotency_key="estado-1"
    )
    path = jsonl(
        tmp_path / "lote.jsonl",
        [
            line(idempotency_key="estado-1", subject="ignorado"),
            line(idempotency_key="estado-2"),
            line(idempotency_key="estado-2", subject="repetido en el archivo"),
            line(),
        ],
    )
    result = send("--batch", str(path))
    match = SUMMARY.match(result.out.strip())
    assert match, (result.out, result.error)
    assert (match[1], match[3]) == ("2", "2")
    assert OutboundMessage.objects.count() == 3
    assert OutboundMessage.objects.get(pk=earlier.pk).subject == "x"
    assert OutboundMessage.objects.filter(idempotency_key="estado-2").get().subject == (
        "Estado de cuenta"
    )


BAD_LINES = [
    ('{"company": "ACME", "to": ', "invalid JSON: Expecting value (column 27)"),
    ('["cliente@example.com"]', "each line must be a JSON object {...}, this one is a list"),
    ("42", "each line must be a JSON object {...}, this one is a number"),
    (
        line(asunto="Estado"),
        "asunto: unknown key (the keys are attachments, bcc, cc, company, from, headers, "
        "html, idempotency_key, reply_to, subject, text, to, type)",
    ),
    (
        '{"company": "ACME", "to": "a@example.com", "to": "b@example.com", "subject": "x", '
        '"text": "x"}',
        "to: the key is given twice",
    ),
    (line(to=42), "to: must be an address or a list of addresses"),
    (line(cc=["a@example.com", 7]), "cc: must be an address or a list of addresses"),
    (line(subject=["Estado"]), "subject: must be text (a JSON string)"),
    (line(company=7), "company: must be a company code (a JSON string)"),
    (line(attachments="pdf/estado.pdf"), "attachments: must be a list of file paths"),
    (line(headers=["X-A: b"]), 'headers: must be an object such as {"X-Invoice": "F-1001"}'),
    (line(headers={"X-A": 1}), "headers.X-A: must be text (a JSON string)"),
    (line(company=None), "company: This field is required."),
    (line(company="NOPE"), "company: There is no company with that code."),
    (line(type="VIP"), "type: There is no account type with that code."),
    (line(to="no es correo"), f"to[0]: {BAD_ADDRESS}"),
    (line(to=[], cc=["a@example.com", "mal@"]), f"cc[1]: {BAD_ADDRESS}"),
    (line(**{"from": "mal"}), f"from: {BAD_ADDRESS}"),
    (line(to=[]), "to: The message needs at least one recipient (To, Cc or Bcc)."),
    (line(text=None), "text: The message needs a text or an HTML body."),
    (
        line(headers={"Subject": "otro"}),
        "headers.Subject: The header Subject is written by Emisario and cannot be set.",
    ),
    (line(attachments=["falta.pdf"]), "attachments[0]: falta.pdf: there is no such file"),
    (line(attachments=["pdf"]), "attachments[0]: pdf: is a folder, not a file"),
    (
        '{"company": "ACME", "subject": "a\xf1o"}'.encode("latin-1"),
        "is not UTF-8 text (byte 34 of the line)",
    ),
]


@pytest.mark.parametrize(
    ("bad", "error"),
    BAD_LINES,
    ids=[
        "invalid-json",
        "a-list",
        "a-number",
        "unknown-key",
        "duplicate-key",
        "to-a-number",
        "cc-with-a-number",
        "subject-a-list",
        "company-a-number",
        "attachments-a-string",
        "headers-a-list",
        "header-value-a-number",
        "company-missing",
        "company-unknown",
        "type-unknown",
        "bad-to",
        "bad-second-cc",
        "bad-from",
        "no-recipient",
        "no-body",
        "reserved-header",
        "attachment-missing",
        "attachment-a-folder",
        "not-utf8",
    ],
)
def test_a_bad_line_is_reported_by_its_number_and_nothing_is_queued(
    acme, tmp_path, attachment_root, bad, error
):
    (tmp_path / "pdf").mkdir()
    (tmp_path / "pdf" / "estado.pdf").write_bytes(b"%PDF-1.4")
    good = line(attachments=["pdf/estado.pdf"])
    path = jsonl(tmp_path / "lote.jsonl", [good, None, good, bad, good])
    result = send("--batch", str(path), "--chunk-size", "2")
    assert result.err.splitlines() == [f"{path}:4: {error}"]
    assert result.error == (
        f"{path}: 1 bad line(s); nothing was queued. Fix them and run the same command again."
    )
    assert result.out == ""
    assert nothing_queued()
    assert not MessageAttachment.objects.exists()


def test_an_error_after_chunks_were_written_rolls_them_back_and_checking_goes_on(acme, tmp_path):
    lines = [line(to=f"cliente{n}@example.com") for n in range(1, 8)]
    lines += [line(to="mal@"), line(), "{no es json", line(subject=3)]
    path = jsonl(tmp_path / "lote.jsonl", lines)
    result = send("--batch", str(path), "--chunk-size", "2")
    assert result.err.splitlines() == [
        f"{path}:8: to[0]: {BAD_ADDRESS}",
        f"{path}:10: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{path}:11: subject: must be text (a JSON string)",
    ]
    assert result.error.startswith(f"{path}: 3 bad line(s); nothing was queued.")
    assert nothing_queued()


def test_after_the_first_bad_line_nothing_more_is_rendered_or_stored(
    acme, tmp_path, attachment_root
):
    (tmp_path / "estado.pdf").write_bytes(b"%PDF-1.4 distinto")
    lines = ["[]"] + [line(attachments=["estado.pdf"], text=f"n.º {n}") for n in range(3)]
    # Chunks of one: a line handed to intake after the error would be written at once.
    result = send("--batch", str(jsonl(tmp_path / "lote.jsonl", lines)), "--chunk-size", "1")
    assert result.err.splitlines() == [
        f"{tmp_path / 'lote.jsonl'}:1: each line must be a JSON object {{...}}, this one is a list"
    ]
    assert stored_files(attachment_root) == []
    assert nothing_queued()


def test_reporting_stops_after_twenty_bad_lines(acme, tmp_path):
    path = jsonl(tmp_path / "lote.jsonl", [line(to=5)] * 30)
    result = send("--batch", str(path))
    errors = result.err.splitlines()
    assert errors == [
        f"{path}:{n}: to: must be an address or a list of addresses" for n in range(1, 21)
    ]
    assert result.error.startswith(
        f"{path}: 20 bad line(s) (stopped reading after 20); nothing was queued."
    )


@pytest.mark.parametrize(
    ("flags", "shown"),
    [(["--progress"], True), (["--no-progress"], False), ([], False)],
    ids=["forced", "hidden", "not-a-tty"],
)
def test_the_progress_bar_goes_to_stderr_when_asked(acme, tmp_path, flags, shown):
    path = jsonl(tmp_path / "lote.jsonl", [line(), None, line(), line()])
    result = send("--batch", str(path), *flags)
    assert SUMMARY.match(result.out.strip()), (result.out, result.error)
    if shown:
        assert "Queuing" in result.err
        assert "4/4" in result.err.rsplit("\r", 1)[-1]  # the last redraw: every line read
        assert "100%" in result.err
    else:
        assert result.err == ""
    assert OutboundMessage.objects.count() == 3


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("falta.jsonl", "--batch {tmp}/falta.jsonl: there is no such file"),
        ("", "--batch {tmp}: is a folder, not a file"),
    ],
    ids=["missing", "folder"],
)
def test_the_batch_file_is_checked(db, tmp_path, name, error):
    target = tmp_path / name if name else tmp_path
    assert send("--batch", str(target)).error == error.format(tmp=tmp_path)


def test_a_thousand_statements_queue_in_one_run_and_not_twice(acme_account, tmp_path):
    path = write_statements(tmp_path, count=1000, company="ACME", pdf_bytes=1200, month="2025-03")
    result = send("--batch", str(path), "--no-progress")
    match = SUMMARY.match(result.out.strip())
    assert match, (result.out, result.err, result.error)
    assert (match[1], match[3]) == ("1000", "0")
    assert OutboundMessage.objects.count() == 1000
    assert set(Recipient.objects.values_list("address", flat=True)) == {
        f"cliente{n}@clientes.example" for n in range(1, 1001)
    }
    assert MessageAttachment.objects.values("blob").distinct().count() == 1000
    assert OutboundMessage.objects.filter(idempotency_key="estado-2025-03-1000").exists()

    again = send("--batch", str(path), "--no-progress")
    match = SUMMARY.match(again.out.strip())
    assert match, again.out
    assert (match[1], match[3]) == ("0", "1000")
    assert OutboundMessage.objects.count() == 1000


# --- a real process on a SQLite file ----------------------------------------------------------


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The environment of an installation: default settings, its own home and database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EMISARIO_", "DJANGO_", "DATABASE_URL", "PYTEST_"))
    }
    env.update(
        EMISARIO_HOME=str(tmp_path / "home"),
        DATABASE_URL=database_url,
        EMISARIO_SECRET_KEYS=",".join(settings.EMISARIO_SECRET_KEYS),
    )
    return env


def _emisario(env, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EMISARIO), *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_emisario_send_as_a_real_process_on_a_sqlite_file(tmp_path, sqlite_url):
    env = _env(tmp_path, sqlite_url)
    database = sqlite_url.removeprefix("sqlite:///")
    steps = [
        _emisario(env, "migrate", "--no-input"),
        _emisario(
            env,
            "shell",
            "-c",
            "from emisario.accounts.models import Company; "
            "Company.objects.create(code='ACME', name='Acme S.A.')",
        ),
    ]
    for step in steps:
        assert step.returncode == 0, step.stdout + step.stderr

    path = write_statements(tmp_path / "marzo", count=25, company="ACME", pdf_bytes=1500)
    batch = _emisario(env, "send", "--batch", str(path), "--progress")
    assert batch.returncode == 0, batch.stderr
    match = SUMMARY.match(batch.stdout.strip())
    assert match and (match[1], match[3]) == ("25", "0"), batch.stdout
    assert "25/25" in batch.stderr

    bad = jsonl(tmp_path / "malo.jsonl", [line(), line(to="sin-arroba"), line()])
    refused = _emisario(env, "send", "--batch", str(bad))
    assert refused.returncode == 1
    assert f"{bad}:2: to[0]: {BAD_ADDRESS}" in refused.stderr.splitlines()
    assert f"CommandError: {bad}: 1 bad line(s); nothing was queued." in refused.stderr

    one = _emisario(
        env, "send", "--company", "ACME", "--to", "cliente@example.com", "--subject", "Aviso",
        stdin="Texto leído de stdin\n",
    )  # fmt: skip
    assert one.returncode == 0, one.stderr
    queued = QUEUED.match(one.stdout.strip())
    assert queued, one.stdout

    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT id, subject, text_body FROM outbox_outboundmessage ORDER BY id"
        ).fetchall()
    assert len(rows) == 26  # the 25 statements and the single message, none of the bad file
    assert rows[-1] == (int(queued[1]), "Aviso", "Texto leído de stdin\n")
