"""Start-up checks: a broken configuration is a clear error with a stable ID and a hint."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from emisario.accounts.checks import (
    check_environment,
    check_generic_account,
    check_probe_settings,
    check_secret_keys,
)
from emisario.config.env import Environment


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
        ("EMISARIO_PROBE_DEADLINE", "10s", "emisario.E005"),
        ("EMISARIO_PROBE_DEADLINE", 121, "emisario.E005"),
        ("EMISARIO_PROBE_PORTS", ["smtp"], "emisario.E004"),
        ("EMISARIO_PROBE_ALLOW", "10.0.0.0/8", "emisario.E004"),
        ("EMISARIO_PLAINTEXT_AUTH_ALLOW", ["relay intranet"], "emisario.E007"),
        ("EMISARIO_PLAINTEXT_AUTH_ALLOW", "relay.intranet", "emisario.E007"),
    ],
    ids=[
        "ca-file",
        "allow-entry",
        "port",
        "deadline",
        "combination-mode",
        "combination-port",
        "deadline-text-in-code",
        "deadline-too-long",
        "port-name",
        "allow-string-not-list",
        "plaintext-entry",
        "plaintext-string-not-list",
    ],
)
def test_probe_settings(settings, name, value, error_id):
    setattr(settings, name, value)
    assert [e.id for e in check_probe_settings()] == [error_id]


def test_the_plaintext_allow_list_accepts_networks_and_host_names(settings):
    settings.EMISARIO_PLAINTEXT_AUTH_ALLOW = ["10.0.0.0/8", "192.0.2.10", "relay.intranet"]
    assert check_probe_settings() == []


def test_the_errors_name_the_entry_at_fault(settings):
    settings.EMISARIO_PROBE_ALLOW = ["10.0.0.0/8", "not a network!"]
    [error] = check_probe_settings()
    assert "EMISARIO_PROBE_ALLOW" in error.msg and "'not a network!'" in error.msg
    assert "'10.0.0.0/8'" not in error.msg


def test_unreadable_environment_variables_are_E010_with_the_fix(settings):
    env = Environment({"EMISARIO_PROBE_DEADLINE": "10s", "EMISARIO_DEBUG": "maybe"})
    env.number("EMISARIO_PROBE_DEADLINE", 10.0, above=0, maximum=120, unit="seconds")
    env.boolean("EMISARIO_DEBUG")
    settings.EMISARIO_SETTINGS_PROBLEMS = env.problems
    errors = check_environment()
    assert [e.id for e in errors] == ["emisario.E010", "emisario.E010"]
    assert "EMISARIO_PROBE_DEADLINE='10s'" in errors[0].msg and "without units" in errors[0].hint
    assert "EMISARIO_DEBUG='maybe'" in errors[1].msg and "true or false" in errors[1].hint
    with pytest.raises(SystemCheckError, match=r"emisario\.E010"):
        call_command("check")


def test_the_test_settings_have_no_environment_problems():
    assert check_environment() == []
