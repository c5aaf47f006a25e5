"""Sample month-end statements for the demo and the benchmarks: ``statements.jsonl``, the file
``emisario send --batch`` reads, and one PDF per statement under ``pdf/`` (named relative to
the JSONL file, as an ERP export would).

Every PDF is distinct (its customer, number and amounts), so the outbox stores each as a file
of its own, as on a real month-end run. A padding block made once per call brings each to the
requested size in the content stream, so 10,000 files cost seconds, not a random byte each.
Everything follows from ``seed``: the same call writes the same bytes.
"""

from __future__ import annotations

import calendar
import json
import random
import re
from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path

from emisario.core.accounts import DEFAULT_TYPE

STATEMENTS = "statements.jsonl"
PDF_FOLDER = "pdf"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)
FIRST_NAMES = (
    "María",
    "José",
    "Guadalupe",
    "Juan",
    "Ana",
    "Luis",
    "Rosa",
    "Carlos",
    "Fernanda",
    "Jorge",
    "Sofía",
    "Miguel",
    "Lucía",
    "Héctor",
    "Valeria",
    "Ricardo",
    "Paola",
    "Arturo",
    "Daniela",
    "Raúl",
    "Beatriz",
    "Sergio",
    "Mónica",
    "Alejandro",
)
SURNAMES = (
    "Hernández",
    "García",
    "Martínez",
    "López",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Cruz",
    "Flores",
    "Gómez",
    "Morales",
    "Vázquez",
    "Reyes",
    "Jiménez",
    "Torres",
    "Díaz",
    "Gutiérrez",
    "Ruiz",
    "Mendoza",
    "Aguilar",
    "Ortiz",
    "Núñez",
)
TRADES = (
    "Abarrotes",
    "Ferretería",
    "Papelería",
    "Farmacia",
    "Refaccionaria",
    "Distribuidora",
    "Comercializadora",
    "Materiales",
    "Tlapalería",
    "Mueblería",
)


@dataclass
class _Invoice:
    folio: str
    issued: date
    due: date
    amount: int  # centavos
    paid: int


@dataclass
class _Statement:
    number: int
    customer: str
    invoices: list[_Invoice]

    @property
    def balance(self) -> int:
        return sum(i.amount - i.paid for i in self.invoices)


