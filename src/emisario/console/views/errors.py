"""Error pages: Django's 403 handler, and the page for missing or bad encryption keys."""

from __future__ import annotations

import logging
from functools import wraps

from django.shortcuts import render

from emisario.console import messages as texts
from emisario.console.access import forbidden_page
from emisario.core.secrets import SecretKeyError

logger = logging.getLogger("emisario.console")
_REPORTED: set[str] = set()
"""Key problems already logged by this process: the administrator needs one line per
problem, not one per click (every user still gets the page)."""


def forbidden(request, exception=None):
    """Django's 403 handler: names the permission when the view raised it with its code."""
    code = str(exception) if exception and str(exception) in {"EMISOPT", "PCSMTPG"} else ""
    return forbidden_page(request, code)


def keys_unavailable(request, error: SecretKeyError):
    """A Spanish page (503: the service, not the request, is broken) naming the setting and
    the administrator's fix, instead of a traceback. The error's text names which key is
    wrong by position, never its value."""
    reason = str(error)
    if reason not in _REPORTED:
        _REPORTED.add(reason)
        logger.error(
            "EMISARIO_SECRET_KEYS cannot be used (%s): SMTP passwords can be neither encrypted "
            "nor decrypted. Set it to comma-separated Fernet keys, the new one first and the "
            "ones used so far after it, and restart; `emisario check` reports the problem.",
            reason,
        )
    context = {
        "title": texts.KEYS_UNAVAILABLE_TITLE,
        "problem": texts.KEYS_UNAVAILABLE,
        "fix": texts.KEYS_UNAVAILABLE_FIX,
    }
    return render(request, "emisario/keys_unavailable.html", context, status=503)


def keys_required(view):
    """Turn a ``SecretKeyError`` raised anywhere under ``view`` into ``keys_unavailable``."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except SecretKeyError as error:
            return keys_unavailable(request, error)

    return wrapper
