"""Missing or bad encryption keys at run time (EMISARIO_SECRET_KEYS emptied or broken after
start): Guardar, Probar, Detectar and the Probar-then-Guardar handover show the administrator's
page in Spanish (503), never a traceback; nothing is stored or tested; one log line."""

import logging

import pytest
from django.test import Client

from emisario.accounts.models import AuditRecord, SmtpAccount
from emisario.console import messages as texts
from emisario.console.views import errors
from tests.console.test_permissions import CXC, form

CLOSED = 1
BROKEN = {"empty": [], "not-fernet": ["not-a-key"]}


@pytest.fixture
def screen(roles, settings, monkeypatch):
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    settings.EMISARIO_PROBE_PORTS = [CLOSED]
    settings.EMISARIO_DETECT_COMBINATIONS = [f"{CLOSED}/starttls"]
    monkeypatch.setattr(errors, "_REPORTED", set())
    client = Client(raise_request_exception=False)
    client.force_login(roles["emisopt"])
    return client


def typed(**extra):
    return form(port=str(CLOSED), password="Clave-de-Prueba-1", **extra)


def assert_keys_page(response):
    assert response.status_code == 503
    body = response.content.decode()
    assert "Las claves de cifrado no están bien configuradas" in body
    assert "EMISARIO_SECRET_KEYS" in body and "Avise al administrador del sistema" in body
    assert "Traceback" not in body and "SecretKeyError" not in body
    assert "not-a-key" not in body


@pytest.mark.parametrize("keys", list(BROKEN))
@pytest.mark.parametrize(
    "action",
    [
        "guardar",
        "probar",
        "detectar",
        "guardar-stored-password",
        "probar-stored-password",
        "detectar-stored-password",
    ],
)
def test_broken_keys_give_the_administrators_page(
    screen, settings, company_account, keys, action, caplog
):
    settings.EMISARIO_SECRET_KEYS = BROKEN[keys]  # changed after start
    name, _, stored = action.partition("-")
    data = typed(action=name)
    if stored:  # the saved account's own password, field left blank
        data.update(
            cuenta=company_account.pk,
            password="",
            host=company_account.host,
            port=str(company_account.port),
        )
    if name == "detectar":
        data["port"] = ""
    before = list(SmtpAccount.objects.values_list("pk", "host", "password_token"))
    with caplog.at_level(logging.ERROR, logger="emisario.console"):
        response = screen.post(CXC, data)
    assert_keys_page(response)
    assert list(SmtpAccount.objects.values_list("pk", "host", "password_token")) == before
    assert not AuditRecord.objects.exists()  # nothing saved, nothing tested
    [record] = [r for r in caplog.records if r.name == "emisario.console"]
    assert "EMISARIO_SECRET_KEYS" in record.getMessage() and record.exc_info is None
    assert "not-a-key" not in record.getMessage()


@pytest.mark.parametrize("keys", list(BROKEN))
def test_the_handover_with_broken_keys(screen, settings, keys):
    """Probar with the keys in order keeps the password; the keys break; Guardar (field
    blank) must not fall over reading the kept password."""
    assert screen.post(CXC, typed(action="probar")).status_code == 200
    settings.EMISARIO_SECRET_KEYS = BROKEN[keys]
    response = screen.post(CXC, {**typed(), "password": ""})
    assert_keys_page(response)
    assert not SmtpAccount.objects.exists()


def test_the_handover_keys_error_inside_recall_is_the_page_too(screen, settings, monkeypatch):
    """Even past the screen's first check (keys broken between it and the handover)."""
    from emisario.accounts import crypto
    from emisario.core.secrets import SecretKeyError

    assert screen.post(CXC, typed(action="probar")).status_code == 200

    def broken(token):
        raise SecretKeyError("encryption key #1 is not a valid Fernet key")

    monkeypatch.setattr(crypto, "decrypt", broken)
    assert_keys_page(screen.post(CXC, {**typed(), "password": ""}))
    assert not SmtpAccount.objects.exists()


def test_logged_once_per_problem(screen, settings, caplog):
    settings.EMISARIO_SECRET_KEYS = []
    with caplog.at_level(logging.ERROR, logger="emisario.console"):
        for _ in range(3):
            assert_keys_page(screen.post(CXC, typed()))
    assert len([r for r in caplog.records if r.name == "emisario.console"]) == 1


def test_the_texts_name_the_setting():
    assert "EMISARIO_SECRET_KEYS" in str(texts.KEYS_UNAVAILABLE)
    assert "EMISARIO_SECRET_KEYS" in str(texts.KEYS_UNAVAILABLE_FIX)
