"""``bin/demo`` (``python -m emisario.demo.run``): it stops on a bad setting or a busy port
before it serves or says it is ready, and ``--help`` needs nothing from the test tools."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_TOOLS = ("pytest", "_pytest", "playwright", "hypothesis", "mypy", "ruff", "polib", "xdist")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def demo(tmp_path: Path, *args: str, python_options: tuple[str, ...] = (), **env_vars: str):
    env = {**os.environ, "EMISARIO_HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    env.update(env_vars)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, *python_options, "-m", "emisario.demo.run", *args],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip


def free_ports() -> list[str]:
    ports = set()
    while len(ports) < 3:
        ports.add(free_port())
    web, smtp, smtps = (str(port) for port in ports)
    return ["--port", web, "--smtp-port", smtp, "--smtps-port", smtps]


def test_a_bad_setting_stops_the_demo_with_the_variable_and_the_fix(tmp_path):
    done = demo(tmp_path, *free_ports(), EMISARIO_PROBE_DEADLINE="10s")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "emisario.E010" in done.stderr and "EMISARIO_PROBE_DEADLINE" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Starting development server" not in done.stdout
    assert not (tmp_path / "var" / "emisario.sqlite3").exists()  # nothing migrated


@pytest.mark.parametrize("option", ["--port", "--smtp-port", "--smtps-port"])
def test_a_busy_port_stops_the_demo_before_its_ready_banner(tmp_path, option):
    args = free_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        args[args.index(option) + 1] = str(busy)
        done = demo(tmp_path, *args)
    assert done.returncode != 0, done.stdout + done.stderr
    assert f"port {busy}" in done.stderr and f"{option} " in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    for banner in ("Emisario demo", "Console:", "Logins:", "Starting development server"):
        assert banner not in done.stdout
    assert not (tmp_path / "var" / "emisario.sqlite3").exists()  # nothing started


def test_help_lists_the_ports_and_imports_no_test_tool(tmp_path):
    """``bin/demo --help`` on a demo-only install: no test extra may be imported."""
    done = demo(tmp_path, "--help", python_options=("-X", "importtime"))
    assert done.returncode == 0, done.stderr
    assert "--smtp-port" in done.stdout and "--smtps-port" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    tops = {name.split(".")[0] for name in imported}
    assert tops.isdisjoint(TEST_TOOLS), sorted(tops & set(TEST_TOOLS))
    assert "emisario.core.secrets" in imported  # the measurement saw the demo's imports


def test_the_demo_prints_the_mailbox_credentials_and_its_mailbox_asks_for_them(tmp_path):
    """The whole demo on free ports: the banner names the logins and the mailbox's Usuario and
    Contraseña, and that mailbox refuses MAIL before AUTH and takes it after."""
    from emisario.demo import data

    args = free_ports()
    env = {**os.environ, "EMISARIO_HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "emisario.demo.run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    try:
        banner = []
        for line in process.stdout:
            banner.append(line)
            if "Press Ctrl+C" in line:
                break
        text = "".join(banner)
        assert "Press Ctrl+C" in text, text
        user, password = next(iter(data.MAILBOX_USERS.items()))
        assert f"Usuario {user}, Contraseña {password}" in text
        for login in data.LOGINS:
            assert f"{login.username} / {login.password}" in text
        smtp_port = int(args[args.index("--smtp-port") + 1])
        context = ssl.create_default_context(cafile=str(tmp_path / "var" / "demo-ca.pem"))
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.ehlo()
            assert smtp.mail(user)[0] == 530
            smtp.rset()
            smtp.login(user, password)
            assert smtp.mail(user)[0] == 250
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
