"""The classification table and the catalogue that turns its codes into sentences."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emisario.console.advice_catalogue import CATALOGUE, LANGUAGES, advice_text
from emisario.core.smtp.advice import Advice, Fault, classify, parse_enhanced_status
from emisario.core.smtp.steps import Step

A, S = Advice, Step

REPLIES = [
    # (step, code, text, expected)
    (S.AUTH, 535, "5.7.8 Authentication credentials invalid", A.AUTH_FAILED),
    (S.AUTH, 534, "5.7.9 Application-specific password required.", A.GMAIL_APP_PASSWORD_REQUIRED),
    (S.AUTH, 534, "5.7.14 Please log in via your web browser", A.GMAIL_WEB_LOGIN_REQUIRED),
    (S.AUTH, 534, "Web Login Required", A.GMAIL_WEB_LOGIN_REQUIRED),
    (S.AUTH, 535, "5.7.8 Username and Password not accepted.", A.GMAIL_CREDENTIALS_REJECTED),
    (
        S.AUTH,
        535,
        "[AUTHENTICATIONFAILED] Invalid credentials (Failure)",
        A.GMAIL_CREDENTIALS_REJECTED,
    ),
    (S.AUTH, 535, "5.7.139 Authentication unsuccessful", A.M365_SMTP_AUTH_DISABLED),
    (S.AUTH, 530, "5.7.0 Must issue a STARTTLS command first.", A.AUTH_REQUIRES_TLS),
    (S.AUTH, 538, "5.7.11 Encryption required", A.AUTH_REQUIRES_TLS),
    (S.AUTH, 504, "5.5.4 Unrecognized authentication type", A.AUTH_MECHANISM_UNSUPPORTED),
    (S.AUTH, 454, "4.7.0 Temporary authentication failure", A.TEMPORARY_REJECTION),
    (S.MAIL, 530, "5.7.57 Client not authenticated to send mail", A.AUTH_REQUIRED),
    (S.MAIL, 550, "5.7.60 SMTP; Client does not have permissions", A.M365_SEND_AS_DENIED),
    (
        S.DATA,
        554,
        "5.2.252 SendAsDenied; STOREDRV.Submission.Exception:SendAsDeniedException",
        A.M365_SEND_AS_DENIED,
    ),
    (S.MAIL, 550, "5.7.708 Access denied, traffic not accepted", A.M365_TRAFFIC_REFUSED),
    (S.DATA, 554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuota", A.M365_SUBMISSION_QUOTA),
    (S.MAIL, 550, "5.4.5 Daily user sending quota exceeded.", A.SENDING_QUOTA_EXCEEDED),
    (S.RCPT, 550, "5.7.1 Unable to relay", A.RELAY_DENIED),
    (S.RCPT, 554, "5.7.1 <x@example.net>: Relay access denied", A.RELAY_DENIED),
    (S.MAIL, 550, "does not match a verified Sender Identity", A.SENDER_NOT_VERIFIED),
    (S.DATA, 554, "Message rejected: Email address is not verified.", A.SENDER_NOT_VERIFIED),
    (S.MAIL, 553, "5.1.8 Sender address rejected", A.SENDER_REFUSED),
    (S.RCPT, 550, "5.1.1 User unknown", A.RECIPIENT_REFUSED),
    (S.RCPT, 451, "4.7.1 Greylisted", A.TEMPORARY_REJECTION),
    (S.GREETING, 421, "4.3.2 Service not available", A.TEMPORARY_REJECTION),
    (S.GREETING, 554, "5.7.1 blocked", A.GREETING_REFUSED),
    (S.DATA, 554, "5.6.0 Message rejected", A.MESSAGE_REJECTED),
    (S.TLS, 454, "4.7.0 TLS not available", A.STARTTLS_FAILED),
    (S.EHLO, 502, "5.5.2 command not recognized", A.PROTOCOL_UNEXPECTED),
]


@pytest.mark.parametrize(
    ("step", "code", "text", "expected"), REPLIES, ids=[f"{r[0]}-{r[1]}-{r[3]}" for r in REPLIES]
)
def test_replies_are_classified(step, code, text, expected):
    assert classify(step, code=code, text=text) is expected


FAULTS = [
    (S.POLICY, Fault.POLICY, A.POLICY_REFUSED),
    (S.DNS, Fault.TIMEOUT, A.DNS_TEMPORARY),
    (S.CONNECT, Fault.TIMEOUT, A.CONNECT_TIMEOUT),
    (S.GREETING, Fault.TIMEOUT, A.NO_RESPONSE),
    (S.TLS, Fault.TLS_WRONG_VERSION, A.TLS_ON_PLAIN_PORT),
    (S.MAIL, Fault.DEADLINE, A.DEADLINE_EXCEEDED),
    (S.AUTH, Fault.AUTH_NOT_OFFERED_BEFORE_TLS, A.AUTH_REQUIRES_TLS),
    (S.DATA, Fault.UNEXPECTED, A.PROTOCOL_UNEXPECTED),
]


@pytest.mark.parametrize(("step", "fault", "expected"), FAULTS, ids=[f[1] for f in FAULTS])
def test_local_faults_are_classified(step, fault, expected):
    assert classify(step, fault=fault, text="whatever 5.7.9") is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.7.8 Authentication credentials invalid", "5.7.8"),
        ("  4.7.1 Greylisted", "4.7.1"),
        ("5.7.139 Authentication unsuccessful", "5.7.139"),
        ("Relay access denied", None),
        ("3.1.1 not a class", None),
        ("", None),
    ],
    ids=["plain", "leading-space", "three-digits", "none", "bad-class", "empty"],
)
def test_parse_enhanced_status(text, expected):
    assert parse_enhanced_status(text) == expected


def test_every_advice_has_a_title_and_a_fix_in_every_language():
    missing = [
        (advice.value, language)
        for advice in Advice
        for language in LANGUAGES
        if len(CATALOGUE.get(advice.value, {}).get(language, ())) != 2
    ]
    assert missing == []
    assert set(CATALOGUE) == {advice.value for advice in Advice}


def test_catalogue_placeholders_are_known_names():
    known = {"host", "port", "user", "sender", "recipient"}
    used = {
        name
        for entry in CATALOGUE.values()
        for pair in entry.values()
        for text in pair
        for _literal, name, _spec, _conv in string.Formatter().parse(text)
        if name
    }
    assert used <= known


def test_advice_text_fills_placeholders_and_falls_back_to_spanish():
    title, _fix = advice_text("plain_on_tls_port", "es", port=587)
    assert title == "El puerto 587 exige SSL/TLS desde el primer byte, no STARTTLS."
    assert advice_text("auth_failed", "fr") == advice_text("auth_failed", "es")
    assert advice_text("auth_failed", "en")[0] == "Wrong user or password."
    assert "{host}" in advice_text("dns_not_found", "es")[0]  # missing value stays visible


def test_gmail_advice_points_to_app_passwords_not_less_secure_apps():
    for code in ("gmail_app_password_required", "gmail_credentials_rejected"):
        _title, fix = advice_text(code, "es")
        assert "contraseña de aplicación" in fix
        assert "verificación en dos pasos" in fix


# -- what already passed changes what a refusal means (issue 7, point 3) ----------------------

AFTER_AUTH = [
    # (step, code, text, expected) with AUTH passed
    (S.RCPT, 554, "5.7.1 <bob@example.net>: Relay access denied", A.RELAY_DENIED_AUTHENTICATED),
    (S.RCPT, 550, "5.7.1 Unable to relay", A.RELAY_DENIED_AUTHENTICATED),
    (
        S.RCPT,
        553,
        "5.7.1 <ana@example.com>: Sender address rejected: not owned by user ana@example.com",
        A.SENDER_NOT_ALLOWED,
    ),
    (S.MAIL, 553, "5.7.1 <ana@example.com>: Sender address rejected", A.SENDER_NOT_ALLOWED),
    (
        S.MAIL,
        550,
        "5.7.1 Client does not have permission to send as this sender",
        A.SENDER_NOT_ALLOWED,
    ),
    (S.MAIL, 530, "5.7.0 Authentication required", A.SENDER_NOT_ALLOWED),
    (S.RCPT, 550, "5.1.1 User unknown", A.RECIPIENT_REFUSED),
    (
        S.MAIL,
        553,
        "5.1.8 <ana@example.com>: Sender address rejected: Domain not found",
        A.SENDER_REFUSED,
    ),
    (S.MAIL, 550, "5.7.60 SMTP; Client does not have permissions", A.M365_SEND_AS_DENIED),
    (S.RCPT, 451, "4.7.1 Greylisted", A.TEMPORARY_REJECTION),
]


@pytest.mark.parametrize(
    ("step", "code", "text", "expected"),
    AFTER_AUTH,
    ids=[f"{r[0]}-{r[1]}-{r[3]}" for r in AFTER_AUTH],
)
def test_refusals_after_a_successful_auth(step, code, text, expected):
    assert classify(step, code=code, text=text, authenticated=True) is expected


def test_the_same_relay_refusal_without_auth_still_asks_for_the_password():
    text = "5.7.1 <bob@example.net>: Relay access denied"
    assert classify(S.RCPT, code=554, text=text) is A.RELAY_DENIED
    assert classify(S.RCPT, code=554, text=text, authenticated=False) is A.RELAY_DENIED


ASKS_FOR_CREDENTIALS = {
    A.AUTH_REQUIRED,
    A.AUTH_FAILED,
    A.AUTH_REQUIRES_TLS,
    A.AUTH_NOT_OFFERED,
    A.AUTH_MECHANISM_UNSUPPORTED,
    A.PASSWORD_NOT_SENT_UNENCRYPTED,
    A.RELAY_DENIED,
    A.GMAIL_APP_PASSWORD_REQUIRED,
    A.GMAIL_WEB_LOGIN_REQUIRED,
    A.GMAIL_CREDENTIALS_REJECTED,
    A.M365_SMTP_AUTH_DISABLED,
    A.M365_BASIC_AUTH_RETIRED,
    A.OAUTH_TOKEN_REJECTED,
}
"""Advice whose fix is to type (or fix) the password or to authenticate at all."""

_WORDS = [
    "relay",
    "auth",
    "authentication required",
    "STARTTLS",
    "encrypt",
    "Web Login Required",
    "Username and Password not accepted",
    "[AUTHENTICATIONFAILED]",
    "denied",
    "sender",
]
_ENHANCED_CODES = [
    *("5.7.1", "5.7.0", "5.7.8", "5.7.9", "5.7.11", "5.7.14", "5.7.57", "5.7.139"),
    *("5.1.1", "4.7.1", "5.5.4"),
]


@given(
    step=st.sampled_from([S.MAIL, S.RCPT]),
    code=st.one_of(st.none(), st.integers(min_value=400, max_value=599)),
    enhanced=st.one_of(st.just(""), st.sampled_from(_ENHANCED_CODES)),
    words=st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=12)), max_size=4),
)
@settings(deadline=None, max_examples=400)
def test_after_auth_passed_the_advice_never_asks_for_the_password(step, code, enhanced, words):
    text = " ".join([enhanced, *words]).strip()
    advice = classify(step, code=code, text=text, authenticated=True)
    assert advice not in ASKS_FOR_CREDENTIALS, (step, code, text, advice)


@pytest.mark.parametrize("code", ["plain_on_tls_port", "tls_on_plain_port"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_port_security_mismatch_never_names_a_port_it_did_not_see(code, language):
    """Without a proposal the advice says what was seen and sends the user to Detectar; it
    never invents "use port 465" (issue 7, points 1 and 2)."""
    title, fix = advice_text(code, language, port=2465)
    assert re.findall(r"\d{2,5}", title + " " + fix) == ["2465"]
    assert {"es": "Presione Detectar", "en": "Press Detect "}[language] in fix


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_local_fault_has_a_technical_detail_in_every_language(language):
    from emisario.console.advice_catalogue import FAULT_DETAILS

    for fault in Fault:
        assert language in FAULT_DETAILS[fault.value], fault
    assert {key.split("@")[0] for key in FAULT_DETAILS} - {"deadline_seconds"} == {
        fault.value for fault in Fault
    }


def test_the_credential_advice_set_is_the_one_this_test_expects():
    """The rule "never ask for the password once AUTH passed" is only as good as the set it
    skips: a new advice about credentials must be added to both, on purpose."""
    from emisario.core.smtp import advice

    assert set(advice.ASKS_FOR_CREDENTIALS) == ASKS_FOR_CREDENTIALS
