"""Detectar against real SMTP servers on loopback (aiosmtpd, trustme certificates).

The servers listen on random ports, so each test passes its own ``combinations`` (the stand-ins
for 465 / 587 / 25) and a policy whose ``allowed_ports`` are exactly those ports. Every server
counts the AUTH commands it receives and whether each came over TLS: the password must reach
a server at most once, and never in plain text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP

from emisario.core.errors import InvalidValue
from emisario.core.netpolicy import NetworkPolicy, SystemResolver
from emisario.core.secrets import Secret
from emisario.core.smtp.detect import (
    DEFAULT_COMBINATIONS,
    Candidate,
    Detection,
    DetectWarning,
    detect,
    rank,
)
from emisario.core.smtp.endpoint import SecurityMode
from emisario.core.smtp.steps import Step, StepStatus
from emisario.demo.mailbox import PLAIN, STARTTLS, TLS, LoopbackSmtpd
from tests.support.scenarios import client_context
from tests.support.smtpd import RawServer, blackhole, closed_port

SENDER = "cobranzas@example.com"
PASSWORD = "app-password-1234"
USERS = {SENDER: PASSWORD}

T, S, N = SecurityMode.TLS, SecurityMode.STARTTLS, SecurityMode.NONE


class RecordingSmtpd(LoopbackSmtpd):
    """The demo mailbox, counting sessions and AUTH commands (and whether each was encrypted).

    AUTH is counted at the command, before aiosmtpd's own "encryption required" check, so a
    password sent in plain text would be counted even though the server refuses it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sessions = 0
        self.auth_commands: list[bool] = []
        outer = self

        class _Recording(SMTP):
            def __init__(self, *a: Any, **k: Any) -> None:
                super().__init__(*a, **k)
                outer.sessions += 1

            async def smtp_AUTH(self, arg: str) -> None:
                encrypted = (
                    self.transport is not None
                    and self.transport.get_extra_info("ssl_object") is not None
                )
                outer.auth_commands.append(encrypted)
                await super().smtp_AUTH(arg)

        super().__init__(*args, smtp_class=_Recording, **kwargs)


@pytest.fixture
def recording(ca: trustme.CA) -> Callable[..., RecordingSmtpd]:
    """Servers that share the session's test CA (``tests/support/fixtures.py``); use as
    ``with recording(users, listeners=...) as server``."""

    def make(users: dict[str, str], **options: Any) -> RecordingSmtpd:
        return RecordingSmtpd(users, ca=ca, **options)

    return make


def policy_for(*ports: int) -> NetworkPolicy:
    return NetworkPolicy.from_settings(ports=ports, allow=["127.0.0.0/8"])


def run_detect(
    server: LoopbackSmtpd | None,
    combinations: list[tuple[int, SecurityMode]],
    *,
    password: str | None = PASSWORD,
    allowed: set[int] | None = None,
    deadline: float = 5.0,
    **options: Any,
) -> Detection:
    ports = allowed if allowed is not None else {port for port, _ in combinations}
    options.setdefault("tls_context", client_context(server.ca) if server else None)
    return asyncio.run(
        detect(
            host="localhost",
            sender=SENDER,
            password=Secret(password) if password is not None else None,
            policy=policy_for(*ports),
            deadline=deadline,
            combinations=combinations,
            local_hostname="erp.example.com",
            **options,
        )
    )


def pair(candidate: Candidate | None) -> tuple[int, SecurityMode] | None:
    return (candidate.port, candidate.security) if candidate else None


def assert_password_hidden(detection: Detection) -> None:
    assert PASSWORD not in repr(detection.as_dict())


# --- servers --------------------------------------------------------------------------------


def test_starttls_only_server(recording):
    with recording(USERS, listeners=(STARTTLS,)) as server:
        starttls, nothing = server.port(STARTTLS), closed_port()
        # stand-ins for 465 TLS, 587 STARTTLS, 25 plain
        combos = [(nothing, T), (starttls, S), (starttls, N)]
        detection = run_detect(server, combos)
    assert pair(detection.proposal) == (starttls, S)
    assert detection.auth is not None and detection.auth.ok
    assert detection.warnings == ()
    assert detection.ok
    assert server.auth_commands == [True]
    assert_password_hidden(detection)


