"""One classification of failures for Probar, Detectar and (tomorrow) CRONUS."""

from __future__ import annotations

import socket
import ssl

import aiosmtplib
import pytest

from emisario.core.smtp.advice import Advice, Fault, classify
from emisario.core.smtp.faults import FailureKind, describe, failure_kind
from emisario.core.smtp.steps import Step

K = FailureKind


@pytest.mark.parametrize(
    ("step", "code", "text", "kind"),
    [
        (Step.RCPT, 451, "4.7.1 Greylisted, try again in 300 seconds", K.TRANSIENT),
        (Step.DATA, 550, "5.4.5 Daily user sending quota exceeded.", K.THROTTLED),
        (Step.DATA, 554, "5.2.0 STOREDRV SubmissionQuotaExceeded", K.THROTTLED),
        (Step.MAIL, 421, "4.3.2 Service not available, closing transmission channel", K.TRANSIENT),
        (Step.AUTH, 535, "5.7.8 Username and Password not accepted.", K.ACCOUNT),
        (Step.AUTH, 535, "5.7.139 Authentication unsuccessful", K.ACCOUNT),
        (Step.RCPT, 550, "5.1.1 <bob@example.net>: User unknown", K.RECIPIENT),
        (Step.RCPT, 554, "5.7.1 <bob@example.net>: Relay access denied", K.ACCOUNT),
        (Step.DATA, 554, "5.6.0 Message rejected: content", K.MESSAGE),
        (Step.MAIL, 553, "5.7.60 SendAsDenied", K.ACCOUNT),
    ],
    ids=["greylist", "gmail-quota", "m365-quota", "421", "bad-password", "m365-basic-off",
         "unknown-user", "relay", "content", "send-as"],
)  # fmt: skip
def test_replies_are_classified(step, code, text, kind):
    assert failure_kind(classify(step, code=code, text=text)) is kind


@pytest.mark.parametrize(
    ("fault", "step", "kind"),
    [
        (Fault.TIMEOUT, Step.CONNECT, K.TRANSIENT),
        (Fault.DNS_TEMPORARY, Step.DNS, K.TRANSIENT),
        (Fault.DISCONNECTED, Step.DATA, K.TRANSIENT),
        (Fault.CERT_UNTRUSTED, Step.TLS, K.ACCOUNT),
        (Fault.POLICY, Step.POLICY, K.ACCOUNT),
        (Fault.PLAINTEXT_AUTH_REFUSED, Step.AUTH, K.ACCOUNT),
        (Fault.DNS_NOT_FOUND, Step.DNS, K.ACCOUNT),
    ],
    ids=lambda value: str(value),
)
def test_local_faults_are_classified(fault, step, kind):
    assert failure_kind(classify(step, fault=fault)) is kind


def test_every_advice_has_a_kind():
    assert {failure_kind(advice) for advice in Advice} == set(FailureKind)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (aiosmtplib.SMTPResponseException(535, "5.7.8 no"), (None, 535, "5.7.8 no")),
        (ConnectionRefusedError(111, "refused"), (Fault.REFUSED, None, "connection refused")),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
         (Fault.DNS_NOT_FOUND, None, "Name or service not known")),
        (TimeoutError(), (Fault.TIMEOUT, None, "the server did not answer in time")),
        (aiosmtplib.SMTPServerDisconnected("gone"),
         (Fault.DISCONNECTED, None, "the server closed the connection")),
    ],
    ids=["reply", "refused", "nxdomain", "timeout", "disconnected"],
)  # fmt: skip
def test_describe_keeps_the_server_words_or_names_the_local_fault(exc, expected):
    assert describe(exc) == expected


def test_describe_reads_a_tls_error_through_the_wrapper():
    wrapper = aiosmtplib.SMTPServerDisconnected("gone")
    cause = ssl.SSLCertVerificationError("certificate verify failed")
    cause.verify_code, cause.verify_message = 19, "self-signed certificate in certificate chain"
    wrapper.__cause__ = cause
    fault, code, _text = describe(wrapper)
    assert fault is Fault.CERT_UNTRUSTED and code is None


@pytest.mark.parametrize(
    ("step", "text"),
    [
        (Step.RCPT, "5.7.1 <bob@example.net>: Relay access denied"),
        (Step.RCPT, "5.7.1 <ana@example.com>: Sender address rejected: not owned by user ana"),
    ],
    ids=["relay-after-auth", "sender-not-owned"],
)
def test_a_policy_refusal_after_auth_is_the_accounts_not_the_recipients(step, text):
    """The account may not send there: fail over to the next account; the recipient itself
    was never judged, so it is not a permanent recipient failure."""
    advice = classify(step, code=554, text=text, authenticated=True)
    assert advice in (Advice.RELAY_DENIED_AUTHENTICATED, Advice.SENDER_NOT_ALLOWED)
    assert failure_kind(advice) is K.ACCOUNT
