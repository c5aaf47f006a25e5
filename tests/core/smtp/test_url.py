import pytest

from emisario.core.errors import InvalidValue
from emisario.core.smtp.endpoint import SecurityMode
from emisario.core.smtp.url import parse_smtp_url


@pytest.mark.parametrize(
    ("url", "host", "port", "security", "sender", "login", "password"),
    [
        (
            "smtps://a%40x.com:p%40ss@smtp.x.com",
            "smtp.x.com",
            465,
            SecurityMode.TLS,
            "a@x.com",
            "",
            "p@ss",
        ),
        (
            "smtp+starttls://apikey:k@smtp.sendgrid.net:2525?from=n@y.com",
            "smtp.sendgrid.net",
            2525,
            SecurityMode.STARTTLS,
            "n@y.com",
            "apikey",
            "k",
        ),
        (
            "smtp://relay.local?from=n@y.com",
            "relay.local",
            25,
            SecurityMode.NONE,
            "n@y.com",
            "",
            None,
        ),
    ],
    ids=["implicit-tls", "starttls-apikey", "plain-no-auth"],
)
def test_parses(url, host, port, security, sender, login, password):
    endpoint = parse_smtp_url(url)
    assert (endpoint.host, endpoint.port, endpoint.security) == (host, port, security)
    assert (endpoint.sender, endpoint.login) == (sender, login)
    assert (endpoint.password.reveal() if endpoint.password else None) == password
    assert "p@ss" not in repr(endpoint)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://x.com", "invalid_url_scheme"),
        ("smtp://", "invalid_url"),
        ("smtp://relay.local", "url_needs_from"),
        ("smtp://a@x.com@relay.local:99999", "invalid_url"),
        ("smtp://relay.local?from=bad%0d%0aBcc:x@y.com", "control_characters"),
    ],
    ids=["scheme", "no-host", "no-from", "bad-port", "crlf-in-from"],
)
def test_refuses(url, code):
    with pytest.raises(InvalidValue) as caught:
        parse_smtp_url(url)
    assert caught.value.code == code
