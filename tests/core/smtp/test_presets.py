"""Provider presets and the text of their notes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emisario.console import preset_notes
from emisario.console.preset_notes import PRESET_NAMES, note_text, preset_name
from emisario.core.addresses import normalize_host
from emisario.core.errors import InvalidValue
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint
from emisario.core.smtp.presets import (
    PRESETS,
    LoginKind,
    PresetNote,
    preset_by_key,
    preset_for_address,
    preset_for_mx_hosts,
    ses_host,
)


@pytest.mark.parametrize(
    ("address", "key", "host", "port", "security"),
    [
        ("cobranzas@gmail.com", "gmail", "smtp.gmail.com", 465, SecurityMode.TLS),
        ("x@googlemail.com", "gmail", "smtp.gmail.com", 465, SecurityMode.TLS),
        ("x@outlook.com", "outlook", "smtp-mail.outlook.com", 587, SecurityMode.STARTTLS),
        ("x@hotmail.com", "outlook", "smtp-mail.outlook.com", 587, SecurityMode.STARTTLS),
        ("x@live.com", "outlook", "smtp-mail.outlook.com", 587, SecurityMode.STARTTLS),
        ("x@msn.com", "outlook", "smtp-mail.outlook.com", 587, SecurityMode.STARTTLS),
        ("x@yahoo.com", "yahoo", "smtp.mail.yahoo.com", 465, SecurityMode.TLS),
        ("x@yahoo.es", "yahoo", "smtp.mail.yahoo.com", 465, SecurityMode.TLS),
        ("x@ymail.com", "yahoo", "smtp.mail.yahoo.com", 465, SecurityMode.TLS),
        ("x@zoho.com", "zoho", "smtp.zoho.com", 465, SecurityMode.TLS),
        ("x@icloud.com", "icloud", "smtp.mail.me.com", 587, SecurityMode.STARTTLS),
        ("x@me.com", "icloud", "smtp.mail.me.com", 587, SecurityMode.STARTTLS),
        ("x@mac.com", "icloud", "smtp.mail.me.com", 587, SecurityMode.STARTTLS),
    ],
    ids=["gmail", "googlemail", "outlook", "hotmail", "live", "msn", "yahoo", "yahoo-es",
         "ymail", "zoho", "icloud", "me", "mac"],
)  # fmt: skip
def test_preset_for_address(address, key, host, port, security):
    preset = preset_for_address(address)
    assert preset is not None
    assert (preset.key, preset.host, preset.port, preset.security) == (key, host, port, security)


@pytest.mark.parametrize(
    "address",
    [" Cobranzas@GMAIL.COM ", "x@gmail.com.", "x@Gmail.Com"],
    ids=["case-space", "trailing-dot", "mixed"],
)
def test_preset_for_address_is_forgiving(address):
    assert preset_for_address(address).key == "gmail"


@pytest.mark.parametrize(
    "address",
    ["cobranzas@empresa.com.py", "x@mail.gmail.com", "x@gmail.com.evil.example", "gmail.com",
     "", "x@", "x@ñandú.com.py", "x@" + "a" * 70 + ".com"],
    ids=["company", "subdomain", "suffix-trick", "no-at", "empty", "no-domain", "idna",
         "bad-label"],
)  # fmt: skip
def test_no_preset_for_other_addresses(address):
    assert preset_for_address(address) is None


def test_gmail_offers_both_ports():
    preset = preset_by_key("gmail")
    assert preset.combinations == ((465, SecurityMode.TLS), (587, SecurityMode.STARTTLS))
    assert PresetNote.APP_PASSWORD in preset.notes


def test_microsoft_365_notes():
    preset = preset_by_key("microsoft365")
    assert (preset.host, preset.port, preset.security) == (
        "smtp.office365.com",
        587,
        SecurityMode.STARTTLS,
    )
    assert PresetNote.SMTP_AUTH_TENANT in preset.notes
    assert PresetNote.BASIC_AUTH_RETIRING in preset.notes
    assert preset.domains == ()  # a company domain: chosen from the list or found by MX


@pytest.mark.parametrize(
    ("key", "host", "login_kind", "login_hint", "notes"),
    [
        ("ses", "email-smtp.us-east-1.amazonaws.com", LoginKind.PROVIDER, "",
         {"ses_smtp_credentials", "verified_sender", "ses_sandbox", "ses_region"}),
        ("sendgrid", "smtp.sendgrid.net", LoginKind.FIXED, "apikey",
         {"login_apikey", "verified_sender"}),
        ("mailgun", "smtp.mailgun.org", LoginKind.PROVIDER, "",
         {"mailgun_smtp_credentials", "verified_sender"}),
        ("brevo", "smtp-relay.brevo.com", LoginKind.PROVIDER, "",
         {"brevo_smtp_login", "verified_sender"}),
        ("yahoo", "smtp.mail.yahoo.com", LoginKind.ADDRESS, "", {"app_password"}),
        ("icloud", "smtp.mail.me.com", LoginKind.ADDRESS, "", {"app_password"}),
    ],
    ids=["ses", "sendgrid", "mailgun", "brevo", "yahoo", "icloud"],
)  # fmt: skip
def test_sending_services(key, host, login_kind, login_hint, notes):
    preset = preset_by_key(key)
    assert preset.host == host
    assert preset.login_kind is login_kind
    assert preset.login_hint == login_hint
    assert notes <= {str(note) for note in preset.notes}


def test_order_and_keys():
    keys = [preset.key for preset in PRESETS]
    assert keys == ["gmail", "outlook", "microsoft365", "yahoo", "zoho", "icloud", "ses",
                    "sendgrid", "mailgun", "brevo"]  # fmt: skip
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("preset", PRESETS, ids=[preset.key for preset in PRESETS])
def test_every_preset_is_a_valid_endpoint(preset):
    assert normalize_host(preset.host) == preset.host
    for port, security in preset.combinations:
        made = SmtpEndpoint(
            host=preset.host, port=port, security=security, sender="cobranzas@example.com",
            login=preset.login_hint,
        )  # fmt: skip
        assert made.security.encrypted  # no provider preset ever suggests plain text
    assert (preset.port == 465) == (preset.security is SecurityMode.TLS)
    assert preset.notes, "every provider has something worth telling"
    assert all(isinstance(note, PresetNote) for note in preset.notes)
    assert all(domain == domain.lower() for domain in preset.domains)
    assert (preset.login_kind is LoginKind.FIXED) == bool(preset.login_hint)


def test_a_domain_belongs_to_one_preset():
    domains = [domain for preset in PRESETS for domain in preset.domains]
    assert len(domains) == len(set(domains))


def test_unknown_preset_key():
    with pytest.raises(InvalidValue) as caught:
        preset_by_key("aol")
    assert caught.value.code == "unknown_preset"


@pytest.mark.parametrize(
    ("hosts", "key"),
    [
        (["aspmx.l.google.com.", "alt1.aspmx.l.google.com"], "gmail"),
        (["smtp.google.com"], "gmail"),
        (["empresa-com-py.mail.protection.outlook.com"], "microsoft365"),
        (["hotmail-com.olc.protection.outlook.com"], "outlook"),
        (["mx.zoho.com", "mx2.zoho.com"], "zoho"),
        (["mx01.mail.icloud.com"], "icloud"),
        (["mta5.am0.yahoodns.net"], "yahoo"),
        (["mx.empresa.com.py", "ASPMX.L.GOOGLE.COM"], "gmail"),
    ],
    ids=["google", "google-new", "m365", "outlook", "zoho", "icloud", "yahoo", "second-mx"],
)
def test_preset_for_mx_hosts(hosts, key):
    assert preset_for_mx_hosts(hosts).key == key


@pytest.mark.parametrize(
    "hosts",
    [[], ["mx.empresa.com.py"], ["evilgoogle.com"], ["google.com.evil.example"]],
    ids=["none", "own", "prefix-trick", "suffix-trick"],
)
def test_no_preset_for_other_mx_hosts(hosts):
    assert preset_for_mx_hosts(hosts) is None


@pytest.mark.parametrize(
    ("region", "host"),
    [("us-east-1", "email-smtp.us-east-1.amazonaws.com"),
     (" SA-EAST-1 ", "email-smtp.sa-east-1.amazonaws.com"),
     ("us-gov-west-1", "email-smtp.us-gov-west-1.amazonaws.com")],
    ids=["virginia", "sao-paulo", "govcloud"],
)  # fmt: skip
def test_ses_host(region, host):
    assert ses_host(region) == host


@pytest.mark.parametrize(
    "region", ["", "useast1", "us-east-1.evil.example", "../x", "us-east\n-1"],
    ids=["empty", "no-dashes", "dots", "path", "lf-inside"],
)  # fmt: skip
def test_bad_ses_region(region):
    with pytest.raises(InvalidValue) as caught:
        ses_host(region)
    assert caught.value.code == "invalid_region"


# --- the text of the notes -----------------------------------------------------------------


@pytest.mark.parametrize("note", list(PresetNote), ids=[note.value for note in PresetNote])
def test_every_note_has_spanish_and_english(note):
    spanish = note_text(note, "es")
    english = note_text(note.value, "en")
    assert spanish and english and spanish != english
    assert spanish.endswith(".") and english.endswith(".")
    assert "\n" not in spanish + english
    assert all(PresetNote.__members__[note.name].__doc__ for note in PresetNote)


def test_note_codes_are_stable():
    assert {note.value for note in PresetNote} >= {
        "app_password", "smtp_auth_tenant", "daily_quota", "login_apikey", "verified_sender",
        "ses_smtp_credentials",
    }  # fmt: skip
    assert set(preset_notes.NOTES) == set(PresetNote)


@pytest.mark.parametrize(
    ("language", "expected"),
    [("es", "es"), ("es-PY", "es"), ("es_AR", "es"), ("EN", "en"), ("en-US", "en"),
     ("pt-BR", "es"), ("", "es")],
    ids=["es", "es-py", "es-ar", "en-upper", "en-us", "untranslated", "empty"],
)  # fmt: skip
def test_language_fallback(language, expected):
    assert (
        note_text("app_password", language) == preset_notes.NOTES[PresetNote.APP_PASSWORD][expected]
    )


def test_spanish_is_the_default():
    assert note_text("app_password") == note_text("app_password", "es")
    assert "contraseña de aplicación" in note_text("app_password")
    assert "«apikey»" in note_text("login_apikey")
    assert "SMTP autenticado" in note_text("smtp_auth_tenant")


def test_unknown_note_code():
    with pytest.raises(KeyError):
        note_text("no_such_note", "es")


@pytest.mark.parametrize("preset", PRESETS, ids=[preset.key for preset in PRESETS])
def test_every_preset_has_display_names(preset):
    brand = preset.name.split(" ")[0]
    assert brand in preset_name(preset.key, "es")
    assert brand in preset_name(preset.key, "en")


def test_names_cover_exactly_the_presets():
    assert set(PRESET_NAMES) == {preset.key for preset in PRESETS}
    with pytest.raises(KeyError):
        preset_name("aol")


def test_preset_notes_do_not_import_django():
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['django'] = None; "
         "import emisario.console.preset_notes"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
