"""TLS helpers: the default context verifies, certificates are described, names match."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from emisario.core.smtp.advice import Fault
from emisario.core.smtp.tlsinfo import (
    certificate_facts,
    classify_ssl_error,
    default_tls_context,
    hostname_matches,
)


def test_default_context_verifies_chain_and_name():
    context = default_tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def _der(cert: trustme.LeafCert) -> bytes:
    pem = cert.cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def test_certificate_facts_describe_a_real_certificate(ca):
    not_after = dt.datetime(2031, 1, 2, tzinfo=dt.UTC)
    cert = ca.issue_cert("mail.example.org", "127.0.0.1", not_after=not_after)
    facts = certificate_facts(_der(cert), host="mail.example.org")
    assert facts["names"] == ["mail.example.org", "127.0.0.1"]
    assert facts["not_after"].startswith("2031-01-02")
    assert facts["hostname_match"] is True
    assert facts["self_signed"] is False
    assert "trustme" in facts["issuer"]
    assert certificate_facts(_der(cert), host="smtp.example.org")["hostname_match"] is False
    assert certificate_facts(b"not a certificate") == {}


@pytest.mark.parametrize(
    ("host", "names", "expected"),
    [
        ("smtp.gmail.com", ["smtp.gmail.com"], True),
        ("SMTP.Gmail.com.", ["smtp.gmail.com"], True),
        ("smtp.office365.com", ["*.office365.com"], True),
        ("a.b.office365.com", ["*.office365.com"], False),
        ("office365.com", ["*.office365.com"], False),
        ("127.0.0.1", ["127.0.0.1"], True),
        ("127.0.0.1", ["localhost"], False),
    ],
    ids=[
        "exact",
        "case-dot",
        "wildcard",
        "wildcard-one-label",
        "wildcard-bare",
        "ip",
        "ip-vs-name",
    ],
)
def test_hostname_matches(host, names, expected):
    assert hostname_matches(host, names) is expected


def test_classify_ssl_error_without_verification_code():
    assert classify_ssl_error(ConnectionResetError()) is Fault.TLS_FAILED
    assert classify_ssl_error(ssl.SSLError(1, "boom")) is Fault.TLS_FAILED


def test_an_extra_ca_file_adds_to_the_system_store_instead_of_replacing_it(tmp_path, monkeypatch):
    """Issue 6, point 17: a company relay with a private CA must not cost every public server
    its trust. The "system store" here is a CA of our own, named by SSL_CERT_FILE (which
    OpenSSL's default verify paths honour)."""
    import asyncio

    import aiosmtplib
    import trustme

    from emisario.demo.mailbox import TLS, LoopbackSmtpd

    public_ca, private_ca = trustme.CA(), trustme.CA()
    system_file, extra_file = tmp_path / "system.pem", tmp_path / "extra.pem"
    public_ca.cert_pem.write_to_path(str(system_file))
    private_ca.cert_pem.write_to_path(str(extra_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(system_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    context = default_tls_context(str(extra_file))

    async def greet(port: int) -> int:
        smtp = aiosmtplib.SMTP(
            hostname="localhost", port=port, use_tls=True, tls_context=context, timeout=5
        )
        response = await smtp.connect()
        await smtp.quit()
        return response.code

    with (
        LoopbackSmtpd(listeners=(TLS,), ca=public_ca) as public,
        LoopbackSmtpd(listeners=(TLS,), ca=private_ca) as private,
    ):
        assert asyncio.run(greet(public.port(TLS))) == 220
        assert asyncio.run(greet(private.port(TLS))) == 220
