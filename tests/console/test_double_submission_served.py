"""Point 11 under real concurrency: the same form sent by several requests at the same moment
to ``bin/serve`` (gunicorn, 2 processes x 4 threads) saves one account, on a file SQLite
database and on PostgreSQL. A check in the session could not do this (every request reads
the session before any writes it); the unique constraint on the form's token does."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.config.client import Client
from tests.config.serving import REPO, emisario, prepare_database, production_env, serve

ROUNDS, AT_ONCE = 4, 4
SCREEN = "/cxc/sistema/envio-de-correos/smtp/?empresa=ACME"
TOKEN = re.compile(r'name="envio" value="([^"]+)"')


def press_guardar_at_once(database_url, tmp_path):
    """ROUNDS times: open the screen, then AT_ONCE requests send that one page's Guardar
    together. Returns each round's responses and the number of accounts stored."""
    env = production_env(
        tmp_path,
        database_url,
        EMISARIO_PROBE_ALLOW="127.0.0.1",
        EMISARIO_WORKERS="2",
        EMISARIO_THREADS="4",
    )
    seeded = prepare_database(env, {"emisopt": ["cobros"]})
    session = seeded["sessions"]["cobros"]
    rounds = []
    with serve([str(REPO / "bin" / "serve")], env, tmp_path / "serve.log") as server:
        for number in range(ROUNDS):
            page = Client(server.base, jar={"sessionid": session})
            screen = page.get(SCREEN)
            assert screen.status == 200, screen.text[:300]
            form = {
                "empresa": "ACME",
                "host": "127.0.0.1",
                "port": "2525",
                "sender": f"ronda{number}@acme.example",
                "password": "Clave-de-prueba-9",
                "ssl": "on",
                "security": "",
                "account_type": str(seeded["interno"]),
                "priority": "3",
                "enabled": "on",
                "scope": "company",
                "action": "guardar",
                "envio": TOKEN.search(screen.text).group(1),
            }
            barrier = threading.Barrier(AT_ONCE)

            def click(_, page=page, form=form, barrier=barrier):
                client = Client(server.base, jar=dict(page.jar), csrf_token=page.csrf_token)
                barrier.wait(timeout=60)
                return client.post(SCREEN, form)

            with ThreadPoolExecutor(AT_ONCE) as pool:
                rounds.append(list(pool.map(click, range(AT_ONCE))))
        log = server.output()
    counted = emisario(
        env,
        "shell",
        "-c",
        "from emisario.accounts.models import SmtpAccount as A; "
        "print(A.objects.count(), A.objects.values('sender').distinct().count())",
    )
    assert counted.returncode == 0, counted.stderr
    accounts, senders = map(int, counted.stdout.strip().splitlines()[-1].split())
    return rounds, accounts, senders, log


def assert_one_account_per_page(rounds, accounts, senders, log):
    for responses in rounds:
        statuses = [r.status for r in responses]
        assert statuses == [302] * AT_ONCE, (statuses, log[-3000:])
        assert len({r.header("Location") for r in responses}) == 1  # all see the same account
    assert (accounts, senders) == (ROUNDS, ROUNDS)
    assert "database is locked" not in log


def test_guardar_sent_at_once_saves_once_on_sqlite(sqlite_url, tmp_path):
    assert_one_account_per_page(*press_guardar_at_once(sqlite_url, tmp_path))


@pytest.mark.postgres
def test_guardar_sent_at_once_saves_once_on_postgresql(postgres_url, tmp_path):
    assert_one_account_per_page(*press_guardar_at_once(postgres_url, tmp_path))
