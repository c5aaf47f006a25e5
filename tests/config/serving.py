"""A real production server for the tests: ``bin/serve`` or gunicorn as a subprocess.

The database is a file (SQLite in the test's folder, or a PostgreSQL database of the test's
own) migrated and seeded by subprocesses with the same settings the server uses, so nothing of
pytest's in-memory test database leaks in. Servers listen on port 0; the port is read back
from gunicorn's "Listening at" line.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from emisario.core.secrets import SecretBox

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
LISTENING = re.compile(r"Listening at: https?://127\.0\.0\.1:(\d+)")
START_WAIT = 60
"""Seconds the server may take to start (check, collectstatic, boot); a wait, not a measure."""


def production_env(home: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a deployment behind a TLS proxy that sets ``X-Forwarded-Proto``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EMISARIO_", "DJANGO_", "DATABASE_URL", "PYTEST_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="emisario.config.settings.production",
        EMISARIO_HOME=str(home),
        DATABASE_URL=database_url,
        EMISARIO_SECRET_KEY=secrets.token_urlsafe(50),
        EMISARIO_SECRET_KEYS=SecretBox.generate_key(),
        EMISARIO_PROXY_SSL_HEADER="X-Forwarded-Proto",
        EMISARIO_BIND="127.0.0.1:0",
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]),
    )
    env.update(extra)
    return env


def run(
    command: list[str],
    env: Mapping[str, str],
    stdin: str | None = None,
    *,
    cwd: Path | str = REPO,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``command`` in ``cwd`` (the checkout) with ``env``; output captured, never raises."""
    return subprocess.run(
        command,
        input=stdin,
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def emisario(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``emisario <args>`` (manage.py) with ``env``."""
    return run([str(VENV_BIN / "emisario"), *args], env)


def prepare_database(env: Mapping[str, str], spec: Mapping[str, object]) -> dict:
    """Migrate, then create what ``spec`` asks (see ``tests/config/seed.py``); its answer."""
    migrated = emisario(env, "migrate", "--no-input", "--verbosity", "0")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    seeded = run([sys.executable, "-m", "tests.config.seed"], env, stdin=json.dumps(spec))
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    return json.loads(seeded.stdout.strip().splitlines()[-1])


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve(command: list[str], env: Mapping[str, str], log: Path) -> Iterator[Server]:
    """Run ``command`` (bin/serve or gunicorn) until the block ends; stop it with SIGTERM."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            env=dict(env),
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        port = _wait_for_port(process, log)
        yield Server(process, port, log)
    finally:
        _stop(process)


def gunicorn_command(*options: str) -> list[str]:
    """gunicorn with bin/serve's configuration module, plus ``options``."""
    return [
        str(VENV_BIN / "gunicorn"),
        "--config",
        "python:emisario.config.gunicorn",
        *options,
        "emisario.config.wsgi",
    ]


def _wait_for_port(process: subprocess.Popen, log: Path) -> int:
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        found = LISTENING.search(log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"the server did not start:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
