"""Errors of the domain layer.

Each carries a stable ``code`` and named ``params`` so the web layer can turn it into a
translated sentence; ``str()`` gives an English fallback for logs.
"""

from __future__ import annotations


class EmisarioError(Exception):
    """Root of every error the domain raises on purpose."""


class InvalidValue(EmisarioError, ValueError):
    """A value given by a user or a caller breaks a rule; ``field`` names where it came from."""

    def __init__(self, code: str, *, field: str = "", message: str = "", **params: object) -> None:
        self.code = code
        self.field = field
        self.params = params
        super().__init__(message or f"{field or 'value'}: {code}")
