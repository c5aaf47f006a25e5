"""Secrets at rest and in memory.

:class:`Secret` keeps a password out of ``repr``, ``str``, logs and tracebacks; code must call
:meth:`Secret.reveal` to get the text, which makes every use easy to find.
:class:`SecretBox` encrypts with MultiFernet: the first key encrypts, every key decrypts, so keys
rotate by putting a new one first and running ``rotate`` over the stored tokens.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from emisario.core.errors import EmisarioError

_UNDECRYPTABLE = "stored secret cannot be decrypted with the configured keys"


class Secret:
    """A string that never shows itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        """In constant time: how long a comparison takes never tells how much of a retyped
        password matched."""
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8"), other._value.encode("utf-8"))

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __reduce__(self) -> str:  # pickling would write the plaintext somewhere unexpected
        raise TypeError("Secret cannot be pickled")


class SecretKeyError(EmisarioError):
    """The encryption keys are missing or malformed: a configuration error, never retried."""


class UndecryptableSecret(EmisarioError):
    """A stored token cannot be opened with any configured key (lost or rotated-out key)."""


class SecretBox:
    """Encrypts and decrypts secrets with an ordered list of Fernet keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        keys = [key.strip() for key in keys if key and key.strip()]
        if not keys:
            raise SecretKeyError("no encryption key is configured")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise SecretKeyError(
                    f"encryption key #{position} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes)"
                ) from None
        self._fernet = MultiFernet(fernets)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, secret: Secret) -> str:
        return self._fernet.encrypt(secret.reveal().encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> Secret:
        try:
            return Secret(self._fernet.decrypt(token.encode("ascii")).decode("utf-8"))
        except (InvalidToken, UnicodeError, ValueError):
            raise UndecryptableSecret(
                "stored secret cannot be decrypted with the configured keys"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` with the first (newest) key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError):
            raise UndecryptableSecret(
                "stored secret cannot be decrypted with the configured keys"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"
