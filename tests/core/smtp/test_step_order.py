"""One step order: a diagnosis lists its steps in the order they happened (real servers).

With STARTTLS the first EHLO comes before the upgrade and a second one follows it (RFC 3207
section 4.2), so a refused STARTTLS reads GREETING ✔, EHLO ✔, TLS ✘, never "TLS ✘ then EHLO ✔".
Rows stored before this order are read back in it.
"""

from __future__ import annotations

import json

import pytest

from emisario.core.smtp.endpoint import SecurityMode
from emisario.core.smtp.steps import Diagnosis, Step, StepStatus, step_order
from tests.support.scenarios import Smtpd
from tests.support.smtpd import Script

P, F, S = StepStatus.PASSED, StepStatus.FAILED, StepStatus.SKIPPED
BEFORE_TLS = [Step.POLICY, Step.DNS, Step.CONNECT]


def _listed(diagnosis: Diagnosis) -> list[tuple[Step, StepStatus]]:
    return [(result.step, result.status) for result in diagnosis.steps]


def test_a_refused_starttls_is_listed_after_the_ehlo_that_offered_it(ca):
    refused = Script(replies={Step.TLS: "454 4.7.0 TLS not available due to temporary reason"})
    with Smtpd(script=refused)(ca) as case:
        diagnosis = case.run()
    assert _listed(diagnosis) == [
        *[(step, P) for step in BEFORE_TLS],
        (Step.GREETING, P),
        (Step.EHLO, P),
        (Step.TLS, F),
        (Step.EHLO, S),  # the EHLO over TLS never happened
        (Step.AUTH, S),
        (Step.MAIL, S),
        (Step.RCPT, S),
        (Step.DATA, S),
    ]
    first_ehlo = diagnosis.steps[4]
    assert first_ehlo.reply_code == 250 and first_ehlo.details["starttls"] is True
    assert diagnosis.failure.reply_code == 454


def test_a_working_starttls_session_reports_both_ehlos(ca):
    with Smtpd()(ca) as case:
        diagnosis = case.run()
    assert diagnosis.ok, diagnosis.as_dict()
    assert [step for step, _ in _listed(diagnosis)] == step_order("starttls")
    plain, encrypted = (r for r in diagnosis.steps if r.step is Step.EHLO)
    assert plain.details["encrypted"] is False and "PLAIN" not in plain.details["auth"]
    assert encrypted.details["encrypted"] is True and "PLAIN" in encrypted.details["auth"]


@pytest.mark.parametrize(
    ("security", "listener", "middle"),
    [
        ("tls", "tls", [Step.TLS, Step.GREETING, Step.EHLO]),
        ("none", "plain", [Step.GREETING, Step.EHLO, Step.TLS]),  # where STARTTLS would run
        ("starttls", "starttls", [Step.GREETING, Step.EHLO, Step.TLS, Step.EHLO]),
    ],
    ids=["implicit-tls", "plain", "starttls"],
)
def test_every_mode_lists_its_steps_in_step_order(ca, security, listener, middle):
    with Smtpd(security=security, listener=listener, password=None)(ca) as case:
        diagnosis = case.run(message=None)
    listed = [step for step, _ in _listed(diagnosis)]
    assert listed == [*BEFORE_TLS, *middle, Step.AUTH, Step.MAIL, Step.RCPT, Step.DATA]
    assert listed == step_order(security)


@pytest.mark.parametrize(
    ("stop_after", "last_passed"),
    [(Step.EHLO, 4), (Step.TLS, 6), (Step.GREETING, 3)],
    ids=["ehlo-before-the-upgrade", "tls-and-its-ehlo", "greeting"],
)
def test_stop_after_counts_positions_in_the_order(ca, stop_after, last_passed):
    with Smtpd(password=None)(ca) as case:
        diagnosis = case.run(message=None, stop_after=stop_after)
    statuses = [status for _, status in _listed(diagnosis)]
    assert statuses == [P] * (last_passed + 1) + [S] * (len(statuses) - last_passed - 1)


# --- rows stored before the order changed ----------------------------------------------------

OLD_PREFIX = [
    {"step": "policy", "status": "passed"},
    {"step": "dns", "status": "passed", "details": {"addresses": ["127.0.0.1"]}},
    {"step": "connect", "status": "passed"},
    {"step": "greeting", "status": "passed", "reply_code": 220},
]
OLD_TAIL = [{"step": s, "status": "skipped"} for s in ("auth", "mail", "rcpt", "data")]


def _old_row(tls: dict, ehlo: dict) -> dict:
    """A STARTTLS diagnosis as ``as_dict`` stored it before: TLS, then one EHLO."""
    return {
        "target": "smtp.example.com:587",
        "security": "starttls",
        "steps": [*OLD_PREFIX, tls, ehlo, *OLD_TAIL],
        "elapsed_ms": 12.0,
        "ok": False,
    }


def _read(row: dict) -> list[tuple[str, str]]:
    diagnosis = Diagnosis.from_dict(json.loads(json.dumps(row)))
    return [(r.step.value, r.status.value) for r in diagnosis.steps]


def test_an_old_row_with_a_failed_starttls_reads_in_the_order_it_happened():
    row = _old_row(
        {"step": "tls", "status": "failed", "reply_code": 454, "advice": "starttls_failed"},
        {"step": "ehlo", "status": "passed", "reply_code": 250, "details": {"starttls": True}},
    )
    assert _read(row)[3:7] == [
        ("greeting", "passed"),
        ("ehlo", "passed"),
        ("tls", "failed"),
        ("ehlo", "skipped"),
    ]
    diagnosis = Diagnosis.from_dict(row)
    assert diagnosis.failure.reply_code == 454
    assert diagnosis.steps[4].details == {"starttls": True}


def test_an_old_row_with_a_working_starttls_gets_its_first_ehlo_back():
    before = {"starttls": True, "encrypted": False}
    row = _old_row(
        {"step": "tls", "status": "passed", "reply_code": 220},
        {
            "step": "ehlo",
            "status": "passed",
            "reply_code": 250,
            "details": {"encrypted": True, "before_starttls": before},
        },
    )
    diagnosis = Diagnosis.from_dict(row)
    ehlos = [r for r in diagnosis.steps if r.step is Step.EHLO]
    assert [step for step, _ in _read(row)] == [str(s) for s in step_order("starttls")]
    assert [r.details for r in ehlos] == [before, {"encrypted": True}]


def test_an_old_row_that_failed_at_the_greeting_keeps_every_later_step_skipped():
    row = _old_row({"step": "tls", "status": "skipped"}, {"step": "ehlo", "status": "skipped"})
    row["steps"][3] = {"step": "greeting", "status": "failed", "reply_code": 554}
    assert _read(row)[3:7] == [
        ("greeting", "failed"),
        ("ehlo", "skipped"),
        ("tls", "skipped"),
        ("ehlo", "skipped"),
    ]


def test_new_rows_and_other_modes_read_back_unchanged(ca):
    refused = Script(replies={Step.TLS: "454 4.7.0 TLS not available"})
    with Smtpd(script=refused)(ca) as case:
        stored = json.loads(json.dumps(case.run().as_dict()))
    assert _read(stored) == [(r["step"], r["status"]) for r in stored["steps"]]
    implicit = {
        **_old_row({"step": "tls", "status": "passed"}, {"step": "ehlo", "status": "passed"})
    }
    implicit["security"] = str(SecurityMode.TLS)
    assert _read(implicit) == [(r["step"], r["status"]) for r in implicit["steps"]]
