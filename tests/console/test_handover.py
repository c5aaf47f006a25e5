"""The Probar-then-Guardar handover: the tested password is kept only for the same values,
the same account and company, and only for a short while."""

import dataclasses
import time

import pytest
from django.test import Client

from emisario.accounts import crypto
from emisario.accounts.models import SmtpAccount
from emisario.accounts.services import AccountInput
from emisario.console import handover
from emisario.core.secrets import Secret
from emisario.core.smtp.endpoint import SecurityMode
from tests.console.test_permissions import CXC, form
from tests.factories import interno

CLOSED = 1
PASSWORD = Secret("Probada-en-la-prueba-1")


@pytest.fixture
def tested(acme):
    return AccountInput(
        company=acme,
        account_type=interno(),
        priority=0,
        host="smtp.acme.example",
        port=587,
        security=SecurityMode.STARTTLS,
        sender="cobranza@acme.example",
        login="cobranza",
    )


def kept(data, account=None) -> dict:
    session: dict = {}
    handover.remember(session, account=account, data=data, password=PASSWORD, summary={"ok": 1})
    return session


def test_the_same_values_get_the_tested_password(tested):
    recalled = handover.recall(kept(tested), account=None, data=tested)
    assert recalled is not None and recalled.password == PASSWORD
    assert recalled.summary == {"ok": 1}


@pytest.mark.parametrize(
    "change",
    [
        {"host": "smtp.attacker.example"},
        {"sender": "otro@acme.example"},
        {"login": "otro-login"},
        {"company": None},
    ],
    ids=["host", "sender", "login", "company"],
)
def test_other_values_do_not_get_it(tested, change):
    other = dataclasses.replace(tested, **change)
    session = kept(tested)
    assert handover.recall(session, account=None, data=other) is None
    assert handover.pending(session)  # it is there, just not for these values


@pytest.mark.parametrize(
    "change", [{"port": 465}, {"security": SecurityMode.TLS}], ids=["port", "security"]
)
def test_another_port_or_security_gets_the_password_but_not_the_result(tested, change):
    """What the advice asks the user to change by hand: the same server gets the password;
    the result described the old values, so none comes with it."""
    recalled = handover.recall(
        kept(tested), account=None, data=dataclasses.replace(tested, **change)
    )
    assert recalled is not None and recalled.summary is None
    assert recalled.password is not None


def test_another_company_does_not_get_it(tested, otra):
    other = dataclasses.replace(tested, company=otra)
    assert handover.recall(kept(tested), account=None, data=other) is None


def test_another_account_does_not_get_it(tested, company_account, foreign_account):
    session = kept(tested, account=company_account)
    assert handover.recall(session, account=company_account, data=tested) is not None
    assert handover.recall(session, account=foreign_account, data=tested) is None
    assert handover.recall(session, account=None, data=tested) is None


@pytest.mark.parametrize("age_minutes", [16, 60, 24 * 60])
def test_it_expires_after_fifteen_minutes(tested, age_minutes):
    session = kept(tested)
    session[handover.SESSION_KEY]["at"] = time.time() - age_minutes * 60
    assert handover.recall(session, account=None, data=tested) is None
    assert not handover.pending(session)


def test_it_is_still_there_within_fifteen_minutes(tested):
    session = kept(tested)
    session[handover.SESSION_KEY]["at"] = time.time() - 14 * 60
    assert handover.recall(session, account=None, data=tested) is not None
    assert handover.pending(session)


def test_an_expired_password_is_not_saved_by_guardar(roles, settings):
    """Through the screen: Probar, the entry ages past the limit, Guardar with the field
    blank saves no password (and says so)."""
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    settings.EMISARIO_PROBE_PORTS = [CLOSED]
    client = Client()
    client.force_login(roles["emisopt"])
    values = form(port=str(CLOSED), password="Probada-en-la-prueba-1")
    assert client.post(CXC, {**values, "action": "probar"}).status_code == 200
    session = client.session
    entry = session[handover.SESSION_KEY]
    entry["at"] -= 16 * 60
    session[handover.SESSION_KEY] = entry
    session.save()
    response = client.post(CXC, {**values, "password": ""})
    assert response.status_code == 302
    assert SmtpAccount.objects.get().password_token == ""


def test_a_fresh_password_is_saved_by_guardar(roles, settings):
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    settings.EMISARIO_PROBE_PORTS = [CLOSED]
    client = Client()
    client.force_login(roles["emisopt"])
    values = form(port=str(CLOSED), password="Probada-en-la-prueba-1")
    client.post(CXC, {**values, "action": "probar"})
    assert client.post(CXC, {**values, "password": ""}).status_code == 302
    token = SmtpAccount.objects.get().password_token
    assert crypto.decrypt(token).reveal() == "Probada-en-la-prueba-1"


def test_a_stored_password_kept_for_aplicar_keeps_the_stored_rule(tested):
    """A saved account's password (not typed) is never carried to another port or security
    by hand: only Aplicar's proposal re-binds it."""
    session: dict = {}
    handover.remember(
        session, account=None, data=tested, password=PASSWORD, summary={"ok": 1}, typed=False
    )
    assert handover.recall(session, account=None, data=tested) is not None
    moved = dataclasses.replace(tested, port=465)
    assert handover.recall(session, account=None, data=moved) is None
    assert not handover.pending(session)
