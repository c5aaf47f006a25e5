"""Provider presets on the screen: which provider the form is about, and its notes."""

from __future__ import annotations

from django.utils.translation import get_language

from emisario.console.forms import AccountForm, values_with_preset
from emisario.console.messages import SECURITY_LABELS, YES_NO
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


FILLED_FIELDS = ("host", "port", "ssl", "security", "login", "auth_method", "oauth_provider")
"""What a provider fixes; nothing else the user typed is touched."""


def _shown(name: str, value) -> str:
    """A form value as the user reads it on the screen."""
    if name == "ssl":
        return str(YES_NO[bool(value)])
    if name in ("security", "auth_method", "oauth_provider"):
        return str(dict(AccountForm.base_fields[name].choices).get(value or "", value or "—"))
    return str(value) if value not in (None, "") else "—"


def form_with_preset(values: dict, form_kwargs: dict):
    """The form again with the provider's server, port, security and fixed login filled in,
    the provider, and each value that changed as (label, before, after)."""
    preset = chosen_preset(values.get("preset"), values.get("sender"))
    if preset is None:
        form = AccountForm(initial=values, **form_kwargs)
        form.preset_missing = True
        return form, None, []
    filled = values_with_preset(values, preset)
    changes = []
    for name in FILLED_FIELDS:
        before, after = _shown(name, values.get(name)), _shown(name, filled.get(name))
        if before != after:
            changes.append((str(AccountForm.base_fields[name].label), before, after))
    return AccountForm(initial=filled, **form_kwargs), preset, changes


def preset_name_of(preset: Preset) -> str:
    return preset_name(preset.key, get_language() or "es")


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
