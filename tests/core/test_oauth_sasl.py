"""XOAUTH2 and OAUTHBEARER messages: the exact bytes the providers document, no way for a
mailbox name or a token to add a field, and the error exchange that ends a refused login.
Against a real aiosmtpd server with smtplib at the end."""

from __future__ import annotations

import base64
import json
import smtplib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emisario.core.errors import InvalidValue
from emisario.core.oauth import sasl
from emisario.core.secrets import Secret
from emisario.demo.mailbox import PLAIN, LoopbackSmtpd

TOKEN = Secret("ya29.a0AfB_byC-token.with~chars+/=")


def test_xoauth2_is_the_documented_message():
    # Google's and Microsoft's documentation: user=...^Aauth=Bearer ...^A^A
    assert sasl.xoauth2("ana@acme.example", TOKEN) == (
        "user=ana@acme.example\x01auth=Bearer ya29.a0AfB_byC-token.with~chars+/=\x01\x01"
    )


def test_oauthbearer_carries_the_gs2_header_host_and_port():
    message = sasl.oauthbearer("ana@acme.example", TOKEN, host="smtp.acme.example", port=587)
    assert message == (
        "n,a=ana@acme.example,\x01host=smtp.acme.example\x01port=587\x01"
        "auth=Bearer ya29.a0AfB_byC-token.with~chars+/=\x01\x01"
    )


@given(
    st.builds(
        lambda before, bad, after: before + bad + after,
        st.text(max_size=20),
        st.sampled_from(list("\x01\r\n\0,=")),
        st.text(max_size=20),
    )
)  # built with the character, not filtered for it: a filter that rejects most draws is flaky
def test_a_user_that_could_add_a_field_is_refused(user):
    with pytest.raises(InvalidValue):
        sasl.xoauth2(user, TOKEN)


@given(
    st.text(min_size=1, max_size=60).filter(
        lambda t: not sasl._BEARER_TOKEN.fullmatch(t)  # a space, 0x01, a line break, ...
    )
)
def test_a_token_outside_rfc_6750_is_refused(token):
    with pytest.raises(InvalidValue):
        sasl.xoauth2("ana@acme.example", Secret(token))


def test_the_mechanism_is_chosen_among_those_offered():
    assert sasl.choose(["LOGIN", "xoauth2"]) is sasl.Mechanism.XOAUTH2
    assert sasl.choose(["OAUTHBEARER", "XOAUTH2"]) is sasl.Mechanism.XOAUTH2
    assert sasl.choose(["PLAIN", "OAUTHBEARER"]) is sasl.Mechanism.OAUTHBEARER
    assert sasl.choose(["PLAIN", "LOGIN"]) is None


def test_the_error_json_is_read_encoded_or_not_and_anything_else_is_ignored():
    payload = {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"}
    encoded = base64.b64encode(json.dumps(payload).encode())
    assert sasl.parse_error(encoded) == payload
    assert sasl.parse_error(json.dumps(payload).encode()) == payload
    assert sasl.parse_error(b"not json") == {}
    assert sasl.parse_error(base64.b64encode(b"[1, 2]")) == {}
    assert sasl.parse_error(None) == {}


def test_the_responder_answers_the_error_challenge_as_each_mechanism_wants():
    xoauth2 = sasl.BearerResponder(sasl.Mechanism.XOAUTH2, "initial")
    assert xoauth2() == "initial"
    assert xoauth2(b'{"status":"401"}') == ""
    assert xoauth2.error == {"status": "401"}
    bearer = sasl.BearerResponder(sasl.Mechanism.OAUTHBEARER, "initial")
    assert bearer(b"") == "initial"  # the two-step form: an empty 334 first
    assert bearer(b'{"status":"invalid_token"}') == "\x01"


# -- against a real server ----------------------------------------------------------------


GOOD = "valid-token-123"


async def good_token_only(mailbox: str, token: str) -> bool:
    return mailbox == "ana@acme.example" and token == GOOD


@pytest.fixture
def token_server():
    """The demo mailbox taking XOAUTH2: a wrong token gets the providers' error exchange."""
    server = LoopbackSmtpd(
        {}, listeners=(PLAIN,), auth_required=False, plain_auth=True,
        token_checker=good_token_only,
    )  # fmt: skip
    with server:
        yield server


@pytest.mark.parametrize(("token", "accepted"), [("valid-token-123", True), ("expired-9", False)])
def test_smtplib_with_the_responder_logs_in_or_gets_the_final_535(token_server, token, accepted):
    with smtplib.SMTP("127.0.0.1", token_server.ports[PLAIN], timeout=10) as client:
        client.ehlo()
        assert "XOAUTH2" in client.esmtp_features["auth"].upper()
        responder = sasl.BearerResponder(
            sasl.Mechanism.XOAUTH2, sasl.xoauth2("ana@acme.example", Secret(token))
        )
        if accepted:
            code, _ = client.auth("XOAUTH2", responder)
            assert code == 235
            assert responder.error == {}
        else:
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                client.auth("XOAUTH2", responder)
            assert refused.value.smtp_code == 535
            assert responder.error["status"] == "401"
