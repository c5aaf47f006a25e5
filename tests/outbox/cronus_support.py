"""In-process CRONUS for tests: a worker in the test's own thread (``threads=False``), so it
sees the test's database, against real aiosmtpd servers on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emisario.demo.mailbox import PLAIN, STARTTLS, TLS
from emisario.outbox.models import OutboundMessage
from emisario.outbox.services import enqueue
from emisario.outbox.worker import Cronus, Options
from tests.factories import make_account
from tests.support.scenarios import PASSWORD, SENDER


def run_cronus(**options) -> Cronus:
    """One ``--once`` run in this thread; returns the worker (its counters)."""
    options.setdefault("worker_id", "test-worker")
    options.setdefault("once", True)
    options.setdefault("threads", False)
    options.setdefault("lease", timedelta(seconds=30))
    cronus = Cronus(Options(**options))
    cronus.run()
    return cronus


@pytest.fixture
def cronus_settings(settings, ca, tmp_path):
    """Loopback and every port allowed, the test CA trusted: the worker's network policy is
    Probar's, so the tests must open it as an administrator would."""
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings.EMISARIO_PROBE_CA_FILE = str(ca_file)
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    settings.EMISARIO_PROBE_PORTS = list(range(1024, 65536))
    settings.EMISARIO_GENERIC_SMTP_URL = ""
    return settings


def account_on(server, company, *, mode: str = STARTTLS, priority: int = 5, **fields):
    """An INTERNO account of ``company`` (None: a system default account) on ``server``."""
    security = {PLAIN: "none", STARTTLS: "starttls", TLS: "tls"}[mode]
    values = {
        "host": "127.0.0.1",
        "port": server.ports[mode],
        "security": security,
        "sender": SENDER,
        "priority": priority,
        "password": PASSWORD,
    }
    values.update(fields)
    return make_account(company, **values)


def queue_statement(n: int = 1, **fields) -> OutboundMessage:
    values = {
        "company": "ACME",
        "to": [f"cliente{n}@clientes.example"],
        "subject": f"Estado de cuenta {n}",
        "text": f"Estimado cliente {n}:\nAdjuntamos su estado de cuenta.\n",
        "html": f"<p>Estimado cliente {n}</p>",
    }
    values.update(fields)
    return enqueue(**values)


def fresh(message: OutboundMessage) -> OutboundMessage:
    return OutboundMessage.objects.get(pk=message.pk)
