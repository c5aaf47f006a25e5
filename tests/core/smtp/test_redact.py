"""Credentials never reach a report, however the server echoes them back."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from emisario.core.secrets import Secret
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint
from emisario.core.smtp.redact import REDACTED, redact_text, secrets_for
from emisario.core.smtp.steps import Step
from tests.support.scenarios import PASSWORD, SENDER, Smtpd
from tests.support.smtpd import Script

PLAIN_FORM = base64.b64encode(f"\0{SENDER}\0{PASSWORD}".encode()).decode()
LOGIN_FORM = base64.b64encode(PASSWORD.encode()).decode()
ODD_FRAMING = base64.b64encode(f"{SENDER}\0{PASSWORD}".encode()).decode()


def _split(text: str, at: int, glue: str = "\n") -> str:
    return text[:at] + glue + text[at:]


def _endpoint() -> SmtpEndpoint:
    return SmtpEndpoint(
        host="smtp.example.com",
        port=587,
        security=SecurityMode.STARTTLS,
        sender=SENDER,
        password=Secret(PASSWORD),
    )


@pytest.mark.parametrize(
    "echo",
    [
        f"535 5.7.8 {PLAIN_FORM} rejected",
        f"535-5.7.8 got {_split(PLAIN_FORM, 20)}",
        f"535 got {_split(LOGIN_FORM, 7, chr(10) + '   ')}",
        f"535 {_split(PASSWORD, 5)} is wrong",
        f"535 {_split(PASSWORD, 8, chr(13) + chr(10))}",
        f"535 5.7.8 {ODD_FRAMING}",
        f"535 5.7.8 {_split(ODD_FRAMING, 30)}",
        f"535 5.7.8 got:x{ODD_FRAMING}",
    ],
    ids=["plain-form", "plain-split", "login-split-indented", "password-split",
         "password-crlf", "other-framing", "other-framing-split", "mid-token"],
)  # fmt: skip
def test_echoed_credentials_are_masked(echo):
    cleaned = redact_text(echo, secrets_for(_endpoint()))
    assert REDACTED in cleaned
    compact = "".join(cleaned.split())
    for secret in (PASSWORD.replace(" ", ""), PLAIN_FORM, LOGIN_FORM, ODD_FRAMING):
        assert secret not in compact, cleaned


def test_ordinary_replies_are_left_alone():
    reply = (
        "535 5.7.8 Username and Password not accepted. Learn more at\nhttps://support.google.com"
    )
    assert redact_text(reply, secrets_for(_endpoint())) == reply


@settings(deadline=None, max_examples=150)
@given(st.text(st.characters(categories=["L", "N", "P", "S"]), min_size=6, max_size=30))
def test_property_a_password_split_anywhere_is_masked(password):
    assume("*" not in password)  # the mask itself is made of asterisks
    endpoint = SmtpEndpoint(
        host="smtp.example.com",
        port=587,
        security=SecurityMode.STARTTLS,
        sender=SENDER,
        password=Secret(password),
    )
    secrets = secrets_for(endpoint)
    for form in secrets:
        for at in range(1, len(form)):
            cleaned = redact_text(f"535 {_split(form, at)} bad", secrets)
            assert form not in "".join(cleaned.split()), cleaned


def test_a_server_echoing_the_password_over_two_lines_shows_it_nowhere(ca):
    """The real thing: a server answers AUTH with the base64 it received, split over a
    multi-line reply; neither the step's reply nor its details carry it."""
    half = len(PLAIN_FORM) // 2
    reply = f"535-5.7.8 you sent {PLAIN_FORM[:half]}\r\n535 5.7.8 {PLAIN_FORM[half:]} - no"
    server = Smtpd(security="tls", listener="tls", script=Script(replies={Step.AUTH: reply}))
    with server(ca) as case:
        diagnosis = case.run()
    failure = diagnosis.failure
    assert failure is not None and failure.step is Step.AUTH
    report = json.dumps(diagnosis.as_dict())
    compact = "".join(report.replace("\\n", " ").replace("\\r", " ").split())
    assert PLAIN_FORM[:half] not in compact and PLAIN_FORM[half:] not in compact
    assert REDACTED in failure.reply_text
