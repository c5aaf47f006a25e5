"""System checks with stable IDs: a broken configuration stops start-up with a hint, instead of
failing on the first mail."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Error, Tags, register

from emisario.core.errors import InvalidValue
from emisario.core.netpolicy import NetworkPolicy
from emisario.core.secrets import SecretBox, SecretKeyError
from emisario.core.smtp.detect import parse_combinations
from emisario.core.smtp.url import parse_smtp_url

KEY_HINT = (
    "Set EMISARIO_SECRET_KEYS to one or more comma-separated Fernet keys; create one with "
    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`. "
    "Keep it outside the database: without it stored SMTP passwords cannot be read."
)


@register(Tags.security)
def check_secret_keys(app_configs=None, **kwargs):
    try:
        SecretBox(settings.EMISARIO_SECRET_KEYS)
    except SecretKeyError as exc:
        return [Error(f"SMTP password encryption: {exc}.", hint=KEY_HINT, id="emisario.E001")]
    return []


@register()
def check_generic_account(app_configs=None, **kwargs):
    url = settings.EMISARIO_GENERIC_SMTP_URL
    if not url:
        return []
    try:
        parse_smtp_url(url)
    except InvalidValue as exc:
        return [
            Error(
                f"EMISARIO_GENERIC_SMTP_URL is not a valid SMTP URL ({exc.code}).",
                hint="Use smtp://, smtp+starttls:// or smtps://user:password@host:port?from=address",
                id="emisario.E002",
            )
        ]
    return []


@register()
def check_probe_settings(app_configs=None, **kwargs):
    errors = []
    ca_file = settings.EMISARIO_PROBE_CA_FILE
    if ca_file and not os.path.isfile(ca_file):
        errors.append(
            Error(
                f"EMISARIO_PROBE_CA_FILE {ca_file!r} does not exist.",
                hint="Point it at a PEM bundle of the CAs to trust, or leave it empty for the "
                "system's trust store.",
                id="emisario.E003",
            )
        )
    try:
        NetworkPolicy.from_settings(
            ports=settings.EMISARIO_PROBE_PORTS, allow=settings.EMISARIO_PROBE_ALLOW
        )
    except (InvalidValue, ValueError) as exc:
        errors.append(
            Error(
                f"EMISARIO_PROBE_PORTS / EMISARIO_PROBE_ALLOW are invalid: {exc}.",
                hint="Ports are 1-65535; allow entries are networks (10.0.0.0/8) or host names.",
                id="emisario.E004",
            )
        )
    try:
        parse_combinations(settings.EMISARIO_DETECT_COMBINATIONS)
    except InvalidValue as exc:
        errors.append(
            Error(
                f"EMISARIO_DETECT_COMBINATIONS holds {exc.params.get('value')!r}.",
                hint="Write port/mode pairs such as 587/starttls; modes are tls, starttls, none.",
                id="emisario.E006",
            )
        )
    if settings.EMISARIO_PROBE_DEADLINE <= 0 or settings.EMISARIO_PROBE_DEADLINE > 120:
        errors.append(
            Error(
                "EMISARIO_PROBE_DEADLINE must be between 0 and 120 seconds.",
                id="emisario.E005",
            )
        )
    return errors
