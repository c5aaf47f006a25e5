"""Twenty people press Probar at the same moment on a real server process: none gets an error.

Each of 20 users (each with a rate limit of their own) has the SMTP screen open; a barrier
releases all the Probar requests at once against ``bin/serve`` (gunicorn, 2 processes x 10
threads) on a file database, and a real SMTP mailbox (aiosmtpd, STARTTLS, its own CA) answers.
Every request must come back 200 with the seed's success message, and every mail must arrive.
On SQLite this needs WAL, a busy timeout and immediate transactions (the rate-limit record is
read, then written); on PostgreSQL the row lock does it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from emisario.demo.mailbox import STARTTLS, LoopbackSmtpd
from tests.config.client import Client
from tests.config.serving import REPO, prepare_database, production_env, serve

PEOPLE = 20
MAILBOX_USER, MAILBOX_PASSWORD = "cobranza@acme.example", "Buzon-Clave-7"
SMTP_SCREEN = "/cxc/sistema/envio-de-correos/smtp/?empresa=ACME"
SUCCESS = "Correo enviado satisfactoriamente"


@pytest.fixture(scope="module")
def mailbox():
    with LoopbackSmtpd({MAILBOX_USER: MAILBOX_PASSWORD}, listeners=(STARTTLS,)) as server:
        yield server


def press_probar_at_once(database_url, mailbox, tmp_path):
    """Serve ``database_url``, let PEOPLE users press Probar together; their responses."""
    ca_file = tmp_path / "mailbox-ca.pem"
    mailbox.ca.cert_pem.write_to_path(str(ca_file))
    mailbox.messages.clear()
    port = mailbox.port(STARTTLS)
    env = production_env(
        tmp_path,
        database_url,
        EMISARIO_PROBE_ALLOW="127.0.0.1",
        EMISARIO_PROBE_PORTS=str(port),
        EMISARIO_PROBE_CA_FILE=str(ca_file),
        EMISARIO_WORKERS="2",
        EMISARIO_THREADS=str(PEOPLE // 2),
    )
    users = [f"cobros{n:02d}" for n in range(PEOPLE)]
    seeded = prepare_database(env, {"emisopt": users})
    form = {
        "empresa": "ACME",
        "host": "127.0.0.1",
        "port": str(port),
        "sender": MAILBOX_USER,
        "password": MAILBOX_PASSWORD,
        "ssl": "on",
        "security": "",
        "account_type": str(seeded["interno"]),
        "priority": "3",
        "enabled": "on",
        "scope": "company",
        "action": "probar",
    }
    barrier = threading.Barrier(PEOPLE)

    def person(username):
        client = Client(server.base, jar={"sessionid": seeded["sessions"][username]})
        screen = client.get(SMTP_SCREEN)
        assert screen.status == 200, screen.text[:300]
        barrier.wait(timeout=60)
        return client.post(SMTP_SCREEN, form)

    with serve([str(REPO / "bin" / "serve")], env, tmp_path / "serve.log") as server:
        with ThreadPoolExecutor(PEOPLE) as pool:
            responses = list(pool.map(person, users))
        log = server.output()
    return responses, log


def assert_everyone_succeeded(responses, mailbox, log):
    statuses = [response.status for response in responses]
    assert statuses.count(500) == 0, f"{statuses.count(500)} of {PEOPLE} got HTTP 500\n{log}"
    assert statuses == [200] * PEOPLE, statuses
    failed = [r.text for r in responses if SUCCESS not in r.text]
    assert not failed, failed[0][-3000:]
    assert len(mailbox.messages) == PEOPLE
    assert "database is locked" not in log


def test_twenty_at_once_on_sqlite(sqlite_url, mailbox, tmp_path):
    responses, log = press_probar_at_once(sqlite_url, mailbox, tmp_path)
    assert_everyone_succeeded(responses, mailbox, log)


@pytest.mark.postgres
def test_twenty_at_once_on_postgresql(postgres_url, mailbox, tmp_path):
    responses, log = press_probar_at_once(postgres_url, mailbox, tmp_path)
    assert_everyone_succeeded(responses, mailbox, log)
