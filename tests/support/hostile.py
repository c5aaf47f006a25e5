"""Values a hostile or careless user types into Usuario, Nombre a mostrar and the login name.

Built from fragments known to break mail software: RFC 2047 encoded-words that decode to
CR LF and a header, raw control and bidirectional characters, the specials of address syntax,
IDNA traps, and ordinary Spanish text around them. Used both by hypothesis (which shrinks a
failure) and by a seeded generator fast enough for 100,000 cases.
"""

from __future__ import annotations

import random
import string

from hypothesis import strategies as st

ENCODED_WORDS = [
    "=?utf-8?q?_=0D=0ABcc=3A_victim=40example.net?=",
    "=?utf-8?b?DQpCY2M6IHZpY3RpbUBleGFtcGxlLm5ldA==?=",
    "=?iso-8859-1?q?=E9=0A?=",
    "=?utf-8?q?=00?=",
    "=?utf-8?q?=22=3E=2C_x=40evil.example?=",
    "=?utf-8?B?4oCu?=",
    "=?x?q??=",
    "=?utf-8*es?q?hola?=",
    "=?utf-8?q?",
    "=?",
    "?=",
    "=?utf-8?b?====?=",
]
CONTROLS = ["\r", "\n", "\r\n", "\0", "\t", "\x0b", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"]
INVISIBLE = ["\u202e", "\u202d", "\u2066", "\u200b", "\u200d", "\ufeff", "\u00ad", "\ud800"]
SPECIALS = [*'"\\<>,;:@()[] .', "  ", "..", "%0d%0a", "&#13;&#10;", "\\r\\n"]
HEADERS = ["Bcc: victim@example.net", "\r\nBcc: victim@example.net", "\r\n\r\nbody", "To:"]
TEXT = ["Cobranza", "Acme S.A.", "Núñez", "José", "ß", "İ", "ﬁ", "😀", "日本", "a" * 70, "x"]
DOMAINS = [
    "acme.demo",
    "ACME.demo",
    "straße.de",
    "ñandú.com.py",
    "xn--strae-oqa.de",
    "localhost",
    "[127.0.0.1]",
    "exa mple.com",
    "acme.local",
    "acme.demo\r\nBcc: x@evil.example",
    "",
]
FRAGMENTS = ENCODED_WORDS + CONTROLS + INVISIBLE + SPECIALS + HEADERS + TEXT
ATOMS = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"


def _local(pick: random.Random) -> str:
    parts = [
        pick.choice(FRAGMENTS) if pick.random() < 0.35 else pick.choice(TEXT[:4]).lower()
        for _ in range(pick.randint(1, 3))
    ]
    if pick.random() < 0.3:
        parts.append("".join(pick.choice(ATOMS) for _ in range(pick.randint(1, 8))))
    return "".join(parts)


def _text(pick: random.Random, most: int = 4) -> str:
    return "".join(pick.choice(FRAGMENTS) for _ in range(pick.randint(0, most)))


def generated(count: int, *, seed: int) -> list[tuple[str, str, str]]:
    """``count`` (Usuario, Nombre a mostrar, login) triples, the same for the same seed."""
    pick = random.Random(seed)
    values = []
    for _ in range(count):
        domain = pick.choice(DOMAINS) if pick.random() < 0.5 else "acme.demo"
        usuario = f"{_local(pick)}@{domain}"
        if pick.random() < 0.1:
            usuario = _text(pick) + usuario
        values.append((usuario, _text(pick), _text(pick, 2)))
    return values


fragment_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=5
).map("".join)
usuario = st.builds(
    lambda local, domain: f"{local}@{domain}",
    st.one_of(
        st.lists(st.sampled_from(FRAGMENTS + TEXT), min_size=1, max_size=3).map("".join),
        st.text(st.sampled_from(ATOMS + "áéñü."), min_size=1, max_size=20),
    ),
    st.one_of(st.sampled_from(DOMAINS), st.just("acme.demo")),
)
