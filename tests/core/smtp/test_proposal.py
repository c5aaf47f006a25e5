"""After a port/security mismatch Probar tries the other mode on the *same* port and proposes
it only when it saw it work (real aiosmtpd listeners on random ports stand in for 2465 and 587).

Amazon SES offers implicit TLS on 2465: with SSL ticked on a port other than 465 the screen
means STARTTLS, the server waits for a TLS ClientHello, and the right change is "Seguridad =
SSL/TLS on 2465", never "use 465". The reverse (implicit TLS spoken to a STARTTLS port) must
propose STARTTLS on the typed port, never 587.
"""

from __future__ import annotations

import json

import pytest
import trustme

from emisario.core.smtp.advice import Advice
from emisario.core.smtp.steps import Diagnosis, Proposal, Step
from emisario.demo.mailbox import PLAIN, STARTTLS, TLS
from tests.support.scenarios import Smtpd
from tests.support.smtpd import Script


def _mismatch(case, diagnosis: Diagnosis):
    failure = diagnosis.failure
    assert failure is not None, diagnosis.as_dict()
    return failure.step, failure.advice


@pytest.mark.parametrize("security", ["starttls", "none"], ids=["ssl-ticked", "ssl-unticked"])
def test_implicit_tls_on_another_port_is_proposed_on_that_port(ca, security):
    with Smtpd(security=security, listener=TLS, deadline=3.0)(ca) as case:
        diagnosis = case.run()
        port = case.endpoint["port"]
        sessions = list(case.server.sessions)
        delivered = list(case.server.messages)
    assert _mismatch(case, diagnosis) == (Step.GREETING, Advice.PLAIN_ON_TLS_PORT)
    assert diagnosis.proposal == Proposal(port=port, security="tls")
    assert port != 465
    check = diagnosis.failure.details["other_mode"]
    assert check == {"security": "tls", "ok": True, "tried": True, "step": None, "advice": None}
    # The check greeted and said EHLO over verified TLS, then QUIT; no password, no mail.
    assert sessions[-1] == ["EHLO", "QUIT"]
    assert delivered == []


def test_implicit_tls_spoken_to_a_starttls_port_proposes_starttls_on_that_port(ca):
    with Smtpd(security="tls", listener=STARTTLS)(ca) as case:
        diagnosis = case.run()
        port = case.endpoint["port"]
        sessions = list(case.server.sessions)
    assert _mismatch(case, diagnosis) == (Step.TLS, Advice.TLS_ON_PLAIN_PORT)
    assert diagnosis.proposal == Proposal(port=port, security="starttls")
    assert port != 587
    assert sessions[-1] == ["EHLO", "STARTTLS", "EHLO", "QUIT"]  # the upgrade was made


def test_a_plain_port_without_starttls_gets_no_proposal(ca):
    """Nothing encrypted works there: proposing plain text would send the password in clear."""
    with Smtpd(security="tls", listener=PLAIN)(ca) as case:
        diagnosis = case.run()
    assert _mismatch(case, diagnosis) == (Step.TLS, Advice.TLS_ON_PLAIN_PORT)
    assert diagnosis.proposal is None
    check = diagnosis.failure.details["other_mode"]
    assert (check["security"], check["ok"], check["step"]) == ("starttls", False, "tls")
    assert check["advice"] == Advice.STARTTLS_NOT_OFFERED


def test_a_starttls_port_whose_upgrade_is_refused_gets_no_proposal(ca):
    refused = Script(replies={Step.TLS: "454 4.7.0 TLS not available due to temporary reason"})
    with Smtpd(security="tls", listener=STARTTLS, script=refused)(ca) as case:
        diagnosis = case.run()
    assert _mismatch(case, diagnosis) == (Step.TLS, Advice.TLS_ON_PLAIN_PORT)
    assert diagnosis.proposal is None
    assert diagnosis.failure.details["other_mode"]["advice"] == Advice.STARTTLS_FAILED


def test_the_check_verifies_the_certificate_like_the_test(ca):
    """The TLS probe that spots the port accepts any certificate; the proposal does not: a
    certificate the client does not trust is no combination that works."""
    stranger = trustme.CA().issue_cert("localhost", "127.0.0.1")
    with Smtpd(security="starttls", listener=TLS, cert=lambda _ca: stranger, deadline=3.0)(
        ca
    ) as case:
        diagnosis = case.run()
    assert _mismatch(case, diagnosis) == (Step.GREETING, Advice.PLAIN_ON_TLS_PORT)
    assert diagnosis.proposal is None
    check = diagnosis.failure.details["other_mode"]
    assert (check["ok"], check["step"], check["advice"]) == (False, "tls", Advice.CERT_UNTRUSTED)


def test_other_failures_propose_nothing_and_try_nothing(ca):
    with Smtpd(password="wrong")(ca) as case:
        diagnosis = case.run()
        sessions = len(case.server.sessions)
    assert diagnosis.failure.step is Step.AUTH
    assert diagnosis.proposal is None
    assert "other_mode" not in diagnosis.failure.details
    assert sessions == 1


def test_the_proposal_survives_the_audit_row(ca):
    with Smtpd(security="tls", listener=STARTTLS)(ca) as case:
        stored = json.loads(json.dumps(case.run().as_dict()))
        port = case.endpoint["port"]
    assert stored["proposal"] == {"port": port, "security": "starttls"}
    assert Diagnosis.from_dict(stored).proposal == Proposal(port, "starttls")


@pytest.mark.parametrize(
    "script, advice",
    [
        (Script(), Advice.AUTH_REQUIRES_TLS),  # AUTH offered only after STARTTLS
        (Script(auth_without_tls=True), Advice.PASSWORD_NOT_SENT_UNENCRYPTED),
    ],
    ids=["auth-after-tls", "password-not-sent-in-clear"],
)
def test_a_plain_session_on_a_starttls_port_proposes_starttls_on_that_port(ca, script, advice):
    """SSL unticked on a STARTTLS port (2625 here, not 587): the advice is "tick SSL and keep
    this port", seen working, never "use 587"."""
    with Smtpd(security="none", listener=STARTTLS, script=script)(ca) as case:
        diagnosis = case.run()
        port = case.endpoint["port"]
        sessions = list(case.server.sessions)
    assert _mismatch(case, diagnosis) == (Step.AUTH, advice)
    assert diagnosis.proposal == Proposal(port=port, security="starttls")
    assert sessions[-1] == ["EHLO", "STARTTLS", "EHLO", "QUIT"]


def test_a_plain_server_without_starttls_gets_no_encryption_proposal(ca):
    withheld = Script(withhold=frozenset({"STARTTLS"}))
    with Smtpd(security="none", listener=STARTTLS, script=withheld)(ca) as case:
        diagnosis = case.run()
    assert diagnosis.failure is not None and diagnosis.proposal is None


def test_no_starttls_proposal_when_auth_is_not_offered_after_tls_either(ca):
    """Following "tick SSL" would end in "the server does not offer AUTH": not a combination
    seen working, so no proposal (the circle point 2 forbids)."""
    no_auth = Script(withhold=frozenset({"AUTH"}))
    with Smtpd(security="none", listener=STARTTLS, script=no_auth)(ca) as case:
        diagnosis = case.run()
    assert diagnosis.failure is not None and diagnosis.proposal is None
