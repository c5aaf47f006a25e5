"""SmtpEndpoint validates everything at construction; the SSL checkbox maps to a mode."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emisario.core.errors import InvalidValue
from emisario.core.secrets import Secret
from emisario.core.smtp.endpoint import (
    DEFAULT_PORTS,
    SecurityMode,
    SmtpEndpoint,
    security_from_checkbox,
    validate_port,
)

PASSWORD = "app-password-1234"


def endpoint(**overrides) -> SmtpEndpoint:
    values = {
        "host": "smtp.gmail.com",
        "port": 465,
        "security": SecurityMode.TLS,
        "sender": "cobranzas@example.com",
    }
    values.update(overrides)
    return SmtpEndpoint(**values)


# --- the seed's SSL checkbox ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "ssl", "expected"),
    [
        (465, True, SecurityMode.TLS),
        (587, True, SecurityMode.STARTTLS),
        (25, True, SecurityMode.STARTTLS),
        (2525, True, SecurityMode.STARTTLS),
        (465, False, SecurityMode.NONE),
        (587, False, SecurityMode.NONE),
        (25, False, SecurityMode.NONE),
    ],
    ids=["465-ssl", "587-ssl", "25-ssl", "2525-ssl", "465-plain", "587-plain", "25-plain"],
)
def test_security_from_checkbox(port, ssl, expected):
    assert security_from_checkbox(port=port, ssl=ssl) is expected


@pytest.mark.parametrize(
    ("mode", "encrypted"),
    [(SecurityMode.NONE, False), (SecurityMode.STARTTLS, True), (SecurityMode.TLS, True)],
    ids=["none", "starttls", "tls"],
)
def test_encrypted(mode, encrypted):
    assert mode.encrypted is encrypted


def test_security_mode_values_are_stable():
    # stored in the database and the audit log
    assert [mode.value for mode in SecurityMode] == ["none", "starttls", "tls"]
    assert all(mode.__doc__ for mode in SecurityMode)


# --- ports ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(25, 25), (465, 465), ("587", 587), (" 2525 ", 2525), (1, 1), (65535, 65535)],
    ids=["25", "465", "text", "spaces", "lowest", "highest"],
)
def test_valid_ports(value, expected):
    assert validate_port(value) == expected


@pytest.mark.parametrize(
    "value",
    [0, 65536, -25, "abc", "", "25.0", "0x19", True, False, None, 25.5, "1e3", "2 5"],
    ids=["0", "65536", "negative", "abc", "empty", "decimal", "hex", "true", "false", "none",
         "float", "exponent", "inner-space"],
)  # fmt: skip
def test_bad_ports_are_refused(value):
    with pytest.raises(InvalidValue) as caught:
        validate_port(value, field="puerto")
    assert caught.value.code == "invalid_port"
    assert caught.value.field == "puerto"


@given(st.integers())
def test_property_port_range(value):
    if 1 <= value <= 65535:
        assert validate_port(value) == value
    else:
        with pytest.raises(InvalidValue):
            validate_port(value)


def test_default_ports():
    assert DEFAULT_PORTS == (25, 465, 587, 2525)


# --- the endpoint --------------------------------------------------------------------------


def test_endpoint_normalizes_its_fields():
    made = SmtpEndpoint(
        host=" SMTP.Gmail.com. ",
        port="587",
        security="starttls",
        sender=" Cobranzas@Correo.Ñandú.com.py ",
        login="  apikey ",
        password=Secret(PASSWORD),
    )
    assert made.host == "smtp.gmail.com"
    assert made.port == 587
    assert made.security is SecurityMode.STARTTLS
    assert made.sender == "Cobranzas@correo.xn--and-6ma2c.com.py"
    assert made.login == "apikey"
    assert made.auth_user == "apikey"


def test_auth_user_defaults_to_the_sender():
    assert endpoint().auth_user == "cobranzas@example.com"


@pytest.mark.parametrize(
    ("host", "port", "target"),
    [("smtp.gmail.com", 465, "smtp.gmail.com:465"), ("2001:db8::25", 587, "[2001:db8::25]:587")],
    ids=["name", "ipv6"],
)
def test_target(host, port, target):
    assert endpoint(host=host, port=port).target == target


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"host": ""}, "host", "required"),
        ({"host": "smtp gmail.com"}, "host", "invalid_host"),
        ({"host": "smtp.gmail.com\r\nRCPT TO:<x@evil.example>"}, "host", "control_characters"),
        ({"port": 0}, "port", "invalid_port"),
        ({"port": 65536}, "port", "invalid_port"),
        ({"port": "abc"}, "port", "invalid_port"),
        ({"port": True}, "port", "invalid_port"),
        ({"sender": "cobranzas"}, "sender", "invalid_address"),
        ({"sender": "a@b.com\r\nBcc: x@evil.example"}, "sender", "control_characters"),
        ({"login": "user\r\nAUTH PLAIN"}, "login", "control_characters"),
        ({"login": "user\x00"}, "login", "control_characters"),
        ({"password": Secret("pass\r\nQUIT")}, "password", "control_characters"),
        ({"password": Secret("pass\x00word")}, "password", "control_characters"),
    ],
    ids=["no-host", "bad-host", "crlf-host", "port-0", "port-65536", "port-abc", "port-true",
         "bad-sender", "crlf-sender", "crlf-login", "nul-login", "crlf-password", "nul-password"],
)  # fmt: skip
def test_endpoint_refuses_bad_fields(overrides, field, code):
    with pytest.raises(InvalidValue) as caught:
        endpoint(**overrides)
    assert caught.value.field == field
    assert caught.value.code == code


def test_bad_password_error_does_not_show_it():
    with pytest.raises(InvalidValue) as caught:
        endpoint(password=Secret("hunter2\r\n"))
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value.params)


def test_bad_security_mode_is_refused():
    with pytest.raises(ValueError):
        endpoint(security="ssl")


def test_endpoint_repr_hides_the_password():
    made = endpoint(password=Secret(PASSWORD))
    assert PASSWORD not in repr(made)
    assert PASSWORD not in str(made)
    assert PASSWORD not in f"{made}"


def test_endpoint_is_frozen():
    made = endpoint()
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.host = "127.0.0.1"  # type: ignore[misc]


def test_replace_validates_again():
    made = endpoint()
    with pytest.raises(InvalidValue):
        dataclasses.replace(made, host="bad host")
    assert dataclasses.replace(made, port="587").port == 587
