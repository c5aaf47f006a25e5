"""Probar against real servers: every advice code from a real server or a real OS condition."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from emisario.core.netpolicy import NetworkPolicy
from emisario.core.smtp.advice import Advice
from emisario.core.smtp.diagnose import POLICY_REFUSED_TEXT, diagnose
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint
from emisario.core.smtp.redact import REDACTED
from emisario.core.smtp.steps import Step, StepStatus
from tests.requirements import skip_or_fail
from tests.support.scenarios import (
    PASSWORD,
    SCENARIOS,
    SHORT_DEADLINE,
    Case,
    Smtpd,
    _port_case,
    _raw,
)
from tests.support.smtpd import Script

ROOT = Path(__file__).resolve().parents[3]
LOCAL = [s for s in SCENARIOS if not s.isolated]
ISOLATED = [s for s in SCENARIOS if s.isolated]
SLACK = 5.0  # machines are noisy: only "ended, and not much after the deadline" is asserted


def _statuses(diagnosis) -> dict[Step, StepStatus]:
    return {result.step: result.status for result in diagnosis.steps}


def test_the_table_covers_every_advice_code():
    assert {scenario.advice for scenario in SCENARIOS} == set(Advice)


@pytest.mark.parametrize("scenario", LOCAL, ids=[s.name for s in LOCAL])
def test_scenario_gives_its_advice(scenario, ca):
    with scenario.open(ca) as case:
        started = time.monotonic()
        diagnosis = case.run()
        took = time.monotonic() - started
    failure = diagnosis.failure
    assert failure is not None, diagnosis.as_dict()
    assert (failure.step, failure.advice) == (case.step, case.advice), diagnosis.as_dict()
    assert not diagnosis.ok
    assert took < case.deadline + SLACK
    assert [r.status for r in diagnosis.steps].count(StepStatus.FAILED) == 1


def _unshare_works() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return f"unshare -n is not permitted here: {probe.stderr.decode().strip()}"
    return None


ISOLATED_RUN = """
import json, sys
from tests.support.scenarios import BY_NAME
with BY_NAME[sys.argv[1]].open() as case:
    print(json.dumps(case.run().as_dict()))
