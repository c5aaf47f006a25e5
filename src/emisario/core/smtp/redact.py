"""Keeping credentials out of everything a test reports.

Redaction by meaning, not by one substring: a server may echo what it was sent (a password,
its base64 as AUTH PLAIN or LOGIN sent it) in a reply that spans several lines, so the secret
arrives split by a line break, indentation and the codes each reply line repeats
(``535-5.7.8 ...``). The reply's *content* is searched: codes and whitespace left out, lines
joined. Every base64-looking run of it is also decoded and checked for the password, so
neither a split nor an unexpected framing (``user\\0pass``) gets it through.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Any

from emisario.core.smtp.endpoint import SmtpEndpoint
from emisario.core.smtp.steps import Diagnosis

REDACTED = "********"
MIN_BASE64 = 8
_PREFIX = re.compile(r"^\s*(?:\d{3}[ -])?(?:[245]\.\d{1,3}\.\d{1,3}\s+)?")
"""What starts each line of a multi-line reply and is no part of its content: the reply code
and the RFC 3463 enhanced status code, both repeated on every line (RFC 5321 4.2.1)."""
_BASE64 = re.compile(rf"[A-Za-z0-9+/]{{{MIN_BASE64},}}={{0,2}}")


def secrets_for(endpoint: SmtpEndpoint, extra: Sequence[str] = ()) -> list[str]:
    """The password and the forms AUTH PLAIN and AUTH LOGIN put it on the wire (RFC 4616)."""
    secrets = [text for text in extra if text]
    if endpoint.password:
        password = endpoint.password.reveal()
        user = endpoint.auth_user
        secrets.append(password)
        for raw in (password, f"\0{user}\0{password}", f"{user}\0{user}\0{password}"):
            secrets.append(base64.b64encode(raw.encode("utf-8")).decode("ascii"))
    return sorted(set(secrets), key=len, reverse=True)


def _decodes_to_secret(run: str, plain: Sequence[str]) -> bool:
    """Does base64 ``run`` (at any of its four alignments) decode to text holding a secret?"""
    for offset in range(4):
        candidate = run[offset:].rstrip("=")
        if len(candidate) % 4 == 1:  # no base64 ends like that: drop the stray character
            candidate = candidate[:-1]
        if len(candidate) < MIN_BASE64:
            continue
        candidate += "=" * (-len(candidate) % 4)
        try:
            decoded = base64.b64decode(candidate, validate=True)
        except (binascii.Error, ValueError):
            continue
        text = "".join(decoded.decode("utf-8", errors="ignore").split())
        if any(secret in text for secret in plain):
            return True
    return False


Span = tuple[int, int, int]
"""(line, first column, column after the last) of a token in a reply."""


def _tokens(lines: list[str], *, strip_codes: bool) -> list[list[Span]]:
    """Each line's whitespace-separated tokens, its leading codes left out if asked."""
    result = []
    for number, line in enumerate(lines):
        match = _PREFIX.match(line)
        start = match.end() if strip_codes and match else 0
        result.append(
            [(number, m.start(), m.end()) for m in re.finditer(r"\S+", line) if m.start() >= start]
        )
    return result


def _spans_with(
    lines: list[str], tokens: list[list[Span]], forms: Sequence[str]
) -> set[tuple[int, int]]:
    """Columns of any of ``forms`` found in the content with all whitespace and line breaks
    removed (the content is built once, then searched for each form)."""
    where = [(n, c) for row in tokens for (n, a, b) in row for c in range(a, b)]
    compact = "".join(lines[n][c] for n, c in where)
    found: set[tuple[int, int]] = set()
    for form in forms:
        start = compact.find(form)
        while start != -1:
            found.update(where[start : start + len(form)])
            start = compact.find(form, start + 1)
    return found


def _joined_runs(tokens: list[list[Span]]) -> list[list[Span]]:
    """Token sequences a split base64 string could be: one token, or the last token of a line
    joined with the first of the next lines (as long as those lines hold only it)."""
    runs: list[list[Span]] = [[token] for row in tokens for token in row]
    for number, row in enumerate(tokens):
        if not row:
            continue
        run = [row[-1]]
        for following in tokens[number + 1 :]:
            if not following:
                break
            run = [*run, following[0]]
            runs.append(run)
            if len(following) > 1:
                break
    return runs


def redact_text(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret masked, however it is split over lines or framed."""
    forms = sorted({"".join(s.split()) for s in secrets if s and s.strip()}, key=len, reverse=True)
    if not text or not forms:
        return text
    lines = text.split("\n")
    masked: set[tuple[int, int]] = set()
    plain = [form for form in forms if len(form) >= 3]
    stripped = _tokens(lines, strip_codes=True)
    whole = _tokens(lines, strip_codes=False)
    # With codes kept and left out; one pass when no line starts with a code.
    views = [stripped] if stripped == whole else [stripped, whole]
    tried: set[tuple[Span, ...]] = set()
    for tokens in views:
        masked |= _spans_with(lines, tokens, forms)
        for run in _joined_runs(tokens):
            if tuple(run) in tried:
                continue
            tried.add(tuple(run))
            joined = "".join(lines[n][a:b] for n, a, b in run)
            if any(_decodes_to_secret(m.group(0), plain) for m in _BASE64.finditer(joined)):
                masked.update((n, c) for n, a, b in run for c in range(a, b))
    if not masked:
        return text
    for number in {n for n, _c in masked}:
        lines[number] = _mask_columns(lines[number], {c for n, c in masked if n == number})
    return "\n".join(lines)


def _mask_columns(line: str, columns: set[int]) -> str:
    """Replace each run of masked columns (whitespace inside a run included) by REDACTED."""
    out: list[str] = []
    column = 0
    while column < len(line):
        if column in columns:
            end = column
            while end + 1 < len(line) and (end + 1 in columns or line[end + 1].isspace()):
                end += 1
            while end > column and end not in columns:  # trailing whitespace stays
                end -= 1
            out.append(REDACTED)
            column = end + 1
        else:
            out.append(line[column])
            column += 1
    return "".join(out)


def redact_value(value: Any, secrets: Sequence[str]) -> Any:
    """Redact strings inside nested dicts and lists (step details)."""
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {key: redact_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item, secrets) for item in value]
    return value


def redact_diagnosis(diagnosis: Diagnosis, secrets: Sequence[str]) -> Diagnosis:
    for result in diagnosis.steps:
        result.reply_text = redact_text(result.reply_text, secrets)
        result.details = redact_value(result.details, secrets)
    return diagnosis
