"""``bin/demo`` (``python -m emisario.demo.run``): it stops on a bad setting or a busy port
before it serves or says it is ready, and ``--help`` needs nothing from the test tools."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import urllib.request
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
    while len(ports) < 5:
        ports.add(free_port())
    web, smtp, smtps, oauth, oauth_smtp = (str(port) for port in ports)
    return [
        "--port", web, "--smtp-port", smtp, "--smtps-port", smtps,
        "--oauth-port", oauth, "--oauth-smtp-port", oauth_smtp,
    ]  # fmt: skip


def test_a_bad_setting_stops_the_demo_with_the_variable_and_the_fix(tmp_path):
    done = demo(tmp_path, *free_ports(), EMISARIO_PROBE_DEADLINE="10s")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "emisario.E010" in done.stderr and "EMISARIO_PROBE_DEADLINE" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Starting development server" not in done.stdout
    assert not (tmp_path / "var" / "emisario.sqlite3").exists()  # nothing migrated


@pytest.mark.parametrize(
    "option", ["--port", "--smtp-port", "--smtps-port", "--oauth-port", "--oauth-smtp-port"]
)
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


def test_one_port_given_to_two_options_stops_the_demo_naming_both(tmp_path):
    port, other, oauth, oauth_smtp = free_ports()[1::2][:4]
    done = demo(
        tmp_path, "--port", port, "--smtp-port", port, "--smtps-port", other,
        "--oauth-port", oauth, "--oauth-smtp-port", oauth_smtp,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout + done.stderr
    assert f"--port and --smtp-port are both {port}" in done.stderr, done.stderr
    [suggested] = re.findall(r"e\.g\. bin/demo --smtp-port (\d+)", done.stderr)
    assert suggested not in (port, other)
    assert "Traceback" not in done.stderr and "Emisario demo" not in done.stdout
    assert not (tmp_path / "var" / "emisario.sqlite3").exists()


def test_the_same_port_three_times_moves_two_of_them():
    from emisario.demo.run import busy_port_errors

    port = int(free_ports()[1])
    others = [int(p) for p in free_ports()[7::2]]
    [error] = busy_port_errors(
        argparse.Namespace(
            port=port, smtp_port=port, smtps_port=port,
            oauth_port=others[0], oauth_smtp_port=others[1],
        )
    )  # fmt: skip
    assert f"--port, --smtp-port and --smtps-port are all {port}" in error, error
    [(smtp, smtps)] = re.findall(r"bin/demo --smtp-port (\d+) --smtps-port (\d+)$", error)
    assert len({port, int(smtp), int(smtps)}) == 3, error


def listening_pair() -> tuple[socket.socket, socket.socket]:
    """Two listeners on neighbouring ports, P and P + 1."""
    for _ in range(50):
        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        second = socket.socket()
        try:
            second.bind(("127.0.0.1", first.getsockname()[1] + 1))
        except OSError:
            first.close()
            second.close()
            continue
        first.listen()
        second.listen()
        return first, second
    pytest.fail("no two neighbouring free ports")


def test_the_suggested_port_is_free_now_even_when_the_next_one_is_busy():
    from emisario.demo.run import busy_port_errors

    first, second = listening_pair()
    with first, second:
        busy, next_busy = first.getsockname()[1], second.getsockname()[1]
        web, smtps, oauth, oauth_smtp = (int(port) for port in free_ports()[1::2][1:])
        args = argparse.Namespace(
            port=web, smtp_port=busy, smtps_port=smtps, oauth_port=oauth,
            oauth_smtp_port=oauth_smtp,
        )  # fmt: skip
        [error] = busy_port_errors(args)
        assert f"port {busy} (mailbox, STARTTLS) is already in use" in error, error
        [suggested] = (int(port) for port in re.findall(r"bin/demo --smtp-port (\d+)$", error))
        assert suggested not in (busy, next_busy, web, smtps, oauth, oauth_smtp), error
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", suggested))  # free: the demo could listen there


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
        # Microsoft 365 as it is now: a mailbox that takes only OAuth tokens, and its sign-in
        assert "Conectar con Microsoft" in text
        oauth_smtp = int(args[args.index("--oauth-smtp-port") + 1])
        with smtplib.SMTP("127.0.0.1", oauth_smtp, timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.ehlo()
            assert "XOAUTH2" in smtp.esmtp_features["auth"].upper()
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                smtp.login(user, password)
            assert b"5.7.139" in refused.value.smtp_error
        oauth_port = int(args[args.index("--oauth-port") + 1])
        found = json.loads(
            urllib.request.urlopen(
                f"http://127.0.0.1:{oauth_port}/organizations/v2.0/.well-known/openid-configuration",
                timeout=10,
            ).read()
        )
        assert found["token_endpoint"].startswith(f"http://127.0.0.1:{oauth_port}/")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_demo_s_cronus_delivers_what_bin_demo_cli_queues(tmp_path):
    """The demo runs CRONUS: a message queued with ``bin/demo-cli send`` lands in the demo
    mailbox's Maildir through the system default account, and SIGTERM stops the worker too."""
    import time

    args = free_ports()
    env = {**os.environ, "EMISARIO_HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "emisario.demo.run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    try:
        for line in process.stdout:
            if "Press Ctrl+C" in line:
                break
        smtp_port = args[args.index("--smtp-port") + 1]
        queued = subprocess.run(
            [sys.executable, "-m", "emisario.demo.cli", "send", "--company", "ACME",
             "--to", "cliente@clientes.example", "--subject", "Estado de cuenta de prueba",
             "--text-file", "-"],
            input="Adjuntamos su estado de cuenta.\n", capture_output=True, text=True,
            cwd=tmp_path, env={**env, "EMISARIO_PROBE_PORTS": f"2525,{smtp_port}"},
        )  # fmt: skip
        assert queued.returncode == 0, queued.stderr
        new = tmp_path / "var" / "demo-mailbox" / "new"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (new.exists() and any(new.iterdir())):
            time.sleep(0.2)
        delivered = list(new.iterdir()) if new.exists() else []
        log = (tmp_path / "var" / "cronus.log").read_text()
        assert len(delivered) == 1, log
        assert b"Subject: Estado de cuenta de prueba" in delivered[0].read_bytes()
        assert '"outcome": "sent"' in log
    finally:
        process.send_signal(signal.SIGTERM)  # as a service manager stops it
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log = (tmp_path / "var" / "cronus.log").read_text()
    assert '"event": "stop"' in log  # the worker was stopped, not orphaned
