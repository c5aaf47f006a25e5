"""The month-end sample: statement mails ``emisario send --batch`` accepts, each with a PDF of
its own that is a well-formed PDF of about the asked size, written fast and reproducibly."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import time

import pytest
from django.core.management import CommandError, call_command

from emisario.outbox.management.commands.send import BATCH_KEYS
from emisario.outbox.samples import STATEMENTS, write_statements


def read_lines(path):
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


def check_pdf(data: bytes) -> bytes:
    """Assert ``data`` is a PDF whose cross-reference table and stream length are exact
    (PDF 1.7 sections 7.5.4 and 7.3.8); return the page's content stream."""
    assert data.startswith(b"%PDF-1.4\n")
    assert data.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data)[1])
    assert data[startxref:].startswith(b"xref\n0 7\n")
    entries = data[startxref:].split(b"\n")[2:9]
    assert entries[0] == b"0000000000 65535 f "
    for number, entry in enumerate(entries[1:], start=1):
        assert len(entry) == 19 and entry.endswith(b" 00000 n "), entry  # 20 with the \n
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj\n" % number), (number, offset)
    match = re.search(rb"<< /Length (\d+) >>\nstream\n", data)
    start = match.end()
    length = int(match[1])
    assert data[start + length :].startswith(b"\nendstream\nendobj\n")
    assert b"/Contents 5 0 R" in data and b"/Root 1 0 R" in data
    return data[start : start + length]


def test_one_line_and_one_pdf_per_statement(tmp_path):
    path = write_statements(tmp_path, count=5, company="ACME", month="2025-03", domain="x.example")
    assert path == tmp_path / STATEMENTS
    lines = read_lines(path)
    assert len(lines) == 5
    for number, mail in enumerate(lines, start=1):
        assert set(mail) <= BATCH_KEYS
        assert mail["company"] == "ACME" and mail["type"] == "INTERNO"
        assert mail["to"] == f"cliente{number}@x.example"
        assert mail["idempotency_key"] == f"estado-2025-03-{number}"
        assert mail["subject"] == "Estado de cuenta marzo 2025"
        text, html = mail["text"], mail["html"]
        customer = re.search(r"<strong>([^<]+)</strong>:", html)[1]
        assert text.startswith("Estado de cuenta al 31 de marzo de 2025\n")
        assert f"Estimado(a) {customer}:" in text
        invoices = re.findall(r"^A-\d{7} .* \$[\d,]+\.\d\d +\$[\d,]+\.\d\d$", text, re.M)
        assert 8 <= len(invoices) <= 12
        assert html.count("<tr><td>A-") == len(invoices)
        assert "Saldo total" in text and "Saldo total" in html
        assert 2_500 <= len(text.encode()) + len(html.encode()) <= 4_500  # about 3 KB
        (attachment,) = mail["attachments"]
        assert attachment == f"pdf/estado-2025-03-{number:05d}.pdf"
        stream = check_pdf((tmp_path / attachment).read_bytes())
        assert b"cuenta %05d" % number in stream
        assert customer.encode("cp1252") in stream


@pytest.mark.parametrize(
    "size", [40_000, 5_000, 10_216, 100_697], ids=["default", "small", "length-4-to-5", "5-to-6"]
)
def test_each_pdf_is_well_formed_and_of_the_asked_size(tmp_path, size):
    write_statements(tmp_path, count=3, company="ACME", pdf_bytes=size, month="2025-03")
    for pdf in sorted((tmp_path / "pdf").iterdir()):
        data = pdf.read_bytes()
        check_pdf(data)
        # At a digit boundary of /Length the size cannot always be hit: one byte over.
        assert size <= len(data) <= size + 1


def test_a_size_below_the_minimum_gives_the_minimal_pdf(tmp_path):
    write_statements(tmp_path, count=1, company="ACME", pdf_bytes=0, month="2025-03")
    (pdf,) = (tmp_path / "pdf").iterdir()
    data = pdf.read_bytes()
    check_pdf(data)
    assert len(data) < 2_000


def test_statements_differ_and_a_seed_repeats_them(tmp_path):
    def run(folder, seed):
        path = write_statements(folder, count=40, company="ACME", seed=seed, month="2025-03")
        pdfs = sorted((folder / "pdf").iterdir())
        return path.read_bytes(), [hashlib.sha256(p.read_bytes()).hexdigest() for p in pdfs]

    first = run(tmp_path / "a", 1)
    assert len(set(first[1])) == 40  # each PDF is stored as a file of its own
    assert run(tmp_path / "b", 1) == first
    other = run(tmp_path / "c", 2)
    assert other[0] != first[0] and not set(other[1]) & set(first[1])


def test_ten_thousand_statements_take_seconds(tmp_path):
    started = time.monotonic()
    write_statements(tmp_path, count=10_000, company="ACME", month="2025-03")
    took = time.monotonic() - started
    try:
        assert len(list((tmp_path / "pdf").iterdir())) == 10_000
        assert sum(1 for _ in (tmp_path / STATEMENTS).open(encoding="utf-8")) == 10_000
        assert took < 30, f"10,000 statements took {took:.1f} s"
    finally:
        shutil.rmtree(tmp_path / "pdf")  # 400 MB: not kept among pytest's last runs


def test_the_month_is_checked(tmp_path):
    with pytest.raises(ValueError, match="month must be written YYYY-MM, not '2025-13'"):
        write_statements(tmp_path, count=1, company="ACME", month="2025-13")


def test_the_command_writes_them_and_says_how_to_queue_them(tmp_path):
    out = io.StringIO()
    folder = tmp_path / "marzo"
    call_command(
        "sample_statements", "--count", "3", "--company", "ACME", "--out", str(folder),
        "--month", "2025-03", "--pdf-bytes", "2000", "--domain", "Ejemplo.MX",
        stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert re.match(rf"^Wrote 3 statements and their PDFs to {re.escape(str(folder))} in ", text)
    assert f"  emisario send --batch {folder / STATEMENTS}\n" in text
    lines = read_lines(folder / STATEMENTS)
    assert [mail["to"] for mail in lines] == [f"cliente{n}@ejemplo.mx" for n in (1, 2, 3)]
    assert all(len((folder / mail["attachments"][0]).read_bytes()) == 2000 for mail in lines)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--count", "0"], "write a whole number from 1 to 1,000,000, not '0'"),
        (["--month", "2025-3"], "--month: month must be written YYYY-MM, not '2025-3'."),
        (
            ["--domain", "no es dominio"],
            "--domain 'no es dominio': write a domain name such as clientes.example.",
        ),
        (["--company", "A B"], "--company 'A B': write a company code such as ACME."),
        (["--out", "{tmp}/archivo"], "--out {tmp}/archivo: is a file, not a folder."),
    ],
    ids=["count-zero", "month", "domain", "company", "out-a-file"],
)
def test_the_command_refuses_bad_options(tmp_path, args, error):
    (tmp_path / "archivo").write_text("")
    args = [a.format(tmp=tmp_path) for a in args]
    defaults = {"--count": "2", "--company": "ACME", "--out": str(tmp_path / "salida")}
    for name, value in defaults.items():
        if name not in args:
            args += [name, value]
    with pytest.raises(CommandError) as raised:
        call_command("sample_statements", *args, stdout=io.StringIO())
    assert error.format(tmp=tmp_path) in str(raised.value)
    assert not (tmp_path / "salida" / STATEMENTS).exists()