def write_statements(
    directory: Path,
    *,
    count: int,
    company: str,
    domain: str = "clientes.example",
    pdf_bytes: int = 40_000,
    seed: int = 0,
    month: str | None = None,
) -> Path:
    """Write ``count`` statement mails (customer ``n`` at ``cliente{n}@{domain}``) and their
    PDFs into ``directory``; return the JSONL file's path. ``month`` (``YYYY-MM``, default
    this month) names the period and the idempotency keys ``estado-<month>-<n>``: the same
    month sent twice queues nothing new."""
    if count < 0:
        raise ValueError("count must be 0 or more")
    period = month or date.today().strftime("%Y-%m")
    matched = _MONTH.match(period)
    if matched is None:
        raise ValueError(f"month must be written YYYY-MM, not {period!r}")
    year, month_number = int(matched[1]), int(matched[2])
    rng = random.Random(seed)  # noqa: S311 - sample data, reproducible on purpose
    folder = Path(directory) / PDF_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    padding = _padding(rng, pdf_bytes)
    target = Path(directory) / STATEMENTS
    with target.open("w", encoding="utf-8") as out:
        for number in range(1, count + 1):
            statement = _statement(rng, number, year, month_number)
            name = f"estado-{period}-{number:05d}.pdf"
            (folder / name).write_bytes(_pdf(statement, period, padding, pdf_bytes))
            line = {
                "company": company,
                "type": DEFAULT_TYPE,
                "to": f"cliente{number}@{domain}",
                "subject": f"Estado de cuenta {MONTHS[month_number - 1]} {year}",
                "text": _text(statement, year, month_number),
                "html": _html(statement, year, month_number),
                "attachments": [f"{PDF_FOLDER}/{name}"],
                "headers": {"X-Cliente": f"{number:05d}"},
                "idempotency_key": f"estado-{period}-{number}",
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return target


def _statement(rng: random.Random, number: int, year: int, month: int) -> _Statement:
    last_day = calendar.monthrange(year, month)[1]
    person = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
    customer = f"{rng.choice(TRADES)} {person}" if rng.random() < 0.4 else person
    invoices = []
    for position in range(rng.randint(8, 12)):
        issued = date(year, month, rng.randint(1, last_day))
        amount = rng.randint(35_000, 4_800_000)
        paid = rng.choice((0, 0, amount // 2, amount))
        folio = f"A-{number:05d}{position:02d}"
        invoices.append(_Invoice(folio, issued, _plus_days(issued, 30), amount, paid))
    invoices.sort(key=lambda i: (i.issued, i.folio))
    return _Statement(number, customer, invoices)


def _plus_days(day: date, days: int) -> date:
    return date.fromordinal(day.toordinal() + days)


def _money(centavos: int) -> str:
    return f"${centavos / 100:,.2f}"


def _cut_off(year: int, month: int) -> str:
    return f"{calendar.monthrange(year, month)[1]} de {MONTHS[month - 1]} de {year}"


def _text(statement: _Statement, year: int, month: int) -> str:
    rows = "\n".join(
        f"{i.folio:<10} {i.issued:%d/%m/%Y}  {i.due:%d/%m/%Y}  "
        f"{_money(i.amount):>14} {_money(i.amount - i.paid):>14}"
        for i in statement.invoices
    )
    return (
        f"Estado de cuenta al {_cut_off(year, month)}\n\n"
        f"Estimado(a) {statement.customer}:\n\n"
        f"Le enviamos el estado de cuenta de su cuenta número {statement.number:05d}. "
        "Adjuntamos el PDF con el detalle de sus facturas, pagos y notas de crédito del "
        "periodo.\n\n"
        f"{'Folio':<10} {'Fecha':<10}  {'Vence':<10}  {'Importe':>14} {'Saldo':>14}\n"
        f"{rows}\n\n"
        f"Saldo total: {_money(statement.balance)}\n\n"
        "Si ya realizó su pago, le agradecemos que nos envíe el comprobante respondiendo a este "
        "correo para aplicarlo a su cuenta. Para cualquier aclaración, comuníquese con el "
        "departamento de Cuentas por Cobrar.\n\n"
        "Atentamente,\nCuentas por Cobrar\n"
    )


def _html(statement: _Statement, year: int, month: int) -> str:
    rows = "".join(
        f"<tr><td>{i.folio}</td><td>{i.issued:%d/%m/%Y}</td><td>{i.due:%d/%m/%Y}</td>"
        f'<td align="right">{_money(i.amount)}</td>'
        f'<td align="right">{_money(i.amount - i.paid)}</td></tr>\n'
        for i in statement.invoices
    )
    return (
        '<!DOCTYPE html>\n<html lang="es"><body style="font-family:Arial,sans-serif">\n'
        f"<h2>Estado de cuenta al {_cut_off(year, month)}</h2>\n"
        f"<p>Estimado(a) <strong>{escape(statement.customer)}</strong>:</p>\n"
        f"<p>Le enviamos el estado de cuenta de su cuenta número {statement.number:05d}. "
        "Adjuntamos el PDF con el detalle del periodo.</p>\n"
        '<table border="1" cellpadding="4" cellspacing="0">\n'
        "<tr><th>Folio</th><th>Fecha</th><th>Vence</th><th>Importe</th><th>Saldo</th></tr>\n"
        f"{rows}"
        f'<tr><td colspan="4"><strong>Saldo total</strong></td>'
        f'<td align="right"><strong>{_money(statement.balance)}</strong></td></tr>\n'
        "</table>\n"
        "<p>Si ya realizó su pago, envíenos el comprobante respondiendo a este correo.</p>\n"
        "<p>Atentamente,<br>Cuentas por Cobrar</p>\n</body></html>\n"
    )


# --- PDF ------------------------------------------------------------------------------------


def _padding(rng: random.Random, size: int) -> bytes:
    """Comment lines for a content stream (``%`` to the end of the line, PDF 1.7 section
    7.2.4), at least ``size`` bytes: stands in for the logos and fonts of a real statement."""
    line_count = size // 80 + 1
    block = rng.randbytes(38 * line_count).hex().encode("ascii")
    return b"".join(b"% " + block[n * 76 : n * 76 + 76] + b"\n" for n in range(line_count))


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")  # WinAnsiEncoding, accents included
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _pdf(statement: _Statement, period: str, padding: bytes, size: int) -> bytes:
    lines = [
        f"Estado de cuenta {period} - cuenta {statement.number:05d}",
        statement.customer,
        "",
        *(
            f"{i.folio}   {i.issued:%d/%m/%Y}   vence {i.due:%d/%m/%Y}   "
            f"{_money(i.amount)}   saldo {_money(i.amount - i.paid)}"
            for i in statement.invoices
        ),
        "",
        f"Saldo total: {_money(statement.balance)}",
    ]
    drawing = b"BT /F1 10 Tf 14 TL 50 760 Td\n" + b"".join(_pdf_text(t) + b" '\n" for t in lines)
    drawing += b"ET\n"
    document = _pdf_document(drawing, b"", statement.number)
    fill = size - len(document)
    # Two or three rounds: the padding changes the digits of /Length. At a digit boundary
    # (9,999 to 10,000 bytes of stream) the size may stay one byte off.
    for _ in range(3):
        if fill <= 0:
            break
        document = _pdf_document(drawing, padding[: fill - 1] + b"\n", statement.number)
        if len(document) == size:
            break
        fill -= len(document) - size
    return document


def _pdf_document(drawing: bytes, fill: bytes, number: int) -> bytes:
    """A one-page PDF 1.4 with an exact cross-reference table (PDF 1.7 section 7.5.4)."""
    stream = drawing + fill
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Title (Estado de cuenta %05d) /Producer (Emisario samples) >>" % number,
    ]
    parts = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]
    offsets = []
    position = len(parts[0])
    for n, body in enumerate(objects, start=1):
        chunk = b"%d 0 obj\n%s\nendobj\n" % (n, body)
        offsets.append(position)
        parts.append(chunk)
        position += len(chunk)
    xref = [b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)]
    xref += [b"%010d 00000 n \n" % offset for offset in offsets]
    parts += xref
    parts.append(
        b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, position)
    )
    return b"".join(parts)
