"""Start-up checks: a broken configuration is a clear error with a stable ID and a hint."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from emisario.accounts.checks import check_generic_account, check_probe_settings, check_secret_keys


@pytest.mark.parametrize(
    "keys",
    [[], ["not-a-key"], ["", "  "]],
    ids=["missing", "malformed", "blank"],
)
def test_missing_or_bad_key_is_E001(settings, keys):
    settings.EMISARIO_SECRET_KEYS = keys
    [error] = check_secret_keys()
    assert error.id == "emisario.E001"
    assert "EMISARIO_SECRET_KEYS" in error.hint


def test_E001_stops_start_up(settings):
    settings.EMISARIO_SECRET_KEYS = []
    with pytest.raises(SystemCheckError, match=r"emisario\.E001"):
        call_command("check")


def test_valid_keys_pass(settings):
    assert check_secret_keys() == []


@pytest.mark.parametrize(
    ("url", "errors"),
    [("", 0), ("smtps://a%40b.com:x@smtp.b.com", 0), ("http://x", 1), ("smtp://relay", 1)],
    ids=["unset", "valid", "bad-scheme", "no-from"],
)
def test_generic_url_is_E002(settings, url, errors):
    settings.EMISARIO_GENERIC_SMTP_URL = url
    found = check_generic_account()
    assert len(found) == errors and all(e.id == "emisario.E002" for e in found)


@pytest.mark.parametrize(
    ("name", "value", "error_id"),
    [
        ("EMISARIO_PROBE_CA_FILE", "/no/such/ca.pem", "emisario.E003"),
        ("EMISARIO_PROBE_ALLOW", ["not a network!"], "emisario.E004"),
        ("EMISARIO_PROBE_PORTS", [0], "emisario.E004"),
        ("EMISARIO_PROBE_DEADLINE", 0, "emisario.E005"),
        ("EMISARIO_DETECT_COMBINATIONS", ["587/ssl"], "emisario.E006"),
        ("EMISARIO_DETECT_COMBINATIONS", ["99999/tls"], "emisario.E006"),
    ],
    ids=["ca-file", "allow-entry", "port", "deadline", "combination-mode", "combination-port"],
)
def test_probe_settings(settings, name, value, error_id):
    setattr(settings, name, value)
    assert [e.id for e in check_probe_settings()] == [error_id]