def test_implicit_tls_only_server(recording):
    with recording(USERS, listeners=(TLS,)) as server:
        tls = server.port(TLS)
        combos = [(tls, T), (tls, S), (tls, N)]
        detection = run_detect(server, combos, exhaustive=True, deadline=2.0)
    assert pair(detection.proposal) == (tls, T)
    by_pair = {pair(c): c for c in detection.candidates}
    assert by_pair[(tls, T)].ok
    assert not by_pair[(tls, S)].ok  # plain text spoken to a TLS port
    assert not by_pair[(tls, N)].ok
    assert detection.auth is not None and detection.auth.ok
    assert server.auth_commands == [True]


def test_both_implicit_tls_preferred(recording):
    with recording(USERS, listeners=(STARTTLS, TLS)) as server:
        tls, starttls = server.port(TLS), server.port(STARTTLS)
        combos = [(tls, T), (starttls, S), (starttls, N)]
        detection = run_detect(server, combos, exhaustive=True)
    assert [c.ok for c in detection.candidates] == [True, True, True]
    assert pair(detection.proposal) == (tls, T)
    assert detection.auth is not None and detection.auth.ok
    assert detection.auth.target.endswith(f":{tls}")
    assert server.auth_commands == [True]


def test_order_of_combinations_decides_between_encrypted_pairs(recording):
    with recording(USERS, listeners=(STARTTLS, TLS)) as server:
        tls, starttls = server.port(TLS), server.port(STARTTLS)
        detection = run_detect(server, [(starttls, S), (tls, T)], exhaustive=True)
    assert pair(detection.proposal) == (starttls, S)
    assert server.auth_commands == [True]


def test_nothing_listening():
    combos = [(closed_port(), T), (closed_port(), S), (closed_port(), N)]
    detection = run_detect(None, combos)
    assert detection.proposal is None
    assert detection.auth is None
    assert set(detection.warnings) == {
        DetectWarning.NOTHING_WORKED,
        DetectWarning.PASSWORD_NOT_SENT,
    }
    assert not detection.ok
    assert all(c.diagnosis is not None for c in detection.candidates)
    assert {c.diagnosis.failure.step for c in detection.candidates} == {Step.CONNECT}
    assert {c.diagnosis.advice for c in detection.candidates} == {"connection_refused"}


def test_plain_only_server_is_offered_with_a_warning_and_gets_no_password(recording):
    with recording(USERS, listeners=(PLAIN,)) as server:
        plain = server.port(PLAIN)
        combos = [(closed_port(), T), (plain, S), (plain, N)]
        detection = run_detect(server, combos, exhaustive=True)
    assert pair(detection.proposal) == (plain, N)
    assert DetectWarning.PLAIN_ONLY in detection.warnings
    assert DetectWarning.PASSWORD_NOT_SENT in detection.warnings
    assert detection.auth is None
    by_pair = {pair(c): c for c in detection.candidates}
    assert by_pair[(plain, S)].diagnosis.advice == "starttls_not_offered"
    assert server.auth_commands == []


def test_broken_tls_never_gets_the_password_in_plain_text(recording):
    """STARTTLS is offered but the certificate is not trusted: the plain pair still works, and
    it is proposed only with a warning; the password goes nowhere."""
    with recording(USERS, listeners=(STARTTLS,)) as server:
        starttls = server.port(STARTTLS)
        combos = [(starttls, S), (starttls, N)]
        detection = run_detect(server, combos, tls_context=None, exhaustive=True)
    by_pair = {pair(c): c for c in detection.candidates}
    assert by_pair[(starttls, S)].diagnosis.failure.step is Step.TLS
    assert by_pair[(starttls, S)].diagnosis.advice == "cert_untrusted"
    assert pair(detection.proposal) == (starttls, N)
    assert DetectWarning.PLAIN_ONLY in detection.warnings
    assert detection.auth is None
    assert server.auth_commands == []


