"""TLS for Probar: a verifying context, the facts worth showing, and what an ssl error means.

Verification is always on unless a caller passes its own context: a test that "works" against
a forged certificate would teach users to send passwords to it.
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from emisario.core.smtp.advice import Fault

# OpenSSL reasons (ssl.SSLError.reason) meaning "the peer is not speaking TLS".
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST"})
_OLD_PROTOCOL = frozenset(
    {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"}
)
# X509_V_ERR_* codes (openssl/x509_vfy.h).
_X509_EXPIRED = frozenset({9, 10})  # CERT_NOT_YET_VALID, CERT_HAS_EXPIRED
_X509_UNTRUSTED = frozenset({18, 19, 20, 21, 2, 27, 28})  # self-signed, unknown issuer, ...
_X509_HOSTNAME = frozenset({62, 64})  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH


def default_tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """The one client context every path that talks SMTP uses (Probar, Detectar, CRONUS):
    chain and host name verified, TLS 1.2 at least. ``cafile`` *adds* private CAs (a company
    relay with an internal certificate) to the system's trust store; it never replaces it."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cafile:
        context.load_verify_locations(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def probe_context() -> ssl.SSLContext:
    """A context that accepts any certificate: only to ask "does this port speak TLS?" and to
    read the certificate a failed verification refused. Never used to send credentials."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    return context


def classify_ssl_error(exc: BaseException) -> Fault:
    """Which :class:`Fault` an exception raised during a TLS handshake stands for."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _X509_EXPIRED:
            return Fault.CERT_EXPIRED
        if exc.verify_code in _X509_HOSTNAME:
            return Fault.CERT_HOSTNAME
        if exc.verify_code in _X509_UNTRUSTED:
            return Fault.CERT_UNTRUSTED
        message = (exc.verify_message or "").lower()
        if "mismatch" in message:
            return Fault.CERT_HOSTNAME
        if "expired" in message:
            return Fault.CERT_EXPIRED
        return Fault.CERT_UNTRUSTED
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None) or ""
        if reason in _NOT_TLS:
            return Fault.TLS_WRONG_VERSION
        if reason in _OLD_PROTOCOL:
            return Fault.TLS_PROTOCOL_VERSION
    return Fault.TLS_FAILED


def ssl_error_text(exc: BaseException) -> str:
    """A short text for the report: OpenSSL's verify message or reason, not a traceback."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and getattr(exc, "reason", None):
        return f"{exc.library or 'SSL'}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def certificate_facts(der: bytes | None, *, host: str | None = None) -> dict[str, Any]:
    """Subject, issuer, validity and names of a DER certificate, plus whether ``host``
    matches it. Empty when there is no certificate or it cannot be parsed."""
    if not der:
        return {}
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return {}
    names = _subject_alt_names(cert)
    facts: dict[str, Any] = {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "names": names,
        "self_signed": cert.subject == cert.issuer,
    }
    if host is not None:
        facts["hostname_match"] = hostname_matches(host, names)
    return facts


def session_facts(ssl_object: ssl.SSLObject | ssl.SSLSocket | None, *, host: str) -> dict[str, Any]:
    """Protocol, cipher and certificate of an established TLS session."""
    if ssl_object is None:
        return {}
    cipher = ssl_object.cipher()
    facts: dict[str, Any] = {
        "protocol": ssl_object.version(),
        "cipher": cipher[0] if cipher else None,
    }
    facts["certificate"] = certificate_facts(ssl_object.getpeercert(binary_form=True), host=host)
    return facts


def hostname_matches(host: str, names: list[str]) -> bool:
    """RFC 6125 matching: exact name or IP, or a wildcard in the left-most label only."""
    host = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for name in names:
        name = name.lower().rstrip(".")
        if address is not None:
            if name == str(address):
                return True
            continue
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            first, rest = host.split(".", 1)
            if first and rest == name[2:]:
                return True
    return False


def _subject_alt_names(cert: x509.Certificate) -> list[str]:
    try:
        extension = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return []
    san = extension.value
    assert isinstance(san, x509.SubjectAlternativeName)
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return [*dns, *ips]
