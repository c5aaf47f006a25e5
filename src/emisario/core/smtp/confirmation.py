"""The confirmation mail Probar sends: the seed promises one arrives at the configured address.

It names the server, port and security mode, so a user who receives it knows which of
several accounts worked. Its bytes come from :class:`~emisario.core.mail.message.TextMessage`:
headers written from validated values (the From carries the account's display name), a
quoted-printable body, 7-bit clean for servers without 8BITMIME.
"""

from __future__ import annotations

from datetime import datetime

from emisario.core.mail.message import TextMessage
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint

_SECURITY = {
    "es": {
        SecurityMode.NONE: "sin cifrar",
        SecurityMode.STARTTLS: "STARTTLS",
        SecurityMode.TLS: "SSL/TLS (implícito)",
    },
    "en": {
        SecurityMode.NONE: "unencrypted",
        SecurityMode.STARTTLS: "STARTTLS",
        SecurityMode.TLS: "SSL/TLS (implicit)",
    },
}

_TEXT = {
    "es": {
        "subject": "Emisario: la configuración SMTP funciona",
        "body": (
            "Este es un correo de prueba enviado por Emisario al pulsar «Probar».\n"
            "\n"
            "Si lo está leyendo, la cuenta de correo está bien configurada:\n"
            "\n"
            "  Servidor SMTP: {host}\n"
            "  Puerto: {port}\n"
            "  Seguridad: {security}\n"
            "  Usuario: {sender}\n"
            "  Fecha de la prueba: {when}\n"
            "\n"
            "Recuerde pulsar «Guardar» para conservar la configuración.\n"
            "No es necesario responder a este mensaje.\n"
        ),
    },
    "en": {
        "subject": "Emisario: the SMTP configuration works",
        "body": (
            "This is a test message sent by Emisario when «Probar» (Test) was pressed.\n"
            "\n"
            "If you are reading it, the mail account is configured correctly:\n"
            "\n"
            "  SMTP server: {host}\n"
            "  Port: {port}\n"
            "  Security: {security}\n"
            "  User: {sender}\n"
            "  Time of the test: {when}\n"
            "\n"
            "Remember to press «Guardar» (Save) to keep the configuration.\n"
            "There is no need to reply to this message.\n"
        ),
    },
}


def confirmation_message(
    endpoint: SmtpEndpoint,
    *,
    recipient: str,
    now: datetime | None = None,
    language: str = "es",
    display_name: str = "",
) -> bytes:
    """The confirmation mail as bytes ready for DATA; ``language`` "es" (default) or "en".
    ``display_name`` is the account's "Nombre a mostrar", shown in From."""
    texts = _TEXT.get(language, _TEXT["es"])
    security = _SECURITY.get(language, _SECURITY["es"])[endpoint.security]
    # An aware ``now`` (Django's TIME_ZONE) is shown as given; a naive one is local time.
    when = (
        now if now is not None and now.tzinfo is not None else (now or datetime.now()).astimezone()
    )
    body = texts["body"].format(
        host=endpoint.host,
        port=endpoint.port,
        security=security,
        sender=endpoint.sender,
        when=when.strftime("%Y-%m-%d %H:%M:%S %z"),
    )
    return TextMessage(
        sender=endpoint.sender,
        sender_name=display_name,
        to=(recipient,),
        subject=texts["subject"],
        body=body,
        date=when,
    ).as_bytes()