def test_wrong_password_is_tried_exactly_once(recording):
    with recording({SENDER: "the-right-one"}, listeners=(STARTTLS, TLS)) as server:
        tls, starttls = server.port(TLS), server.port(STARTTLS)
        combos = [(tls, T), (starttls, S)]
        detection = run_detect(server, combos, exhaustive=True)
    assert pair(detection.proposal) == (tls, T)
    assert detection.auth is not None and not detection.auth.ok
    assert detection.auth.failure.step is Step.AUTH
    assert detection.auth.advice == "auth_failed"
    assert not detection.ok
    assert server.auth_commands == [True]
    assert_password_hidden(detection)


def test_no_password_no_auth(recording):
    with recording(USERS, listeners=(STARTTLS, TLS)) as server:
        combos = [(server.port(TLS), T), (server.port(STARTTLS), S)]
        detection = run_detect(server, combos, password=None, exhaustive=True)
    assert detection.auth is None
    assert detection.warnings == ()
    assert detection.ok
    assert server.auth_commands == []


def test_fan_out_stops_after_tls_and_ehlo(recording):
    with recording(USERS, listeners=(STARTTLS,)) as server:
        detection = run_detect(server, [(server.port(STARTTLS), S)], password=None)
        assert server.messages == []
    [candidate] = detection.candidates
    statuses = {r.step: r.status for r in candidate.diagnosis.steps}
    assert statuses[Step.TLS] is StepStatus.PASSED  # the upgrade was really made
    assert statuses[Step.EHLO] is StepStatus.PASSED
    for step in (Step.AUTH, Step.MAIL, Step.RCPT, Step.DATA):
        assert statuses[step] is StepStatus.SKIPPED


def test_ports_the_policy_forbids_are_not_tried(recording):
    with recording(USERS, listeners=(STARTTLS, TLS)) as server:
        tls, starttls = server.port(TLS), server.port(STARTTLS)
        combos = [(tls, T), (starttls, S)]
        detection = run_detect(server, combos, allowed={starttls})
    assert detection.not_allowed == ((tls, T),)
    assert DetectWarning.PORTS_NOT_ALLOWED in detection.warnings
    assert [pair(c) for c in detection.candidates] == [(starttls, S)]
    assert pair(detection.proposal) == (starttls, S)
    # one session for the fan-out, one for the AUTH check; none reached the TLS port
    assert server.sessions == 2
    assert server.auth_commands == [True]


def test_refused_address_is_a_policy_failure_everywhere(recording):
    with recording(USERS, listeners=(STARTTLS, TLS)) as server:
        combos = [(server.port(TLS), T), (server.port(STARTTLS), S)]
        detection = asyncio.run(
            detect(
                host="localhost",
                sender=SENDER,
                password=Secret(PASSWORD),
                policy=NetworkPolicy(allowed_ports=frozenset(p for p, _ in combos)),
                combinations=combos,
                tls_context=client_context(server.ca),
                deadline=5.0,
            )
        )
    assert {c.diagnosis.failure.step for c in detection.candidates} == {Step.POLICY}
    assert detection.proposal is None
    assert server.sessions == 0
    assert server.auth_commands == []


# --- time -----------------------------------------------------------------------------------


def test_a_good_pair_does_not_wait_for_a_firewalled_one(recording):
    with recording(USERS, listeners=(TLS,)) as server, blackhole() as dropped:
        combos = [(server.port(TLS), T), (dropped, S)]
        started = time.monotonic()
        detection = run_detect(server, combos, deadline=4.0)
        elapsed = time.monotonic() - started
    assert pair(detection.proposal) == (server.port(TLS), T)
    assert elapsed < 2.0
    [_good, firewalled] = detection.candidates
    assert firewalled.diagnosis is None  # cancelled: it could not have beaten the winner
    assert server.auth_commands == [True]


def test_a_better_pair_is_waited_for(recording):
    """The STARTTLS pair answers first, but the TLS pair ranks higher: wait for it."""
    with recording(USERS, listeners=(STARTTLS, TLS)) as server:
        combos = [(server.port(TLS), T), (server.port(STARTTLS), S)]
        detection = run_detect(server, combos)
    assert pair(detection.proposal) == (server.port(TLS), T)
    assert detection.candidates[0].diagnosis is not None


