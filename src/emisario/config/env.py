"""The environment, read into typed settings in one place, without ever raising.

A malformed value used to raise while Django imported the settings module
(``float("10s")``), so the administrator got a traceback instead of a sentence. Each reader here
returns a value of the type the setting always had: the parsed value, or the default when the
text is malformed, and then it records a :class:`Problem` naming the variable, what it holds,
what was expected and how to fix it. The system check ``emisario.E010``
(``emisario.accounts.checks``) reports every problem as an Error, so ``emisario check``,
``runserver`` and the production start (``check --deploy``) refuse to start and say why.

An empty or blank variable counts as unset: container tools often export ``NAME=``.

Plain Python, no Django import: settings modules use this before Django is configured. What a
value *means* (a Fernet key, an SMTP URL, a network) is judged by the system checks on the final
setting, so a value set in code is checked the same way as one from the environment.
"""

from __future__ import annotations

import math
import os
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

TRUE_WORDS = frozenset({"1", "true", "yes", "on", "si", "sí"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
# ASCII only: int() and float() also accept other scripts' digits ("١٠") and "1_0".
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Problem:
    """A variable whose text could not be read; the setting fell back to its default."""

    variable: str
    value: str
    expected: str
    """What the variable must hold, e.g. "a number of seconds greater than 0 and at most 120"."""
    fix: str
    """What to write instead, as a sentence for the administrator."""

    @property
    def message(self) -> str:
        shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
        return f"{self.variable}={shown!r} is not {self.expected}."


class Environment:
    """Typed readers over a mapping of variables (``os.environ`` by default).

    ``problems`` is one list for the lifetime of the reader, updated in place, so a settings
    module can publish it once and modules that extend it (demo, production) add to it.
    """

    def __init__(self, source: Mapping[str, str] | None = None) -> None:
        self.source: Mapping[str, str] = os.environ if source is None else source
        self.problems: list[Problem] = []

    # --- bookkeeping ------------------------------------------------------------------------

    def _raw(self, name: str) -> str | None:
        value = self.source.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def record(self, name: str, value: str, expected: str, fix: str) -> None:
        """Report a variable as unusable: for rules a settings module checks itself (a header
        name, a required key) instead of raising ImproperlyConfigured, which is a traceback.
        The value is shown to the administrator: never pass a secret's text. A variable read
        twice (base, then a module that extends it) is reported once."""
        self.problems[:] = [p for p in self.problems if p.variable != name]
        self.problems.append(Problem(name, value, expected, fix))

    # --- scalars ----------------------------------------------------------------------------

    def text(self, name: str, default: str = "") -> str:
        """Free text (a path, a key, a URL judged by its own check); surrounding blanks go."""
        value = self._raw(name)
        return default if value is None else value

    def boolean(self, name: str, default: bool = False) -> bool:
        """``true``/``false`` (also 1/0, yes/no, on/off, sí/no). Anything else is a problem:
        ``maybe`` must not quietly mean False for a security switch."""
        value = self._raw(name)
        if value is None:
            return default
        word = value.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        self.record(
            name,
            value,
            "true or false",
            f"Set {name} to true or false (1/0, yes/no and on/off also work), or remove it to "
            f"use the default ({str(default).lower()}).",
        )
        return default

    def integer(
        self,
        name: str,
        default: int,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        unit: str = "",
    ) -> int:
        """A whole number, optionally bounded (inclusive)."""
        value = self._raw(name)
        if value is None:
            return default
        number = _whole(value)
        if number is not None and _within(number, minimum, maximum, above=None):
            return number
        expected = f"a whole number{_unit(unit)}{_range_text(minimum, maximum, above=None)}"
        self.record(name, value, expected, _number_fix(name, str(default), unit, decimals=False))
        return default

    def number(
        self,
        name: str,
        default: float,
        *,
        above: float | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        unit: str = "",
    ) -> float:
        """A decimal number with a point (``2.5``), bounded: ``above`` is exclusive,
        ``minimum`` and ``maximum`` inclusive. NaN and infinity are refused (``1e999`` too)."""
        value = self._raw(name)
        if value is None:
            return default
        number = float(value) if _DECIMAL.fullmatch(value) else None
        if (
            number is not None
            and math.isfinite(number)
            and _within(number, minimum, maximum, above=above)
        ):
            return number
        expected = f"a number{_unit(unit)}{_range_text(minimum, maximum, above=above)}"
        self.record(name, value, expected, _number_fix(name, _plain(default), unit, decimals=True))
        return default

    def time_zone(self, name: str, default: str) -> str:
        """An IANA zone name such as ``America/Mexico_City`` (Django refuses unknown ones with
        a traceback of its own)."""
        value = self._raw(name)
        if value is None:
            return default
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            self.record(
                name,
                value,
                "a known time zone",
                f"Set {name} to an IANA time zone name such as America/Mexico_City or UTC.",
            )
            return default
        return value

    # --- lists ------------------------------------------------------------------------------

    def strings(
        self,
        name: str,
        default: str | Sequence[str] = (),
        *,
        item: Callable[[str], str | None] | None = None,
        example: str = "",
    ) -> list[str]:
        """Comma-separated items, blanks dropped. ``item`` returns why an entry is wrong (or
        None when it is fine); one bad entry makes the whole list fall back to the default,
        because half a list of allowed hosts or origins is a different setting."""
        fallback = _split(default) if isinstance(default, str) else list(default)
        value = self._raw(name)
        if value is None:
            return fallback
        entries = _split(value)
        if item is not None:
            for entry in entries:
                reason = item(entry)
                if reason is not None:
                    fix = f"Fix or remove {entry!r}"
                    fix += f"; write comma-separated entries such as {example}." if example else "."
                    self.record(name, value, reason, fix)
                    return fallback
        return entries

    def ports(self, name: str, default: Sequence[int]) -> list[int]:
        """Comma-separated TCP ports, each 1-65535."""
        value = self._raw(name)
        if value is None:
            return list(default)
        entries = _split(value)
        numbers = [_whole(entry) for entry in entries]
        if entries and all(n is not None and 1 <= n <= 65535 for n in numbers):
            return [n for n in numbers if n is not None]
        self.record(
            name,
            value,
            "a comma-separated list of ports from 1 to 65535",
            f"Set {name} to ports separated by commas, such as "
            f"{','.join(str(p) for p in default) or '25,587'}.",
        )
        return list(default)


# --- item rules for ``Environment.strings`` ---------------------------------------------------


def host_pattern(entry: str) -> str | None:
    """An ``ALLOWED_HOSTS`` entry: a host name, ``.example.com`` or ``*``, never a URL."""
    if "://" in entry or "/" in entry or any(ch.isspace() for ch in entry):
        return "a list of host names (erp.example.com, .example.com), not URLs"
    return None


def web_origin(entry: str) -> str | None:
    """A ``CSRF_TRUSTED_ORIGINS`` entry: scheme and host, as the browser sends ``Origin``."""
    scheme, sep, rest = entry.partition("://")
    if not sep or scheme.lower() not in {"http", "https"} or not rest or "/" in rest.rstrip("/"):
        return "a list of origins with scheme and host (https://erp.example.com)"
    return None


# --- helpers ----------------------------------------------------------------------------------


def _whole(text: str) -> int | None:
    """``int()`` of plain ASCII digits; None otherwise. The length cap keeps away from
    ``int()``'s own limit on long strings (4300 digits), which raises."""
    if len(text) > 30 or not _INTEGER.fullmatch(text):
        return None
    return int(text)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _within(
    number: float, minimum: float | None, maximum: float | None, *, above: float | None
) -> bool:
    if above is not None and not number > above:
        return False
    if minimum is not None and number < minimum:
        return False
    return maximum is None or number <= maximum


def _plain(number: float) -> str:
    """``10.0`` -> ``10``: the default as an administrator would type it."""
    return str(int(number)) if float(number).is_integer() else str(number)


def _unit(unit: str) -> str:
    return f" of {unit}" if unit else ""


def _range_text(minimum: float | None, maximum: float | None, *, above: float | None) -> str:
    parts = []
    if above is not None:
        parts.append(f"greater than {_plain(above)}")
    if minimum is not None:
        parts.append(f"at least {_plain(minimum)}")
    if maximum is not None:
        parts.append(f"at most {_plain(maximum)}")
    return (" " + " and ".join(parts)) if parts else ""


def _number_fix(name: str, default: str, unit: str, *, decimals: bool) -> str:
    kind = "a plain number" if decimals else "a whole number"
    units = f" ({unit}), without units" if unit else ""
    point = " (use a point for decimals: 2.5)" if decimals else ""
    return (
        f"Set {name} to {kind} such as {default}{units}{point}, "
        f"or remove it to use the default ({default})."
    )
