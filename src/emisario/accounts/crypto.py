"""The project's :class:`SecretBox`, built from settings when first used (never at import)."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from emisario.core.secrets import Secret, SecretBox


@lru_cache(maxsize=4)
def _box_for(keys: tuple[str, ...]) -> SecretBox:
    return SecretBox(keys)


def secret_box() -> SecretBox:
    """The box for the keys configured now (settings can change in tests)."""
    return _box_for(tuple(settings.EMISARIO_SECRET_KEYS))


def encrypt(secret: Secret) -> str:
    return secret_box().encrypt(secret)


def decrypt(token: str) -> Secret:
    return secret_box().decrypt(token)
