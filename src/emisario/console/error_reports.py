"""Error reports (the mail to ADMINS, the DEBUG page, the template debug log) without secrets.

The views and functions that handle a password are marked with Django's
``sensitive_post_parameters`` / ``sensitive_variables``. This filter is the defence in depth
for the day one is forgotten: whatever the decorators say, POST parameters, dictionary keys
and frame variables named like a password, a token or a secret are replaced, and it does so
with DEBUG on as well (Django's filter stands down under DEBUG: "your site is not safe
anyway" is not true of a developer's screen shared in a meeting).

Settings: ``DEFAULT_EXCEPTION_REPORTER_FILTER`` names
``emisario.console.error_reports.PasswordSafeReporterFilter``.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.datastructures import MultiValueDict
from django.views.debug import SafeExceptionReporterFilter

SENSITIVE_NAME = re.compile(
    r"pass|pwd|contrase|clave|secret|token|credential|api_?key|authorization", re.IGNORECASE
)
_DEPTH = 4  # nested containers cleansed this deep; reports show no deeper detail anyway


def is_sensitive_name(name: object) -> bool:
    return isinstance(name, str) and bool(SENSITIVE_NAME.search(name))


class PasswordSafeReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, always active, that also cleanses by name."""

    def is_active(self, request) -> bool:
        return True

    def _cleanse(self, value: Any, depth: int = 0) -> Any:
        if depth > _DEPTH:
            return value
        try:
            if isinstance(value, MultiValueDict):
                cleansed = value.copy()
                for key in list(cleansed.keys()):
                    if is_sensitive_name(key):
                        cleansed.setlist(key, [self.cleansed_substitute])
                return cleansed
            if isinstance(value, dict):
                return {
                    key: self.cleansed_substitute
                    if is_sensitive_name(key)
                    else self._cleanse(item, depth + 1)
                    for key, item in value.items()
                }
            if isinstance(value, list):
                return [self._cleanse(item, depth + 1) for item in value]
            if isinstance(value, tuple):
                return tuple(self._cleanse(item, depth + 1) for item in value)
        except Exception:  # a report must never fail because of what it reports
            return self.cleansed_substitute
        return value

    def get_post_parameters(self, request):
        return self._cleanse(super().get_post_parameters(request))

    def cleanse_special_types(self, request, value):
        return self._cleanse(super().cleanse_special_types(request, value))

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self.cleansed_substitute if is_sensitive_name(name) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
