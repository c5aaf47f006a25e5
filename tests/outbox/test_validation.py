"""Every field enqueue takes is validated by our own code, with the field and a stable code."""

from __future__ import annotations

import pytest

from emisario.outbox.messages import INTAKE_ERRORS
from emisario.outbox.models import OutboundMessage
from emisario.outbox.services import InvalidMessage, enqueue, enqueue_many

pytestmark = pytest.mark.django_db

GOOD = {"to": ["cliente@example.com"], "subject": "Estado de cuenta", "text": "Hola"}


def refused(**fields):
    values = {"company": "ACME", **GOOD, **fields}
    with pytest.raises(InvalidMessage) as caught:
        enqueue(**values)
    assert OutboundMessage.objects.count() == 0
    return caught.value


HOSTILE_ADDRESSES = [
    ("cliente@example.com\r\nBcc: x@evil.example", "control_characters"),
    ("cliente@exam\nple.com", "control_characters"),
    ("clie\rnte@example.com", "control_characters"),
    ("cliente\0@example.com", "control_characters"),
    ("cliente@exa\u2028mple.com", "control_characters"),
    ("=?utf-8?q?_=0D=0ABcc=3A_x=40evil.example?=@acme.demo", "encoded_word"),
    ("cli\u202eente@example.com", "invisible_characters"),
    ("a" * 65 + "@example.com", "invalid_address"),  # RFC 5321 4.5.3.1.1: local part <= 64
    ("a" * 64 + "@" + ("b" * 60 + ".") * 3 + "example.com", "invalid_address"),  # > 254
    ("Juan <juan@example.com>", "invalid_address"),
    ("juan@", "invalid_address"),
    ("juan@[127.0.0.1]", "invalid_address"),
    ("", "required"),
]


@pytest.mark.parametrize(
    ("address", "code"),
    HOSTILE_ADDRESSES,
    ids=[c + str(n) for n, (_, c) in enumerate(HOSTILE_ADDRESSES)],
)
@pytest.mark.parametrize("kind", ["to", "cc", "bcc", "reply_to", "from_address"])
def test_hostile_addresses_are_refused_in_every_address_field(acme, kind, address, code):
    if kind in ("reply_to", "from_address") and address == "":  # empty: not given
        assert enqueue(company=acme, **GOOD, **{kind: address}).pk
        return
    value = address if kind in ("reply_to", "from_address") else [address]
    error = refused(**{kind: value})
    assert error.code == code
    assert error.field == (kind if kind in ("reply_to", "from_address") else f"{kind}[0]")


def test_idn_domains_become_a_labels_and_utf8_local_parts_stay(acme):
    message = enqueue(
        company="ACME",
        to=["josé@bücher.de", ("Cliente Ñandú", "pago@EXAMPLE.Com")],
        reply_to="cobros@straße.de",
        subject="x",
        text="y",
    )
    addresses = list(message.recipients.values_list("address", "display_name"))
    assert addresses == [("josé@xn--bcher-kva.de", ""), ("pago@example.com", "Cliente Ñandú")]
    assert message.reply_to == "cobros@xn--strae-oqa.de"  # IDNA 2008: not strasse.de


def test_the_same_address_twice_is_one_recipient(acme):
    message = enqueue(
        company="ACME",
        to=["a@example.com", "b@example.com"],
        cc=["a@example.com"],
        bcc=["b@example.com", "c@example.com"],
        subject="x",
        text="y",
    )
    rows = list(message.recipients.values_list("kind", "address"))
    assert rows == [("to", "a@example.com"), ("to", "b@example.com"), ("bcc", "c@example.com")]
    assert message.recipient_count == 3


def test_a_display_name_with_a_line_break_is_refused(acme):
    error = refused(to=[("Juan\r\nBcc: x@evil.example", "juan@example.com")])
    assert (error.field, error.code) == ("to[0]", "control_characters")


def test_at_least_one_recipient(acme):
    assert refused(to=[]).code == "no_recipients"
    assert enqueue(company=acme, to=[], bcc=["oculto@example.com"], subject="x", text="y").pk


def test_too_many_recipients(acme, settings):
    settings.EMISARIO_OUTBOX_MAX_RECIPIENTS = 3
    error = refused(to=[f"c{n}@example.com" for n in range(4)])
    assert (error.code, error.params["limit"]) == ("too_many_recipients", 3)


@pytest.mark.parametrize(
    ("subject", "code"),
    [
        ("Estado\r\nBcc: x@evil.example", "control_characters"),
        ("Estado\n", "control_characters"),
        ("Estado\0", "control_characters"),
        ("Estado\u0085", "control_characters"),  # NEL: a line break to Python's email package
        ("Estado\u200b", "invisible_characters"),
        ("x" * 999, "too_long"),
        (None, "required"),
    ],
    ids=["crlf", "lf", "nul", "nel", "zero-width", "999-chars", "none"],
)
def test_hostile_subjects_are_refused(acme, subject, code):
    error = refused(subject=subject)
    assert (error.field, error.code) == ("subject", code)


def test_an_encoded_word_in_the_subject_is_kept_as_literal_text(acme):
    literal = "=?utf-8?q?_=0D=0ABcc=3A_x=40evil.example?= estado"
    message = enqueue(company=acme, to=["a@example.com"], subject=literal, text="y")
    assert message.subject == literal  # rendered as our own B encoded-words, never decoded


