"""System checks with stable IDs: a broken configuration stops start-up with a hint, instead of
failing on the first mail.

IDs: E001 encryption keys, E002 generic account URL, E003 CA file, E004 Probar's ports and
allowed targets, E005 Probar's deadline, E006 Detectar's combinations, E007 where a password may
travel unencrypted, E010 an environment variable that could not be read at all (see
``emisario.config.env``). E001-E007 judge the final setting, so a value set in code is checked
like one from the environment.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Error, Tags, register

from emisario.core.errors import InvalidValue
from emisario.core.netpolicy import NetworkPolicy, parse_allow_entry
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
        NetworkPolicy.from_settings(ports=settings.EMISARIO_PROBE_PORTS, allow=())
    except (InvalidValue, ValueError, TypeError):
        errors.append(
            Error(
                f"EMISARIO_PROBE_PORTS holds {settings.EMISARIO_PROBE_PORTS!r}.",
                hint="Write TCP ports from 1 to 65535, such as 25,465,587,2525.",
                id="emisario.E004",
            )
        )
    errors += _allow_list_errors("EMISARIO_PROBE_ALLOW", "Probar may reach", "emisario.E004")
    errors += _allow_list_errors(
        "EMISARIO_PLAINTEXT_AUTH_ALLOW",
        "a password may be sent unencrypted to",
        "emisario.E007",
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
    deadline = settings.EMISARIO_PROBE_DEADLINE
    if (
        isinstance(deadline, bool)
        or not isinstance(deadline, int | float)
        or not 0 < deadline <= 120
    ):
        errors.append(
            Error(
                f"EMISARIO_PROBE_DEADLINE must be between 0 and 120 seconds, not {deadline!r}.",
                hint="Set it to a number of seconds greater than 0 and at most 120, such as 10.",
                id="emisario.E005",
            )
        )
    return errors


def _allow_list_errors(name: str, meaning: str, error_id: str) -> list[Error]:
    """The same rule ``NetworkPolicy.from_settings`` applies, naming the entry at fault."""
    entries = getattr(settings, name, ())
    if isinstance(entries, str):
        return [
            Error(
                f"{name} must be a list of networks or host names, not the string {entries!r}.",
                hint=f"In code write {name} = [{entries!r}]; in the environment separate "
                "entries with commas.",
                id=error_id,
            )
        ]
    bad = []
    for entry in entries:
        try:
            parse_allow_entry(entry)
        except (InvalidValue, AttributeError):
            bad.append(entry)
    if not bad:
        return []
    return [
        Error(
            f"{name} holds {', '.join(repr(entry) for entry in bad)}: not a network or a host "
            f"name ({name} lists where {meaning}).",
            hint="Write networks (10.0.0.0/8), single addresses (192.0.2.10) or exact host "
            "names (relay.intranet), separated by commas.",
            id=error_id,
        )
    ]


@register()
def check_environment(app_configs=None, **kwargs):
    """Variables the settings could not read at all fell back to their defaults; starting
    anyway would run with a configuration the administrator did not write."""
    return [
        Error(
            f"Environment variable {problem.message}",
            hint=problem.fix,
            id="emisario.E010",
        )
        for problem in getattr(settings, "EMISARIO_SETTINGS_PROBLEMS", ())
    ]
