"""``bin/bootstrap``: ``bin/demo`` installs only what the demo needs, each profile installs once,
and apt-get waits for Debian's package lock and says why it cannot run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_TOOLS = {"pytest", "pytest-django", "pytest-xdist", "playwright", "hypothesis", "mypy", "ruff"}
as_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("apt-get"),
    reason="Debian's package lock and apt-get are only reachable as root on Debian",
)


def requirement_names(extras: str) -> set[str]:
    """The distributions ``pip install -e .[extras]`` asks for (dependencies included)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras.split(","):
        requirements += project["optional-dependencies"][extra]
    return {re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower() for spec in requirements}


def dry_run(command: list[str]) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "EMISARIO_BOOTSTRAP_DRY_RUN": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_bin_demo_installs_the_demo_profile_without_any_test_tool():
    output = dry_run(["bin/demo", "--help"])
    [extras] = re.findall(r"would install: -e \.\[([a-z,]+)\]", output)
    assert extras == "demo"
    names = requirement_names(extras)
    assert {"django", "aiosmtpd", "trustme"} <= names
    assert names.isdisjoint(TEST_TOOLS), names & TEST_TOOLS
    assert "--smtp-port" in output  # and then the demo itself ran


def test_the_test_profile_installs_the_rest():
    output = dry_run(["bin/bootstrap", "test"])
    [extras] = re.findall(r"would install: -e \.\[([a-z,]+)\]", output)
    assert requirement_names(extras) >= TEST_TOOLS
    assert requirement_names("demo") <= requirement_names(extras)


# -- stamps: a checkout copy whose .venv/bin/python records what pip was asked -------------------


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "bin").mkdir()
    shutil.copy(ROOT / "bin" / "bootstrap", tmp_path / "bin" / "bootstrap")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    recorder = venv_bin / "python"
    recorder.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/../pip.log"\n')
    recorder.chmod(0o755)
    return tmp_path


def bootstrap(checkout: Path, profile: str) -> list[str]:
    log = checkout / ".venv" / "pip.log"
    log.unlink(missing_ok=True)
    done = subprocess.run(
        [str(checkout / "bin" / "bootstrap"), profile],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if "-e " in line]


def test_each_profile_installs_once_and_test_after_demo_installs_the_rest(checkout):
    [install] = bootstrap(checkout, "demo")
    assert install.endswith("-e .[demo]")
    assert bootstrap(checkout, "demo") == []
    [install] = bootstrap(checkout, "test")
    assert install.endswith("-e .[test,demo]")
    assert bootstrap(checkout, "test") == []
    assert bootstrap(checkout, "demo") == []  # the test profile holds the demo's too
    with (checkout / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# changed\n")
    assert len(bootstrap(checkout, "demo")) == 1


# -- Debian's package lock -----------------------------------------------------------------------


def apt_get(*args: str, user: list[str] | None = None) -> subprocess.CompletedProcess:
    """``apt_get`` from bin/bootstrap (sourced: only its functions), optionally as another user."""
    script = f'source "{ROOT}/bin/bootstrap" && apt_get "$@"'
    return subprocess.run(
        [*(user or []), "bash", "-c", script, "apt_get", *args],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "EMISARIO_APT_LOCK_TIMEOUT": "30"},
    )  # fmt: skip


HOLDER = """
import fcntl, os, sys, time
fd = os.open("/var/lib/dpkg/lock-frontend", os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)  # what apt and dpkg take (fcntl, not flock)
print("held", flush=True)
time.sleep(3)
"""


@as_root
def test_apt_get_waits_for_another_package_manager():
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        # Installing what is installed: takes the lock, changes nothing, needs no network.
        done = apt_get("install", "-y", "coreutils")
        released = holder.poll() is not None
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "waiting for another package manager to finish" in done.stderr
    assert released  # it finished after the other one let go, instead of failing at once


@as_root
def test_as_root_a_failure_shows_apt_s_own_error():
    done = apt_get("install", "-y", "emisario-no-such-package")
    assert done.returncode != 0
    assert "Unable to locate package emisario-no-such-package" in done.stderr
    assert "root" not in done.stderr and "sudo" not in done.stderr


@as_root
def test_without_root_or_sudo_it_says_to_run_as_root_or_with_sudo():
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if subprocess.run([*nobody, "sudo", "-n", "true"], capture_output=True).returncode == 0:
        pytest.skip("nobody has passwordless sudo here")
    done = apt_get("install", "-y", "coreutils", user=nobody)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "run bin/bootstrap as root or with sudo" in done.stderr
