"""``emisario cronus --status`` says what an operator needs, and on PostgreSQL a queued message
wakes an idle worker at once (LISTEN/NOTIFY), not at its next poll."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import call_command

from emisario.core.smtp.steps import Step
from emisario.outbox.models import CompanyHold
from tests.config import serving
from tests.outbox.cronus_support import account_on, queue_statement, run_cronus
from tests.support.cronus_harness import VENV_BIN, Rig, recording_smtpd
from tests.support.smtpd import Script


@pytest.mark.django_db
@pytest.mark.usefixtures("cronus_settings")
def test_status_prints_the_queue_by_status_and_account_and_what_is_paused(
    acme, otra, smtpd_factory
):
    healthy = smtpd_factory()
    refusing = smtpd_factory(Script(replies={Step.AUTH: "535 5.7.8 bad credentials"}))
    account_on(healthy, acme)
    account_on(refusing, otra)
    for n in range(3):
        queue_statement(n)
    queue_statement(9, company="OTRA")
    run_cronus()
    CompanyHold.objects.create(company=otra, reason="auditoría")
    out = StringIO()
    call_command("cronus", "--status", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["statuses"]["sent"] == 3
    assert data["statuses"]["queued"] + data["statuses"]["deferred"] == 1
    assert data["expired_leases"] == 0
    assert data["held_companies"] == ["OTRA"]
    (broken,) = data["account_health"]
    assert broken["breaker"] == "open" and broken["paused_until"]
    assert sorted(data["accounts"].values(), key=str) == [{"deferred": 1}, {"sent": 3}]
    text = StringIO()
    call_command("cronus", "--status", stdout=text)
    shown = text.getvalue()
    assert "sent" in shown and "Companies paused: OTRA" in shown and "breaker open" in shown


ENQUEUE = """
import django; django.setup()
from emisario.outbox.services import enqueue
enqueue(company="ACME", to=["despertar@clientes.example"], subject="wake up", text="x")
"""


@pytest.mark.postgres
@pytest.mark.postgres_pass
def test_a_queued_message_wakes_an_idle_worker_at_once(postgres_url, tmp_path):
    with recording_smtpd() as server, Rig(tmp_path, postgres_url, server) as rig:
        rig.prepare(1)
        worker = rig.start("idle", "--poll", "30")  # its next look on its own: 30 s away
        assert server.wait_for(lambda s: len(s.snapshot()) == 1, 30), worker.describe()
        time.sleep(1.0)  # now idle, waiting
        queued = serving.run([str(VENV_BIN / "python"), "-c", ENQUEUE], rig.env, cwd=tmp_path)
        assert queued.returncode == 0, queued.stderr
        woke = time.monotonic()
        assert server.wait_for(lambda s: len(s.snapshot()) == 2, 10), (
            "not woken by NOTIFY: it waited for its poll\n" + worker.describe()
        )
        assert time.monotonic() - woke < 10
        stopped = time.monotonic()
        worker.terminate()  # idle on its 30 s wait: SIGTERM must not wait for it
        assert worker.wait(30) == 0, worker.describe()
        assert time.monotonic() - stopped < 5
