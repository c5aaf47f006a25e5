"""The README a newcomer reads first: every setting the code reads is in it, and it says how to
create an administrator and give people the groups and companies the screen needs."""

from __future__ import annotations

import re
from pathlib import Path

from emisario.demo import data

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
# env.text("EMISARIO_X"), _env.integer(\n "EMISARIO_X", os.environ.get("EMISARIO_X"), ...
PYTHON_READ = re.compile(
    r"""(?:\b_?env\.\w+\(|os\.environ(?:\.get|\.setdefault)?[\[(]|os\.getenv\()\s*["'](EMISARIO_\w+)"""
)
SHELL_READ = re.compile(r"\$\{!?(EMISARIO_\w+)")


def variables_read() -> set[str]:
    names = set()
    for path in (ROOT / "src").rglob("*.py"):
        names |= set(PYTHON_READ.findall(path.read_text()))
    for path in [*(ROOT / "bin").iterdir(), ROOT / ".ci" / "run"]:
        names |= set(SHELL_READ.findall(path.read_text()))
    return names


def test_the_search_finds_the_settings():
    names = variables_read()
    assert {"EMISARIO_SECRET_KEYS", "EMISARIO_BIND", "EMISARIO_DEMO_MAILDIR"} <= names
    assert {"EMISARIO_TIME_ZONE", "EMISARIO_HOME", "EMISARIO_APT_LOCK_TIMEOUT"} <= names


def test_every_variable_the_code_reads_is_in_the_readme():
    documented = set(re.findall(r"`(EMISARIO_\w+)`", README))
    assert variables_read() <= documented, sorted(variables_read() - documented)


def test_the_readme_says_how_to_create_an_administrator():
    section = README.split("## Creating an administrator", 1)[1].split("\n## ", 1)[0]
    assert "emisario createsuperuser" in section
    assert "DJANGO_SETTINGS_MODULE=emisario.config.settings.demo" in section
    assert "DJANGO_SETTINGS_MODULE=emisario.config.settings.production" in section
    for group in data.GROUP_OF.values():  # the groups the first migrations create
        assert group in section
    assert "EMISOPT" in section and "PCSMTPG" in section and "miembros" in section
