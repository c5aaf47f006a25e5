"""Address, host and header validation: the gate every typed value passes before SMTP."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from emisario.core.addresses import (
    MAX_HEADER_TEXT,
    header_text,
    normalize_address,
    normalize_host,
    refuse_control_characters,
)
from emisario.core.errors import InvalidValue

# Every character that can end a line or hide in an SMTP command or header: C0, DEL, C1 and the
# Unicode line and paragraph separators that Python's str.splitlines() breaks on.
CONTROL_CHARACTERS = (
    [chr(code) for code in range(0x20)]
    + [chr(code) for code in range(0x7F, 0xA0)]
    + ["\u2028", "\u2029"]
)
NAMED_CONTROLS = [
    ("\r", "cr"),
    ("\n", "lf"),
    ("\r\n", "crlf"),
    ("\x00", "nul"),
    ("\t", "tab"),
    ("\x0b", "vt"),
    ("\x0c", "ff"),
    ("\x1b", "esc"),
    ("\x7f", "del"),
    ("\x85", "nel"),
    ("\u2028", "line-separator"),
    ("\u2029", "paragraph-separator"),
]

VISIBLE = st.characters(
    blacklist_characters=CONTROL_CHARACTERS, blacklist_categories=["Cc", "Cf", "Cs", "Zl", "Zp"]
)
INVISIBLE = st.characters(categories=["Cf", "Cs"])
NAMED_INVISIBLE = [
    ("\u202e", "right-to-left-override"),
    ("\u202d", "left-to-right-override"),
    ("\u2066", "left-to-right-isolate"),
    ("\u200b", "zero-width-space"),
    ("\u200d", "zero-width-joiner"),
    ("\ufeff", "byte-order-mark"),
    ("\u00ad", "soft-hyphen"),
    ("\u061c", "arabic-letter-mark"),
    ("\ud800", "lone-surrogate"),
]

control = st.sampled_from(CONTROL_CHARACTERS)
EVERY_FIELD = [
    (lambda v: refuse_control_characters(v, field="f"), "a{}b"),
    (lambda v: header_text(v, field="subject"), "Estado de cuenta{}Bcc: x@evil.example"),
    (normalize_host, "smtp.gmail.com{}.evil.example"),
    (normalize_address, "cobranzas{}@example.com"),
    (normalize_address, "cobranzas@exam{}ple.com"),
]
"""Every validator, with a template placing the character where an injection would."""
EVERY_FIELD_IDS = ["refuse", "header", "host", "address-local", "address-domain"]
text = st.text(max_size=40)


@st.composite
def with_control(draw, base=text):
    value = draw(base)
    position = draw(st.integers(0, len(value)))
    return value[:position] + draw(control) + value[position:]


@st.composite
def with_inner_control(draw):
    """A control character between two visible characters, where ``strip()`` cannot reach it."""
    left = draw(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=10))
    right = draw(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=10))
    return left + draw(control) + right


def assert_clean(value: str) -> None:
    assert not any(character in value for character in CONTROL_CHARACTERS), repr(value)


# --- control characters, everywhere --------------------------------------------------------


@pytest.mark.parametrize(("character", "_id"), NAMED_CONTROLS, ids=[i for _, i in NAMED_CONTROLS])
@pytest.mark.parametrize(("function", "template"), EVERY_FIELD, ids=EVERY_FIELD_IDS)
def test_named_controls_are_refused(function, template, character, _id):
    with pytest.raises(InvalidValue) as caught:
        function(template.format(character))
    assert caught.value.code in {"control_characters", "invalid_host", "invalid_address"}


@pytest.mark.parametrize(
    ("function", "value"),
    [
        (lambda v: refuse_control_characters(v, field="f"), "a\r\nb"),
        (lambda v: header_text(v, field="subject"), "a\r\nb"),
        (normalize_host, "smtp\r\n.example.com"),
        (normalize_address, "a\r\nb@example.com"),
    ],
    ids=["refuse", "header", "host", "address"],
)
def test_control_code_and_field_name(function, value):
    with pytest.raises(InvalidValue) as caught:
        function(value)
    assert caught.value.code == "control_characters"
    assert caught.value.field


@given(with_control(st.text(VISIBLE, max_size=40)))
def test_property_refuse_control_characters(value):
    with pytest.raises(InvalidValue) as caught:
        refuse_control_characters(value, field="login")
    assert caught.value.code == "control_characters"
    assert caught.value.field == "login"


@given(with_control())
def test_property_header_text_refuses_controls(value):
    with pytest.raises(InvalidValue):
        header_text(value, field="subject")


@given(with_inner_control())
def test_property_host_refuses_inner_controls(value):
    with pytest.raises(InvalidValue):
        normalize_host(value + ".example.com")


@given(with_inner_control())
def test_property_address_refuses_inner_controls(value):
    with pytest.raises(InvalidValue):
        normalize_address(value + "@example.com")
    with pytest.raises(InvalidValue):
        normalize_address("cobranzas@" + value + ".example.com")


@given(with_control(st.sampled_from(["smtp.gmail.com", "correo.ñandú.com.py", "10.0.0.1"])))
def test_property_host_never_returns_a_control(value):
    """Surrounding whitespace controls are stripped like spaces; nothing survives into the
    result."""
    try:
        result = normalize_host(value)
    except InvalidValue:
        return
    assert_clean(result)


@given(with_control(st.sampled_from(["cobranzas@example.com", "pagos@ñandú.com.py"])))
def test_property_address_never_returns_a_control(value):
    try:
        result = normalize_address(value)
    except InvalidValue:
        return
    assert_clean(result)


@given(st.text(VISIBLE, max_size=200))
def test_property_clean_header_text_is_returned_unchanged(value):
    assert header_text(value, field="subject") == value


@given(st.text(VISIBLE, max_size=80))
def test_property_accepted_header_text_is_accepted_by_the_email_package(value):
    """What header_text lets through never makes the email package refuse the header later:
    lone surrogates, which cannot be encoded at all, are refused up front now."""
    assume(value.strip())
    header_text(value, field="subject")
    message = EmailMessage(policy=SMTP)
    message["Subject"] = value
    message.as_bytes()


@pytest.mark.parametrize(("character", "_id"), NAMED_INVISIBLE, ids=[i for _, i in NAMED_INVISIBLE])
@pytest.mark.parametrize(("function", "template"), EVERY_FIELD, ids=EVERY_FIELD_IDS)
def test_invisible_and_bidirectional_characters_are_refused(function, template, character, _id):
    """U+202E shows ``moc.elpmaxe`` as ``example.com``; U+200B hides a second address."""
    with pytest.raises(InvalidValue) as caught:
        function(template.format(character))
    assert caught.value.code == "invisible_characters"


@given(st.text(VISIBLE, max_size=20), INVISIBLE, st.text(VISIBLE, max_size=20))
def test_property_every_format_character_is_refused(left, hidden, right):
    for value in (left + hidden + right, f"{left}{hidden}{right}x@example.com"):
        with pytest.raises(InvalidValue) as caught:
            refuse_control_characters(value, field="f")
        assert caught.value.code == "invisible_characters"
        with pytest.raises(InvalidValue):
            normalize_address(f"a{hidden}b@example.com")


# --- hosts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("smtp.gmail.com", "smtp.gmail.com"),
        ("  SMTP.Gmail.COM.  ", "smtp.gmail.com"),
        ("correo.ñandú.com.py", "correo.xn--and-6ma2c.com.py"),
        ("CORREO.ÑANDÚ.COM.PY", "correo.xn--and-6ma2c.com.py"),
        ("correo.xn--and-6ma2c.com.py", "correo.xn--and-6ma2c.com.py"),
        ("mail-1.example.com", "mail-1.example.com"),
        ("localhost", "localhost"),
        ("192.0.2.25", "192.0.2.25"),
        ("[2001:db8::25]", "2001:db8::25"),
        ("2001:DB8:0:0::25", "2001:db8::25"),
        ("straße.de", "xn--strae-oqa.de"),
        ("STRASSE.de", "strasse.de"),
        ("ﬁnanzas.example", "finanzas.example"),
    ],
    ids=["plain", "case-space-dot", "idna", "idna-upper", "a-label", "hyphen", "single-label",
         "ipv4", "ipv6-brackets", "ipv6-compressed", "idna2008-eszett", "strasse-is-another",
         "uts46-mapping"],
)  # fmt: skip
def test_hosts_are_normalized(value, expected):
    assert normalize_host(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "required"),
        ("   ", "required"),
        ("smtp gmail.com", "invalid_host"),
        ("smtp.gmail.com/path", "invalid_host"),
        ("smtp.gmail.com:587", "invalid_host"),
        ("user@smtp.gmail.com", "invalid_host"),
        ("-smtp.gmail.com", "invalid_host"),
        ("smtp-.gmail.com", "invalid_host"),
        ("smtp..gmail.com", "invalid_host"),
        ("smtp_relay.gmail.com", "invalid_host"),
        ("a" * 64 + ".example.com", "invalid_host"),
        (".".join(["abcdefghi"] * 26), "invalid_host"),  # 259 characters
        ("300.1.1.1", "invalid_host"),
        ("1.2.3", "invalid_host"),
        ("smtp.gmail.com\x00", "control_characters"),
    ],
    ids=["empty", "blank", "space", "slash", "port", "at", "leading-hyphen", "trailing-hyphen",
         "empty-label", "underscore", "long-label", "long-name", "bad-ipv4", "numeric-tld", "nul"],
)  # fmt: skip
def test_bad_hosts_are_refused_with_their_code(value, code):
    with pytest.raises(InvalidValue) as caught:
        normalize_host(value, field="host")
    assert caught.value.code == code
    assert caught.value.field == "host"


def test_host_field_name_is_kept():
    with pytest.raises(InvalidValue) as caught:
        normalize_host("bad host", field="servidor")
    assert caught.value.field == "servidor"
    assert caught.value.params == {"value": "bad host"}


# --- addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cobranzas@example.com", "cobranzas@example.com"),
        ("  Cobranzas@Example.COM ", "Cobranzas@example.com"),
        ("pagos@correo.ñandú.com.py", "pagos@correo.xn--and-6ma2c.com.py"),
        ("josé.pérez@example.com", "josé.pérez@example.com"),
        ("first.last+tag@example.co.uk", "first.last+tag@example.co.uk"),
        ("o'brien@example.com", "o'brien@example.com"),
        ("a@b.co", "a@b.co"),
        ("pagos@straße.de", "pagos@xn--strae-oqa.de"),
        ("pagos@xn--strae-oqa.de", "pagos@xn--strae-oqa.de"),
        ("jose\u0301@example.com", "jos\u00e9@example.com"),
    ],
    ids=[
        "plain",
        "case-space",
        "idna-domain",
        "utf8-local",
        "plus-tag",
        "apostrophe",
        "short",
        "idna2008-eszett",
        "a-label-kept",
        "nfc-local",
    ],
)
def test_addresses_are_normalized(value, expected):
    assert normalize_address(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "required"),
        ("cobranzas", "invalid_address"),
        ("cobranzas@", "invalid_address"),
        ("@example.com", "invalid_address"),
        ("cobranzas@localhost", "invalid_address"),
        ("cobranzas@192.0.2.1", "invalid_address"),
        ("cobranzas@[192.0.2.1]", "invalid_address"),
        ("a b@example.com", "invalid_address"),
        ("a..b@example.com", "invalid_address"),
        (".a@example.com", "invalid_address"),
        ("a.@example.com", "invalid_address"),
        ('"quoted"@example.com', "invalid_address"),
        ("a@b@example.com", "invalid_address"),
        ("a@exa mple.com", "invalid_address"),
        ("<a@example.com>", "invalid_address"),
        ("Cobranzas <a@example.com>", "invalid_address"),
        ("a" * 65 + "@example.com", "invalid_address"),
        ("a" * 10 + "@" + ".".join(["b" * 61] * 4) + ".com", "invalid_address"),
        ("a\n@example.com", "control_characters"),
        ("=?utf-8?q?_=0D=0ABcc=3A_victim=40example.net?=@acme.demo", "encoded_word"),
        ("=?utf-8?b?YQ==?=@acme.demo", "encoded_word"),
        ("a=?x@acme.demo", "encoded_word"),
        ("a\u202e@acme.demo", "invisible_characters"),
        ("cobranzas@acme.local", "invalid_address"),
        ("cobranzas@xn--zz.example", "invalid_address"),
    ],
    ids=["empty", "no-at", "no-domain", "no-local", "single-label", "ip-domain", "ip-literal",
         "space", "double-dot", "leading-dot", "trailing-dot", "quoted", "two-ats", "space-domain",
         "angle", "display-name", "long-local", "long-total", "lf", "encoded-word-crlf-bcc",
         "encoded-word-b", "encoded-word-start", "bidi", "special-use-domain", "bad-a-label"],
)  # fmt: skip
def test_bad_addresses_are_refused_with_their_code(value, code):
    with pytest.raises(InvalidValue) as caught:
        normalize_address(value, field="sender")
    assert caught.value.code == code
    assert caught.value.field == "sender"


def test_address_error_keeps_the_typed_value():
    with pytest.raises(InvalidValue) as caught:
        normalize_address("cobranzas")
    assert caught.value.params["value"] == "cobranzas"


# --- header text ---------------------------------------------------------------------------


def test_header_text_accepts_spanish():
    subject = "Estado de cuenta — señor Núñez, vencimiento «30/06»"
    assert header_text(subject, field="subject") == subject


def test_header_text_limit():
    assert header_text("x" * MAX_HEADER_TEXT, field="subject")
    with pytest.raises(InvalidValue) as caught:
        header_text("x" * (MAX_HEADER_TEXT + 1), field="subject")
    assert caught.value.code == "too_long"
    assert caught.value.params == {"limit": MAX_HEADER_TEXT}


def test_no_code_uses_the_idna_2003_codec():
    """Issue 6, point 11: Python's built-in "idna" codec is IDNA 2003 (straße.de becomes
    strasse.de, another domain); every conversion goes through ``normalize_host``."""
    import re
    from pathlib import Path

    source = Path(__file__).resolve().parents[2] / "src" / "emisario"
    codec = re.compile(r"""(encode|decode)\(\s*["']idna["']""")
    users = [p for p in source.rglob("*.py") if codec.search(p.read_text(encoding="utf-8"))]
    assert users == []


@pytest.mark.parametrize("character", ["\u00ad", "\u200d", "\u202e", "\ufeff"], ids=str.encode)
def test_a_password_may_hold_format_characters_but_never_a_line_break(character):
    """A password never reaches a header or a screen: only what breaks the SMTP command line
    (or cannot be encoded) is refused."""
    from emisario.core.addresses import refuse_line_breaks

    assert refuse_line_breaks(f"clave{character}9", field="password") == f"clave{character}9"
    for bad in ("\r", "\n", "\x00", "\u2028", "\ud800"):
        with pytest.raises(InvalidValue) as refused:
            refuse_line_breaks(f"clave{bad}9", field="password")
        assert refused.value.code == "control_characters"