def test_no_body_is_refused_and_either_body_is_enough(acme):
    assert refused(text=None).code == "no_body"
    assert refused(text="", html="").code == "no_body"
    assert enqueue(company=acme, to=["a@example.com"], subject="x", html="<p>Hola</p>").pk


@pytest.mark.parametrize("body", ["Hola\0", "Hola \ud800"], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize("kind", ["text", "html"])
def test_bodies_that_cannot_be_sent_are_refused(acme, kind, body):
    error = refused(**{"text": "ok", kind: body})
    assert (error.field, error.code) == (kind, "invalid_text")


def test_a_body_over_the_limit_is_refused(acme, settings):
    settings.EMISARIO_OUTBOX_MAX_BODY_BYTES = 10
    error = refused(text="ñ" * 6)  # 12 bytes in UTF-8
    assert (error.field, error.code, error.params["limit"]) == ("text", "body_too_large", 10)


@pytest.mark.parametrize(
    "name",
    [
        "From",
        "to",
        "CC",
        "Bcc",
        "Reply-To",
        "Sender",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "content-transfer-encoding",
        "Resent-From",
        "Received",
        "Return-Path",
        "DKIM-Signature",
    ],
)
def test_headers_emisario_writes_cannot_be_set(acme, name):
    error = refused(headers={name: "x"})
    assert (error.field, error.code, error.params["name"]) == (
        f"headers.{name}",
        "reserved_header",
        name,
    )


@pytest.mark.parametrize(
    "name",
    ["X Invoice", "X:Invoice", "X-Invoice\r\nBcc", "", "1X", "X-Ñ", "X" * 77],
    ids=["space", "colon", "crlf", "empty", "digit-first", "non-ascii", "too-long"],
)
def test_bad_header_names_are_refused(acme, name):
    assert refused(headers=[(name, "x")]).code == "invalid_header_name"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1\r\nBcc: x@evil.example", "control_characters"),
        ("1\n", "control_characters"),
        ("1\0", "control_characters"),
        ("x" * 999, "too_long"),
        (7, "invalid_text"),
    ],
    ids=["crlf", "lf", "nul", "too-long", "not-text"],
)
def test_bad_header_values_are_refused(acme, value, code):
    error = refused(headers={"X-Invoice": value})
    assert (error.field, error.code) == ("headers.X-Invoice", code)


def test_structured_headers_must_be_plain_ascii(acme):
    assert refused(headers={"References": "<ñ@example.com>"}).code == "header_not_ascii"


def test_extra_headers_are_kept_in_order_as_json(acme):
    message = enqueue(
        company=acme,
        to=["a@example.com"],
        subject="x",
        text="y",
        headers=[
            ("X-Invoice", "F-001"),
            ("List-Unsubscribe", "<mailto:baja@acme.example>"),
            ("X-Cliente", "Ñandú S.A."),
        ],
    )
    message.refresh_from_db()
    assert message.headers == [
        ["X-Invoice", "F-001"],
        ["List-Unsubscribe", "<mailto:baja@acme.example>"],
        ["X-Cliente", "Ñandú S.A."],
    ]


def test_too_many_headers(acme):
    assert refused(headers={f"X-H{n}": "v" for n in range(51)}).code == "too_many_headers"


def test_unknown_company_and_type(acme):
    assert (refused(company="NOPE").field, refused(company="NOPE").code) == (
        "company",
        "unknown_company",
    )
    error = refused(account_type="NOEXISTE")
    assert (error.field, error.code) == ("account_type", "unknown_type")


@pytest.mark.parametrize(
    "key",
    ["", "   ", "k" * 256, "key\r\n", "key\0", 12],
    ids=["empty", "blank", "256", "crlf", "nul", "int"],
)
def test_bad_idempotency_keys(acme, key):
    assert refused(idempotency_key=key).code == "invalid_idempotency_key"


def test_every_code_has_a_message():
    codes = {
        "unknown_company",
        "unknown_type",
        "no_recipients",
        "too_many_recipients",
        "no_body",
        "body_too_large",
        "invalid_text",
        "invalid_header_name",
        "reserved_header",
        "header_not_ascii",
        "too_many_headers",
        "too_many_attachments",
        "attachment_too_large",
        "attachment_unreadable",
        "invalid_attachment",
        "invalid_filename",
        "invalid_content_type",
        "invalid_idempotency_key",
        "invalid_item",
    }
    assert codes <= set(INTAKE_ERRORS)


def test_enqueue_many_names_the_bad_item_and_queues_nothing(acme):
    items = [{"company": "ACME", **GOOD} for _ in range(5)]
    items[3] = {**items[3], "to": ["x@example.com\r\nBcc: y@evil.example"]}
    with pytest.raises(InvalidMessage) as caught:
        enqueue_many(items, chunk_size=2)
    assert (caught.value.index, caught.value.field, caught.value.code) == (
        3,
        "to[0]",
        "control_characters",
    )
    assert OutboundMessage.objects.count() == 0  # items 0-1 were written, then rolled back


def test_enqueue_many_refuses_unknown_fields(acme):
    with pytest.raises(InvalidMessage) as caught:
        enqueue_many([{"company": "ACME", **GOOD, "bodyy": "x"}])
    assert (caught.value.index, caught.value.code) == (0, "invalid_item")


def test_enqueue_is_keyword_only(acme):
    with pytest.raises(TypeError):
        enqueue("ACME", ["a@example.com"], "x")  # type: ignore[misc]
