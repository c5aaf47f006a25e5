"""Settings from the environment (issue 6, point 13): a malformed value used to be a traceback
at import of the settings (``EMISARIO_PROBE_DEADLINE=10s``); now it is a system check error
naming the variable and the fix, and ``emisario check`` refuses to pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emisario.config.env import (
    FALSE_WORDS,
    TRUE_WORDS,
    Environment,
    host_pattern,
    web_origin,
)

REPO = Path(__file__).resolve().parents[2]
EMISARIO = REPO / ".venv" / "bin" / "emisario"
VALID_KEY = "CwR2OpvUk5Ruvb9Nvbl9bZ2T0l2p2nLxkq7mD0l1FQY="


def read(**variables: str) -> Environment:
    return Environment(variables)


# --- the readers (hypothesis without deadlines: no timed assertions) ----------------------------


@pytest.mark.parametrize("value", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_unset_or_blank_gives_the_default_silently(value):
    env = Environment({} if value is None else {"X": value})
    assert env.number("X", 10.0, above=0) == 10.0
    assert env.integer("X", 5) == 5
    assert env.boolean("X", True) is True
    assert env.ports("X", [25]) == [25]
    assert env.strings("X", "a,b") == ["a", "b"]
    assert env.time_zone("X", "UTC") == "UTC"
    assert env.problems == []


def test_the_seed_case_names_the_variable_and_the_fix():
    env = read(EMISARIO_PROBE_DEADLINE="10s")
    value = env.number("EMISARIO_PROBE_DEADLINE", 10.0, above=0, maximum=120, unit="seconds")
    assert value == 10.0
    [problem] = env.problems
    assert problem.variable == "EMISARIO_PROBE_DEADLINE" and problem.value == "10s"
    assert "EMISARIO_PROBE_DEADLINE='10s'" in problem.message
    assert "without units" in problem.fix and "such as 10 " in problem.fix


@settings(deadline=None)
@given(st.sampled_from(sorted(TRUE_WORDS | FALSE_WORDS)), st.data())
def test_boolean_words_in_any_case(word, data):
    cased = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in word)
    env = read(B=f" {cased} ")
    assert env.boolean("B", default=word in FALSE_WORDS) is (word in TRUE_WORDS)
    assert env.problems == []


@settings(deadline=None)
@given(st.text().filter(lambda t: t.strip() and t.strip().lower() not in TRUE_WORDS | FALSE_WORDS))
def test_any_other_boolean_text_is_a_problem_not_false(text):
    env = read(EMISARIO_DEBUG=text)
    assert env.boolean("EMISARIO_DEBUG", default=False) is False
    [problem] = env.problems
    assert problem.expected == "true or false" and "EMISARIO_DEBUG" in problem.fix


@settings(deadline=None)
@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_integers_in_range_parse_and_others_are_problems(number):
    env = read(N=f"  {number} ")
    value = env.integer("N", 7, minimum=0, maximum=1000)
    if 0 <= number <= 1000:
        assert (value, env.problems) == (number, [])
    else:
        assert value == 7 and "at least 0 and at most 1000" in env.problems[0].expected


@pytest.mark.parametrize(
    "text",
    ["10s", "1.5", "1e3", "ten", "0x10", "1_0", "١٠", "9" * 5000],
    ids=["unit", "decimal", "exponent", "word", "hex", "underscore", "arabic-digits", "huge"],
)
def test_integer_refuses_what_is_not_a_plain_whole_number(text):
    env = read(N=text)
    assert env.integer("N", 7) == 7
    assert env.problems[0].expected == "a whole number"
    assert "use a point" not in env.problems[0].fix


@settings(deadline=None)
@given(st.floats(min_value=0, max_value=120, exclude_min=True))
def test_numbers_in_range_round_trip(number):
    env = read(D=repr(number))
    assert env.number("D", 10.0, above=0, maximum=120) == number
    assert env.problems == []


@pytest.mark.parametrize(
    "text",
    ["10s", "10,5", "0", "-1", "120.01", "nan", "inf", "-inf", "1e999", "1_0", "١٠", "x"],
    ids=[
        "unit",
        "comma",
        "zero",
        "negative",
        "too-big",
        "nan",
        "inf",
        "-inf",
        "overflow",
        "underscore",
        "arabic-digits",
        "word",
    ],
)
def test_number_refuses_units_commas_and_out_of_range(text):
    env = read(D=text)
    assert env.number("D", 10.0, above=0, maximum=120, unit="seconds") == 10.0
    [problem] = env.problems
    assert problem.expected == "a number of seconds greater than 0 and at most 120"


@settings(deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=65535), min_size=1), st.sampled_from([",", ", "])
)
def test_port_lists_round_trip(ports, separator):
    env = read(P=separator.join(str(p) for p in ports))
    assert env.ports("P", [25]) == ports and env.problems == []


@pytest.mark.parametrize(
    "text",
    ["25,abc", "0", "65536", "25;587", "587/tls", ",", "-25"],
    ids=["word", "zero", "too-big", "semicolon", "combination", "only-commas", "negative"],
)
def test_bad_port_lists_fall_back_whole(text):
    env = read(EMISARIO_PROBE_PORTS=text)
    assert env.ports("EMISARIO_PROBE_PORTS", [25, 465, 587, 2525]) == [25, 465, 587, 2525]
    assert "25,465,587,2525" in env.problems[0].fix


@settings(deadline=None)
@given(st.text(), st.text())
def test_no_reader_ever_raises(name, text):
    env = read(**{name or "X": text})
    key = name or "X"
    env.text(key)
    env.boolean(key)
    env.integer(key, 1, minimum=0)
    env.number(key, 1.0, above=0, maximum=5)
    env.ports(key, [25])
    env.time_zone(key, "UTC")
    env.strings(key, item=host_pattern)
    env.strings(key, item=web_origin)
    assert len(env.problems) <= 1  # one variable is reported once, however often it is read


def test_strings_drop_blanks_and_strip():
    assert read(L=" a, ,b ,, c").strings("L") == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        (host_pattern, "erp.example.com,.example.com,*,127.0.0.1", "https://erp.example.com"),
        (host_pattern, "erp.example.com", "erp.example.com/cxc"),
        (web_origin, "https://erp.example.com,http://127.0.0.1:8000", "erp.example.com"),
        (web_origin, "https://erp.example.com", "ftp://erp.example.com"),
    ],
    ids=["host-url", "host-path", "origin-no-scheme", "origin-ftp"],
)
def test_list_items_are_checked_and_a_bad_one_drops_the_whole_list(rule, good, bad):
    assert read(L=good).strings("L", "default", item=rule) == good.split(",")
    env = read(L=f"{good},{bad}")
    assert env.strings("L", "default", item=rule, example="x") == ["default"]
    assert repr(bad) in env.problems[0].fix


@pytest.mark.parametrize(
    ("text", "ok"),
    [("UTC", True), ("America/Mexico_City", True), ("Mars/Olympus", False), ("../etc", False)],
    ids=["utc", "mexico", "unknown", "path"],
)
def test_time_zone(text, ok):
    env = read(TZ=text)
    assert env.time_zone("TZ", "UTC") == (text if ok else "UTC")
    assert bool(env.problems) is not ok


def test_a_variable_read_twice_is_reported_once_and_the_list_is_shared():
    env = read(P="abc")
    problems = env.problems
    env.ports("P", [25])
    env.ports("P", [25, 2465])  # the demo re-reads with its own default
    assert problems is env.problems and len(problems) == 1


# --- the real command -------------------------------------------------------------------------


def run_check(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """``emisario check`` as an administrator runs it: the package's default (base) settings,
    the environment and nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMISARIO_", "DJANGO_"))}
    env.update(
        EMISARIO_HOME=str(tmp_path),
        EMISARIO_SECRET_KEYS=VALID_KEY,
        EMISARIO_SECRET_KEY="check-test-" + "k" * 50,
    )
    env.update(variables)
    return subprocess.run(
        [str(EMISARIO), "check", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_good_environment_passes(tmp_path):
    result = run_check(
        tmp_path,
        EMISARIO_PROBE_DEADLINE="12.5",
        EMISARIO_DEBUG="no",
        EMISARIO_PROBE_PORTS="25, 587",
        EMISARIO_PLAINTEXT_AUTH_ALLOW="10.0.0.0/8,relay.intranet",
        EMISARIO_LOGIN_COOLOFF_MINUTES="30",
        EMISARIO_PROXY_COUNT="1",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


BAD_VALUES = [
    ("EMISARIO_PROBE_DEADLINE", "10s", "emisario.E010", "without units"),
    ("EMISARIO_PROBE_DEADLINE", "0", "emisario.E010", "greater than 0"),
    ("EMISARIO_DEBUG", "maybe", "emisario.E010", "true or false"),
    ("EMISARIO_SECURE_COOKIES", "yes please", "emisario.E010", "true or false"),
    ("EMISARIO_PROBE_PORTS", "25,abc", "emisario.E010", "ports separated by commas"),
    ("EMISARIO_PROBE_RATE_COUNT", "ten", "emisario.E010", "whole number such as 10"),
    ("EMISARIO_TIME_ZONE", "Mars/Olympus", "emisario.E010", "America/Mexico_City"),
    ("EMISARIO_ALLOWED_HOSTS", "https://erp.example.com", "emisario.E010", "not URLs"),
    ("EMISARIO_CSRF_TRUSTED_ORIGINS", "erp.example.com", "emisario.E010", "https://"),
    ("EMISARIO_LOGIN_FAILURE_LIMIT", "0", "emisario.E010", "whole number such as 5"),
    ("EMISARIO_LOGIN_ADDRESS_FAILURE_LIMIT", "-1", "emisario.E010", "such as 50"),
    ("EMISARIO_LOGIN_COOLOFF_MINUTES", "15m", "emisario.E010", "(minutes), without units"),
    ("EMISARIO_PROXY_COUNT", "yes", "emisario.E010", "whole number such as 0"),
    ("EMISARIO_SECRET_KEYS", "not-a-key", "emisario.E001", "Fernet"),
    ("EMISARIO_GENERIC_SMTP_URL", "http://x", "emisario.E002", "smtp+starttls://"),
    ("EMISARIO_PROBE_CA_FILE", "/no/such/ca.pem", "emisario.E003", "PEM bundle"),
    ("EMISARIO_PROBE_ALLOW", "not a network!", "emisario.E004", "10.0.0.0/8"),
    ("EMISARIO_DETECT_COMBINATIONS", "587/ssl", "emisario.E006", "587/starttls"),
    ("EMISARIO_PLAINTEXT_AUTH_ALLOW", "relay intranet", "emisario.E007", "relay.intranet"),
    ("DATABASE_URL", "nonsense", "emisario.E010", "postgres://user:password@host"),
    ("DATABASE_URL", "postgres://u:s3cr3t@h:port/db", "emisario.E010", "percent-encode"),
]


@pytest.mark.parametrize(
    ("variable", "value", "error_id", "fix"),
    BAD_VALUES,
    ids=[f"{v.removeprefix('EMISARIO_').lower()}={x[:20]}" for v, x, _i, _f in BAD_VALUES],
)
def test_a_bad_value_stops_check_with_its_name_and_the_fix(
    tmp_path, variable, value, error_id, fix
):
    result = run_check(tmp_path, **{variable: value})
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode != 0, output
    assert error_id in output and variable in output and fix in output, output
    assert "s3cr3t" not in output  # a database password is never shown


def test_check_deploy_stops_too(tmp_path):
    """The production start runs ``check --deploy``; errors stop it the same way."""
    result = run_check(tmp_path, "--deploy", EMISARIO_PROBE_DEADLINE="10s")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "EMISARIO_PROBE_DEADLINE" in result.stderr


def settings_seen(tmp_path: Path, expression: str, **variables: str):
    """Import the base settings in a fresh interpreter with these variables; return the
    JSON value of ``expression`` (``s`` is django.conf.settings)."""
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({expression}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMISARIO_", "DJANGO_"))}
    env.update(DJANGO_SETTINGS_MODULE="emisario.config.settings.base", EMISARIO_HOME=str(tmp_path))
    env.update(variables)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_the_variables_reach_the_settings(tmp_path):
    seen = settings_seen(
        tmp_path,
        "[s.EMISARIO_PROBE_DEADLINE, s.EMISARIO_PROBE_PORTS, s.EMISARIO_PLAINTEXT_AUTH_ALLOW, "
        "s.AXES_COOLOFF_TIME.total_seconds(), s.AXES_FAILURE_LIMIT, s.EMISARIO_PROXY_COUNT, "
        "s.DEBUG, s.EMISARIO_PROBE_RATE, s.EMISARIO_SETTINGS_PROBLEMS == []]",
        EMISARIO_PROBE_DEADLINE="2.5",
        EMISARIO_PROBE_PORTS="587,2525",
        EMISARIO_PLAINTEXT_AUTH_ALLOW="10.0.0.0/8, relay.intranet",
        EMISARIO_LOGIN_COOLOFF_MINUTES="30",
        EMISARIO_LOGIN_FAILURE_LIMIT="8",
        EMISARIO_PROXY_COUNT="1",
        EMISARIO_DEBUG="Sí",
        EMISARIO_PROBE_RATE_COUNT="3",
    )
    assert seen == [
        2.5,
        [587, 2525],
        ["10.0.0.0/8", "relay.intranet"],
        1800.0,
        8,
        1,
        True,
        [3, 60],
        True,
    ]


def test_the_defaults(tmp_path):
    seen = settings_seen(
        tmp_path,
        "[s.EMISARIO_PROBE_DEADLINE, s.EMISARIO_PROBE_PORTS, s.EMISARIO_PLAINTEXT_AUTH_ALLOW, "
        "s.AXES_COOLOFF_TIME.total_seconds(), s.AXES_FAILURE_LIMIT, s.EMISARIO_PROXY_COUNT, "
        "s.EMISARIO_LOGIN_ADDRESS_FAILURE_LIMIT, s.DEBUG, s.TIME_ZONE]",
    )
    assert seen == [10.0, [25, 465, 587, 2525], [], 900.0, 5, 0, 50, False, "America/Mexico_City"]


def test_cool_off_zero_means_until_an_administrator_lifts_it(tmp_path):
    seen = settings_seen(tmp_path, "s.AXES_COOLOFF_TIME", EMISARIO_LOGIN_COOLOFF_MINUTES="0")
    assert seen is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [("EMISARIO_WORKERS", "two"), ("EMISARIO_THREADS", "0"), ("EMISARIO_TIMEOUT", "60s")],
    ids=["workers", "threads", "timeout"],
)
def test_gunicorns_settings_are_read_by_the_same_parser(variable, value):
    import subprocess
    import sys

    env = {**os.environ, variable: value}
    done = subprocess.run(
        [sys.executable, "-c", "import emisario.config.gunicorn"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"{variable}={value!r}" in done.stderr and "Traceback" not in done.stderr
