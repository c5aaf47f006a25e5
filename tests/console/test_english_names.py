"""The English page names the English buttons (Test, Detect, Save, Apply): a text telling an
English reader to "press Probar" points at a button that is not there (issue 7, point 4)."""

import re

from django.utils import translation

from emisario.console import messages
from emisario.console.advice_catalogue import CATALOGUE, FAULT_DETAILS

SPANISH_BUTTONS = re.compile(r"\b(Probar|Detectar|Guardar|Aplicar|Completar)\b")


def test_the_english_advice_names_no_spanish_button():
    found = [
        (code, text)
        for code, entry in CATALOGUE.items()
        for text in entry["en"]
        if SPANISH_BUTTONS.search(text)
    ]
    found += [
        (code, entry["en"])
        for code, entry in FAULT_DETAILS.items()
        if SPANISH_BUTTONS.search(entry["en"])
    ]
    assert found == []


def test_the_english_messages_name_no_spanish_button():
    values = []
    for value in vars(messages).values():
        values += list(value.values()) if isinstance(value, dict) else [value]
    with translation.override("en"):
        texts = [str(value) for value in values if type(value).__name__ == "__proxy__"]
    assert texts, "the messages module holds translatable texts"
    assert [text for text in texts if SPANISH_BUTTONS.search(text)] == []


def test_the_spanish_texts_keep_the_seed_s_buttons():
    with translation.override("es"):
        assert "Probar" in str(messages.DETECT_PROPOSAL)
