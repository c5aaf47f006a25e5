import logging
from pathlib import Path

import polib

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