def test_probes_run_concurrently_under_one_deadline():
    deadline = 1.5
    with RawServer("silent") as first, RawServer("silent") as second, blackhole() as third:
        combos = [(first.port, T), (second.port, S), (third, N)]
        started = time.monotonic()
        detection = run_detect(None, combos, password=None, deadline=deadline)
        elapsed = time.monotonic() - started
    # one after another this would take about three deadlines
    assert elapsed < deadline + 1.0
    assert detection.proposal is None
    assert all(c.diagnosis is not None and not c.ok for c in detection.candidates)


def test_whole_detection_with_password_ends_within_the_deadline(recording):
    deadline = 2.0
    with recording(USERS, listeners=(TLS,)) as server, blackhole() as dropped:
        combos = [(dropped, T), (server.port(TLS), S), (server.port(TLS), T)]
        started = time.monotonic()
        detection = run_detect(server, combos, deadline=deadline, exhaustive=True)
        elapsed = time.monotonic() - started
    assert elapsed < deadline + 1.0
    assert pair(detection.proposal) == (server.port(TLS), T)
    assert detection.auth is not None and detection.auth.ok
    assert detection.candidates[0].diagnosis.advice in {"connect_timeout", "deadline_exceeded"}


# --- the resolver ---------------------------------------------------------------------------


class CountingResolver:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        await asyncio.sleep(0.01)
        return await SystemResolver().resolve("127.0.0.1", port)


def test_the_name_is_resolved_once_for_everything(recording):
    resolver = CountingResolver()
    with recording(USERS, listeners=(STARTTLS, TLS)) as server:
        combos = [(server.port(TLS), T), (server.port(STARTTLS), S), (closed_port(), N)]
        detection = run_detect(server, combos, resolver=resolver, exhaustive=True)
    assert detection.auth is not None and detection.auth.ok
    assert [host for host, _ in resolver.calls] == ["localhost"]


class FailingResolver:
    def __init__(self) -> None:
        self.calls = 0

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls += 1
        raise OSError(-2, "Name or service not known")


def test_unresolvable_name():
    resolver = FailingResolver()
    combos = [(2465, T), (2587, S)]
    detection = run_detect(None, combos, resolver=resolver)
    assert resolver.calls == 1
    assert detection.proposal is None
    assert {c.diagnosis.failure.step for c in detection.candidates} == {Step.DNS}


# --- validation and ranking (no sockets) ----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"host": "bad host"}, "invalid_host"),
        ({"sender": "cobranzas"}, "invalid_address"),
        ({"login": "user\r\nAUTH"}, "control_characters"),
        ({"password": Secret("pw\r\nQUIT")}, "control_characters"),
        ({"combinations": [(0, T)]}, "invalid_port"),
        ({"combinations": [("abc", T)]}, "invalid_port"),
    ],
    ids=["host", "sender", "login", "password", "port-0", "port-abc"],
)
def test_bad_input_is_refused_before_any_io(options, code):
    values: dict[str, Any] = {
        "host": "smtp.example.com",
        "sender": SENDER,
        "password": None,
        "policy": NetworkPolicy(),
        "combinations": [(587, S)],
        "resolver": FailingResolver(),
    }
    values.update(options)
    with pytest.raises(InvalidValue) as caught:
        asyncio.run(detect(**values))
    assert caught.value.code == code
    assert values["resolver"].calls == 0


def test_every_port_forbidden():
    resolver = FailingResolver()
    detection = run_detect(None, [(465, T), (587, S)], allowed={25}, resolver=resolver)
    assert detection.host == "localhost"
    assert detection.candidates == []
    assert detection.not_allowed == ((465, T), (587, S))
    assert set(detection.warnings) == {
        DetectWarning.PORTS_NOT_ALLOWED,
        DetectWarning.NOTHING_WORKED,
        DetectWarning.PASSWORD_NOT_SENT,
    }
    assert resolver.calls == 0


def test_duplicate_combinations_are_tried_once(recording):
    with recording(USERS, listeners=(TLS,)) as server:
        tls = server.port(TLS)
        detection = run_detect(server, [(tls, T), (tls, "tls"), (str(tls), T)], password=None)
    assert [pair(c) for c in detection.candidates] == [(tls, T)]
    assert server.sessions == 1


