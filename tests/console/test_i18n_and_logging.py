import logging
from pathlib import Path

import polib
import pytest

from emisario.console.logging import RedactSecretsFilter, redact

LOCALE = Path(__file__).resolve().parents[2] / "src/emisario/locale/es/LC_MESSAGES"


def test_compiled_catalog_matches_the_po():
    po = polib.pofile(str(LOCALE / "django.po"))
    mo = polib.mofile(str(LOCALE / "django.mo"))
    translated = {
        e.msgid: e.msgstr for e in po if e.msgstr and not e.obsolete and "fuzzy" not in e.flags
    }
    compiled = {e.msgid: e.msgstr for e in mo if e.msgid}
    assert compiled == translated, "run compilemessages (see README)"
    assert not [e.msgid for e in po if not e.msgstr and not e.obsolete], "untranslated"
    assert translated["Mail sent successfully"] == "Correo enviado satisfactoriamente"


def test_log_filter_masks_passwords_auth_lines_and_tokens():
    text = "login user=a password=hunter2 then AUTH PLAIN AGFAaHVudGVyMg== token gAAAAABkxyz"
    cleaned = redact(text)
    assert "hunter2" not in cleaned and "AGFAaHVudGVyMg" not in cleaned and "Bkxyz" not in cleaned
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "contraseña: %s", ("s3cr3t",), None)
    RedactSecretsFilter().filter(record)
    assert "s3cr3t" not in record.getMessage()


@pytest.mark.parametrize(
    "text",
    [
        "PASSWORD=hunter2",
        "Contraseña = hunter2",
        "paſſword=hunter2",  # long s: re.IGNORECASE matches it, so must the quick check
        "auth plain hunter2",
        "PWD: 'hunter2'",
        "token gAAAAAhunter2",
    ],
)
def test_the_quick_check_never_skips_a_text_a_pattern_would_mask(text):
    assert "hunter2" not in redact(text)


def test_a_text_without_any_trigger_comes_back_as_it_is():
    line = '{"event": "attempt", "message": 7, "outcome": "sent", "code": 250}'
    assert redact(line) is line
