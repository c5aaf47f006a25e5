"""``bin/bootstrap``: ``bin/demo`` installs only what the demo needs, each profile installs once,
and apt-get waits for Debian's package lock and says why it cannot run."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
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


def sourced(call: str, *args: str, user: list[str] | None = None, timeout: str = "30"):
    """A function of bin/bootstrap (sourced: only its functions), optionally as another user."""
    script = f'source "{ROOT}/bin/bootstrap" && {call} "$@"'
    return subprocess.run(
        [*(user or []), "bash", "-c", script, call, *args],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "EMISARIO_APT_LOCK_TIMEOUT": timeout},
    )  # fmt: skip


def apt_get(*args: str, user: list[str] | None = None, timeout: str = "30"):
    return sourced("apt_get", *args, user=user, timeout=timeout)


APT_LOCKS = (
    "/var/lib/dpkg/lock-frontend",
    "/var/lib/dpkg/lock",
    "/var/lib/apt/lists/lock",
    "/var/cache/apt/archives/lock",
)
HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)  # what apt and dpkg take (fcntl, not flock)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@contextlib.contextmanager
def lock_held(path: str, seconds: float):
    """Another package manager: holds Debian's lock ``path`` for ``seconds``, then lets go."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, path, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@as_root
def test_apt_get_waits_for_another_package_manager():
    with lock_held("/var/lib/dpkg/lock-frontend", 3) as holder:
        # Installing what is installed: takes the lock, changes nothing, needs no network.
        done = apt_get("install", "-y", "coreutils")
        released = holder.poll() is not None
    assert done.returncode == 0, done.stdout + done.stderr
    assert "waiting for another package manager to finish" in done.stderr
    assert released  # it finished after the other one let go, instead of failing at once


@as_root
def test_apt_get_update_waits_for_the_lists_lock():
    """``apt-get update`` itself fails at once while /var/lib/apt/lists/lock is held (apt-daily
    at boot), whatever DPkg::Lock::Timeout says: bin/bootstrap waits for it. Reaches Debian's
    mirrors (about a second here)."""
    with lock_held("/var/lib/apt/lists/lock", 3) as holder:
        done = apt_get("update")
        released = holder.poll() is not None
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Could not get lock" not in done.stderr, done.stderr
    assert done.stderr.count("waiting for another package manager to finish") == 1, done.stderr
    assert f"process {holder.pid} python" in done.stderr, done.stderr
    assert "/var/lib/apt/lists/lock" in done.stderr
    assert released


@as_root
def test_at_the_timeout_apt_get_runs_anyway_and_shows_apt_s_own_error():
    with lock_held("/var/lib/apt/lists/lock", 30):
        started = time.monotonic()
        done = apt_get("update", timeout="2")
        took = time.monotonic() - started
    assert done.returncode != 0, done.stdout + done.stderr
    assert "waiting for another package manager to finish" in done.stderr
    assert "Could not get lock /var/lib/apt/lists/lock" in done.stderr, done.stderr
    # It waited for EMISARIO_APT_LOCK_TIMEOUT (bash's $SECONDS ticks in whole seconds: 1-2 s of
    # 2), not for the holder and not failing at once as apt-get update alone does.
    assert 1 <= took < 15, took


@as_root
def test_a_bad_timeout_is_named():
    done = apt_get("update", timeout="5m")
    assert done.returncode == 1
    assert "EMISARIO_APT_LOCK_TIMEOUT must be a number of seconds, not '5m'" in done.stderr


@as_root
@pytest.mark.parametrize("path", APT_LOCKS)
def test_the_lock_check_sees_each_of_apt_s_locks(path):
    with lock_held(path, 30) as holder:
        held = sourced("apt_lock_held")
    assert held.returncode == 0, held.stdout + held.stderr
    holds = held.stdout.strip()
    assert holds.startswith(f"process {holder.pid} ") and holds.endswith(f" holds {path}"), holds
    assert sourced("apt_lock_held").returncode == 1  # released: nothing holds any lock


SPY = """
import fcntl, os, select, struct, sys
FLOCK = "hhqqi4x"
fds = [os.open(path, os.O_RDONLY) for path in sys.argv[1:]]
holders, rounds = set(), 0
print("watching", flush=True)
while rounds % 1000 or not select.select([sys.stdin], [], [], 0)[0]:  # until stdin closes
    rounds += 1
    for fd in fds:  # F_GETLK: who holds it, without taking it
        query = struct.pack(FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        kind, _, _, _, pid = struct.unpack(FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
        if kind != fcntl.F_UNLCK:
            holders.add(pid)
print(sorted(holders), flush=True)
"""


@as_root
def test_the_lock_check_never_takes_a_lock():
    """An apt starting while the check ran would fail on a lock the check took: a watcher asking
    who holds the locks, as often as it can, sees no one while the check runs 20 times (it saw
    the old check, which took and released each lock, in most of its runs)."""
    spy = subprocess.Popen(
        [sys.executable, "-c", SPY, *APT_LOCKS],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert spy.stdout.readline().strip() == "watching"
        checks = [sourced("apt_lock_held").returncode for _ in range(20)]
        holders = spy.communicate(timeout=30)[0].strip()  # closes its stdin: it stops
    finally:
        spy.kill()
        spy.wait()
    assert checks == [1] * 20  # nothing held: each said free
    assert holders == "[]", holders


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