def test_no_combination_at_all_is_a_programming_error():
    with pytest.raises(ValueError, match="combination"):
        asyncio.run(detect(host="smtp.example.com", sender=SENDER, password=None,
                           policy=NetworkPolicy(), combinations=[]))  # fmt: skip


def test_default_combinations():
    assert DEFAULT_COMBINATIONS == ((465, T), (587, S), (25, S), (2525, S), (25, N))
    assert {port for port, _ in DEFAULT_COMBINATIONS} <= NetworkPolicy().allowed_ports


def test_rank_puts_encrypted_first_then_the_order():
    plain_first = Candidate(25, N, None)
    tls_last = Candidate(465, T, None)
    starttls = Candidate(587, S, None)
    ordered = sorted([(rank(plain_first, 0), 0), (rank(starttls, 1), 1), (rank(tls_last, 2), 2)])
    assert [position for _, position in ordered] == [1, 2, 0]


def test_detection_as_dict_is_json(recording):
    import json

    with recording(USERS, listeners=(TLS,)) as server:
        detection = run_detect(server, [(server.port(TLS), T)])
    data = json.loads(json.dumps(detection.as_dict()))
    assert data["proposal"] == {"port": server.port(TLS), "security": "tls"}
    assert data["ok"] is True
    assert data["auth"]["ok"] is True
    assert PASSWORD not in json.dumps(data)


# --- the port the user typed ----------------------------------------------------------------


def test_implicit_tls_on_the_typed_port_is_proposed(recording):
    """Amazon SES: implicit TLS on 2465. The usual pairs also work on this server (a STARTTLS
    listener stands in for 587), but the user's own port is what gets proposed."""
    with recording(USERS, listeners=(STARTTLS, TLS)) as server:
        typed, usual = server.port(TLS), server.port(STARTTLS)
        detection = run_detect(server, [(usual, S)], port=typed, allowed={typed, usual})
    assert pair(detection.proposal) == (typed, T)
    assert detection.auth is not None and detection.auth.ok
    assert detection.auth.target.endswith(f":{typed}")
    assert server.auth_commands == [True]


def test_starttls_on_the_typed_port_beats_implicit_tls_elsewhere(recording):
    """The usual order puts implicit TLS first; the typed port still wins when it works."""
    with recording(USERS, listeners=(STARTTLS, TLS)) as server:
        typed, usual = server.port(STARTTLS), server.port(TLS)
        detection = run_detect(
            server, [(usual, T)], port=typed, allowed={typed, usual}, exhaustive=True
        )
    assert pair(detection.proposal) == (typed, S)
    assert [pair(c) for c in detection.candidates] == [
        (typed, T),
        (typed, S),
        (typed, N),
        (usual, T),
    ]
    assert detection.proposal.ok  # seen to work, like every proposal
    assert server.auth_commands == [True]


def test_a_typed_port_that_does_not_answer_falls_back_to_the_usual_pairs(recording):
    with recording(USERS, listeners=(TLS,)) as server:
        typed, usual = closed_port(), server.port(TLS)
        detection = run_detect(server, [(usual, T)], port=typed, allowed={typed, usual})
    assert pair(detection.proposal) == (usual, T)
    assert {c.port for c in detection.candidates if not c.ok} == {typed}


def test_a_typed_port_the_policy_forbids_is_reported_not_tried(recording):
    with recording(USERS, listeners=(TLS,)) as server:
        usual = server.port(TLS)
        detection = run_detect(server, [(usual, T)], port=2465, allowed={usual})
    assert detection.not_allowed == ((2465, T), (2465, S), (2465, N))
    assert DetectWarning.PORTS_NOT_ALLOWED in detection.warnings
    assert pair(detection.proposal) == (usual, T)


def test_a_bad_typed_port_is_refused_before_any_io():
    resolver = FailingResolver()
    with pytest.raises(InvalidValue) as caught:
        run_detect(None, [(587, S)], port=0, resolver=resolver)
    assert caught.value.code == "invalid_port"
    assert resolver.calls == 0
