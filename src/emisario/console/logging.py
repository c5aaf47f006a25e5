"""A last line of defence: log records never carry a password, even by accident.

The code never logs secrets on purpose (``Secret`` hides itself); this filter also masks
``password=...`` pairs, SMTP AUTH lines and Fernet tokens if some library logs them.
"""

import logging
import re

PATTERNS = (
    re.compile(r"(?i)(pass(?:word)?|contrase(?:ñ|n)a|pwd)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",&]+"),
    re.compile(r"(?i)(AUTH\s+(?:PLAIN|LOGIN|XOAUTH2)\s+)\S+"),
    re.compile(r"()(gAAAAA)[A-Za-z0-9_\-=]+"),
)


def _mask(match: re.Match) -> str:
    kept = match.group(1) + (match.group(2) if match.lastindex >= 2 else "")
    return kept + "********"


TRIGGERS = ("pass", "contrase", "pwd", "auth", "gaaaaa")
"""Every pattern's match holds one of these (case-folded): a text without any needs no scan
(CRONUS logs a line per attempt; most hold none)."""


def redact(text: str) -> str:
    lowered = text.casefold()  # as re.IGNORECASE matches: "paſſword" holds "pass"
    if not any(trigger in lowered for trigger in TRIGGERS):
        return text
    for pattern in PATTERNS:
        text = pattern.sub(_mask, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
