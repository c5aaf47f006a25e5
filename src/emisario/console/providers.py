"""Provider presets on the screen: which provider the form is about, and its notes."""

from __future__ import annotations

from django.utils.translation import get_language

from emisario.console.forms import AccountForm, values_with_preset
from emisario.console.messages import SECURITY_LABELS
from emisario.console.preset_notes import note_text, preset_name
from emisario.core.errors import InvalidValue
from emisario.core.smtp.presets import Preset, preset_by_key, preset_for_address


def chosen_preset(key: str | None, sender: str | None) -> Preset | None:
    """The provider picked in the form, or else the one the Usuario address belongs to."""
    if key:
        try:
            return preset_by_key(key)
        except InvalidValue:
            pass
    return preset_for_address(sender or "")


def form_with_preset(values: dict, form_kwargs: dict) -> AccountForm:
    """The form again, with the provider's server, port and security filled in."""
    preset = chosen_preset(values.get("preset"), values.get("sender"))
    if preset is None:
        form = AccountForm(initial=values, **form_kwargs)
        form.preset_missing = True
        return form
    return AccountForm(initial=values_with_preset(values, preset), **form_kwargs)


def preset_hint(form: AccountForm) -> dict | None:
    """The provider of the form's account, its settings and what to know about it."""
    source = form.data if form.is_bound else form.initial
    preset = chosen_preset(source.get("preset"), source.get("sender"))
    if preset is None:
        return None
    language = get_language() or "es"
    return {
        "key": preset.key,
        "name": preset_name(preset.key, language),
        "host": preset.host,
        "port": preset.port,
        "security": SECURITY_LABELS[preset.security.value],
        "login": preset.login_hint,
        "notes": [note_text(note, language) for note in preset.notes],
    }
