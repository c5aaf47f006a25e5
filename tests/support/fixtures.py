"""Pytest fixtures for real SMTP servers (aiosmtpd on loopback) and trustme certificates.

Every server listens on port 0, so tests run in parallel (pytest-xdist) without clashes.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

from emisario.core.netpolicy import NetworkPolicy
from emisario.demo.mailbox import STARTTLS, TLS, LoopbackSmtpd
from tests.support.scenarios import USERS, client_context, loopback_policy
from tests.support.smtpd import FaultySmtpd, Script


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The CA the test clients trust."""
    return trustme.CA()


@pytest.fixture(scope="session")
def untrusted_ca() -> trustme.CA:
    """A CA nobody trusts: its certificates must fail verification."""
    return trustme.CA()


@pytest.fixture
def tls_client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A verifying client context (Probar's default) that also trusts the test CA."""
    return client_context(ca)


@pytest.fixture
def smtpd_factory(ca: trustme.CA) -> Iterator[Callable[..., FaultySmtpd]]:
    """Start scripted servers (STARTTLS and implicit TLS listeners by default); all are
    stopped at teardown."""
    started: list[FaultySmtpd] = []

    def start(script: Script | None = None, **options: Any) -> FaultySmtpd:
        options.setdefault("listeners", (STARTTLS, TLS))
        server = FaultySmtpd(options.pop("users", USERS), ca=ca, script=script, **options)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtpd(smtpd_factory: Callable[..., FaultySmtpd]) -> FaultySmtpd:
    """A well-behaved server; change ``smtpd.script`` to break it."""
    return smtpd_factory()


@pytest.fixture
def loopback_policy_for(smtpd: FaultySmtpd) -> NetworkPolicy:
    """Loopback allowed, ports = the ones the ``smtpd`` fixture got."""
    return loopback_policy(*smtpd.ports.values())


CONSOLE_USER = "cobranza@acme.example"
CONSOLE_PASSWORD = "Buzon-Clave-7"


@pytest.fixture(scope="module")
def console_mailbox() -> Iterator[LoopbackSmtpd]:
    """A mailbox for console and browser tests: STARTTLS and implicit TLS, one user; like a
    real submission server it takes mail only after AUTH."""
    with LoopbackSmtpd({CONSOLE_USER: CONSOLE_PASSWORD}, listeners=(STARTTLS, TLS)) as server:
        yield server


@pytest.fixture(scope="module")
def open_relay() -> Iterator[LoopbackSmtpd]:
    """A mailbox that takes mail without AUTH, as no real submission server does: only for
    tests about what reaches a mailbox whatever is typed as the login (hostile values)."""
    with LoopbackSmtpd(listeners=(STARTTLS, TLS), auth_required=False) as server:
        yield server


def _probe_settings(settings, server: LoopbackSmtpd, tmp_path):
    ca_file = tmp_path / "mailbox-ca.pem"
    server.ca.cert_pem.write_to_path(str(ca_file))
    settings.EMISARIO_PROBE_CA_FILE = str(ca_file)
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    settings.EMISARIO_PROBE_PORTS = list(server.ports.values())
    settings.EMISARIO_PROBE_DEADLINE = 5.0
    server.messages.clear()
    return settings


@pytest.fixture
def console_probe_settings(settings, console_mailbox: LoopbackSmtpd, tmp_path):
    """Django settings that let Probar and Detectar reach ``console_mailbox`` and trust its
    CA; the mailbox starts empty."""
    return _probe_settings(settings, console_mailbox, tmp_path)


@pytest.fixture
def open_relay_probe_settings(settings, open_relay: LoopbackSmtpd, tmp_path):
    """:func:`console_probe_settings` for :func:`open_relay`."""
    return _probe_settings(settings, open_relay, tmp_path)