"""


@pytest.mark.parametrize("scenario", ISOLATED, ids=[s.name for s in ISOLATED])
def test_scenario_in_an_empty_network_namespace(scenario):
    """No interface is up in a fresh namespace: no route anywhere, no DNS server."""
    reason = _unshare_works()
    if reason:
        skip_or_fail(reason)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", ISOLATED_RUN, scenario.name],
        capture_output=True,
        timeout=30,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr.decode()
    data = json.loads(done.stdout.decode().strip().splitlines()[-1])
    failed = [step for step in data["steps"] if step["status"] == "failed"]
    assert [(f["step"], f["advice"]) for f in failed] == [(scenario.step, scenario.advice)]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_success_delivers_the_spanish_confirmation(security, ca):
    listener = "starttls" if security == "starttls" else "tls"
    with Smtpd(security=security, listener=listener)(ca) as case:
        diagnosis = case.run()
        received = list(case.server.messages)
    assert diagnosis.ok, diagnosis.as_dict()
    assert set(_statuses(diagnosis).values()) == {StepStatus.PASSED}
    [mail] = received
    assert mail.subject == "Emisario: la configuración SMTP funciona"
    assert mail.rcpt_tos == (case.recipient,)
    assert mail.login == case.endpoint["sender"]
    by_step = {result.step: result for result in diagnosis.steps}
    tls = by_step[Step.TLS].details
    assert tls["protocol"] in {"TLSv1.2", "TLSv1.3"} and tls["cipher"]
    assert tls["certificate"]["hostname_match"] is True
    assert "not_after" in tls["certificate"]
    ehlo = by_step[Step.EHLO].details  # the last EHLO: over TLS in both modes
    order = [result.step for result in diagnosis.steps]
    handshake_first = security == "tls"  # implicit TLS before the greeting, STARTTLS after it
    assert (order.index(Step.TLS) < order.index(Step.GREETING)) is handshake_first
    assert ehlo["encrypted"] is True and {"PLAIN", "LOGIN"} <= set(ehlo["auth"])
    ehlos = [result.details for result in diagnosis.steps if result.step is Step.EHLO]
    if security == "starttls":  # RFC 3207 4.2: EHLO again over TLS, each reported
        assert [details["encrypted"] for details in ehlos] == [False, True]
        assert ehlos[0]["starttls"] is True
    else:
        assert len(ehlos) == 1


def test_a_name_is_resolved_and_its_addresses_tried_in_order(ca):
    with Smtpd()(ca) as case:
        case.endpoint["host"] = "localhost"
        diagnosis = case.run()
    assert diagnosis.ok, diagnosis.as_dict()
    dns = diagnosis.steps[list(Step).index(Step.DNS)]
    connect = diagnosis.steps[list(Step).index(Step.CONNECT)]
    assert connect.details["address"] in dns.details["addresses"]


def test_trickling_server_ends_at_the_greeting_within_the_deadline(ca):
    with _port_case(_raw("trickle"), ca) as case:
        started = time.monotonic()
        diagnosis = case.run()
    assert time.monotonic() - started < SHORT_DEADLINE + SLACK
    assert (diagnosis.failure.step, diagnosis.failure.advice) == (Step.GREETING, "no_response")


def test_policy_refusals_look_the_same_whatever_the_reason(ca):
    with Smtpd()(ca) as case:
        port_refused = case.run(policy=NetworkPolicy(allowed_ports=frozenset({1})))
        address_refused = case.run(
            policy=NetworkPolicy(allowed_ports=frozenset({case.endpoint["port"]}))
        )
    for diagnosis in (port_refused, address_refused):
        failure = diagnosis.failure
        assert (failure.step, failure.advice) == (Step.POLICY, "policy_refused")
        assert failure.reply_text == POLICY_REFUSED_TEXT
        assert _statuses(diagnosis)[Step.DNS] is StepStatus.SKIPPED
    assert "port" in port_refused.failure.details["policy_reason"]
    assert "127.0.0.1" in address_refused.failure.details["policy_reason"]


def test_the_password_never_appears_even_when_the_server_echoes_it(ca):
    echo = Script(replies={Step.AUTH: f"535 5.7.8 rejected {{args}} for {PASSWORD} TOKEN-42"})
    with Smtpd(script=echo)(ca) as case:
        diagnosis = case.run(redact=["TOKEN-42"])
        text = json.dumps(diagnosis.as_dict(), ensure_ascii=False)
    failure = diagnosis.failure
    assert failure.step is Step.AUTH and failure.reply_code == 535
    assert PASSWORD not in text and "TOKEN-42" not in text
    blob = base64.b64encode(f"\0{case.endpoint['sender']}\0{PASSWORD}".encode()).decode()
    assert blob not in text
    # The password (spaces and all) and the token next to it become one mask.
    assert failure.reply_text == f"5.7.8 rejected PLAIN {REDACTED} for {REDACTED}"


def test_without_a_message_data_is_skipped_and_nothing_delivered(ca):
    with Smtpd()(ca) as case:
        diagnosis = case.run(message=None)
        assert case.server.messages == []
    assert diagnosis.ok
    assert _statuses(diagnosis)[Step.RCPT] is StepStatus.PASSED
    assert _statuses(diagnosis)[Step.DATA] is StepStatus.SKIPPED


def test_stop_after_auth_checks_credentials_only(ca):
    with Smtpd()(ca) as case:
        diagnosis = case.run(stop_after=Step.AUTH)
    statuses = _statuses(diagnosis)
    assert statuses[Step.AUTH] is StepStatus.PASSED
    assert {statuses[s] for s in (Step.MAIL, Step.RCPT, Step.DATA)} == {StepStatus.SKIPPED}


def test_concurrent_probes_leave_no_transport_registered(ca):
    """Regression: probes sharing a loop once left a transport registered after its socket
    closed. After a mix of outcomes, only the loop's own wake-up socket may remain."""
    from tests.support.scenarios import BY_NAME

    names = ["wrong_password", "untrusted_ca", "ssl_ticked_on_starttls_port", "dropped_at_mail"]

    async def probe_all(cases: list[Case]) -> int:
        results = await asyncio.gather(*(case.diagnose() for case in cases))
        assert all(not result.ok for result in results)
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        return len(loop._selector.get_map())  # type: ignore[attr-defined]

    with (
        BY_NAME[names[0]].open(ca) as a,
        BY_NAME[names[1]].open(ca) as b,
        BY_NAME[names[2]].open(ca) as c,
        BY_NAME[names[3]].open(ca) as d,
        Smtpd()(ca) as ok_case,
    ):
        cases = [a, b, c, d]
        remaining = asyncio.run(probe_all(cases))
        assert ok_case.run().ok
    assert remaining == 1


def test_a_hung_resolver_does_not_outlive_the_deadline(monkeypatch):
    """getaddrinfo cannot be cancelled; the test must still end at its deadline. (The system
    resolver cannot be made to hang per process here, so getaddrinfo itself is replaced.)"""
    release = threading.Event()

    def hung(*args, **kwargs):
        release.wait(15)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hung)
    endpoint = SmtpEndpoint(
        host="mail.example.com", port=587, security=SecurityMode.STARTTLS, sender="ana@example.com"
    )
    started = time.monotonic()
    try:
        diagnosis = asyncio.run(
            diagnose(
                endpoint,
                recipient="ana@example.com",
                message=None,
                policy=NetworkPolicy(),
                deadline=0.5,
            )
        )
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert diagnosis.failure.step is Step.DNS
    assert diagnosis.failure.advice in {Advice.DNS_TEMPORARY, Advice.DEADLINE_EXCEEDED}
    assert elapsed < 8, f"asyncio.run waited {elapsed:.1f} s for the lookup thread"


class _NoSuchName:
    """A resolver whose answer is NXDOMAIN (what a typo in Servidor SMTP gets)."""

    async def resolve(self, host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_a_failed_lookup_shows_the_allowed_port_as_passed():
    """The checklist shows what happened: the port was checked and allowed before the lookup
    failed, so "Destino permitido" is passed, not "not run" above a failed DNS line."""
    endpoint = SmtpEndpoint(
        host="smtp.typo.example", port=587, security=SecurityMode.STARTTLS, sender="a@b.example"
    )
    diagnosis = asyncio.run(
        diagnose(
            endpoint,
            recipient="a@b.example",
            message=None,
            policy=NetworkPolicy(),
            resolver=_NoSuchName(),
        )
    )
    statuses = {result.step: result.status for result in diagnosis.steps}
    assert statuses[Step.POLICY] is StepStatus.PASSED
    assert statuses[Step.DNS] is StepStatus.FAILED
    assert diagnosis.failure.advice == Advice.DNS_NOT_FOUND
    assert diagnosis.steps[0].details == {"port": 587, "addresses_checked": False}
