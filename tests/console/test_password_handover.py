"""Point 13 and the second half of 17: the handover matches the *tested password*, not the
fact of typing; the "password kept" hints appear only when they are true."""

import pytest

from emisario.accounts import crypto
from emisario.accounts.models import AuditRecord, SmtpAccount
from emisario.accounts.probing import last_test_of
from emisario.core.secrets import Secret
from emisario.demo.mailbox import STARTTLS, TLS
from tests.console.test_permissions import CXC, form
from tests.factories import make_account
from tests.support.fixtures import CONSOLE_PASSWORD as PASSWORD
from tests.support.fixtures import CONSOLE_USER as USER

SAVE_HINT = "press Save without typing it again"


pytestmark = pytest.mark.usefixtures("console_probe_settings")


def values(mailbox, **extra):
    data = form(host="127.0.0.1", port=str(mailbox.port(STARTTLS)), sender=USER)
    data.update(extra)
    return data


def test_retyping_the_tested_password_keeps_the_result(emisopt_client, console_mailbox):
    body = emisopt_client.post(CXC, values(console_mailbox, action="probar", password=PASSWORD))
    assert "Correo enviado satisfactoriamente" in body.content.decode()
    response = emisopt_client.post(CXC, values(console_mailbox, password=PASSWORD))  # typed again
    assert response.status_code == 302
    account = SmtpAccount.objects.get()
    assert crypto.decrypt(account.password_token).reveal() == PASSWORD
    assert account.last_test is not None and account.last_test["ok"] is True
    assert last_test_of(account)["stale"] is False


def test_typing_another_password_drops_the_result(emisopt_client, console_mailbox):
    emisopt_client.post(CXC, values(console_mailbox, action="probar", password=PASSWORD))
    response = emisopt_client.post(CXC, values(console_mailbox, password=PASSWORD + "-otra"))
    assert response.status_code == 302
    account = SmtpAccount.objects.get()
    assert crypto.decrypt(account.password_token).reveal() == PASSWORD + "-otra"
    assert account.last_test is None  # that password was never tested


def test_retyping_the_stored_password_is_no_change_in_the_history(
    emisopt_client, console_mailbox, acme
):
    account = make_account(
        acme, password=PASSWORD, host="127.0.0.1", port=console_mailbox.port(STARTTLS), sender=USER
    )
    response = emisopt_client.post(
        CXC, values(console_mailbox, cuenta=account.pk, password=PASSWORD, priority="8")
    )
    assert response.status_code == 302
    assert AuditRecord.objects.get(action="update").changes == {"priority": [0, 8]}


def test_the_save_hint_only_after_a_passing_test(emisopt_client, console_mailbox):
    passed = emisopt_client.post(CXC, values(console_mailbox, action="probar", password=PASSWORD))
    assert 'id="password-kept"' in passed.content.decode()
    assert "presione Guardar sin escribirla de" in passed.content.decode()
    failed = emisopt_client.post(
        CXC, values(console_mailbox, action="probar", password="equivocada")
    )
    body = failed.content.decode()
    assert "Correo enviado satisfactoriamente" not in body
    assert 'id="password-kept"' not in body
    assert "presione Guardar sin escribirla de" not in body
    # The server refused it: the hint says so instead of offering it for another test.
    assert "El servidor rechazó la contraseña que probó" in body
    assert "se conserva para otra prueba mientras no cambien" not in body


def test_a_refused_password_is_never_resent_unasked(emisopt_client, console_mailbox):
    """Each refused AUTH counts against the account's lockout: Probar with the field blank
    after a refusal asks for the password instead of sending the refused one again."""
    emisopt_client.post(CXC, values(console_mailbox, action="probar", password="equivocada"))
    tests_run = AuditRecord.objects.filter(action="test").count()
    again = emisopt_client.post(CXC, values(console_mailbox, action="probar", password=""))
    body = again.content.decode()
    assert "El servidor rechazó esta contraseña en la última prueba" in body
    assert AuditRecord.objects.filter(action="test").count() == tests_run  # nothing sent
    # Typed again on purpose, it is tested again.
    emisopt_client.post(CXC, values(console_mailbox, action="probar", password="equivocada"))
    assert AuditRecord.objects.filter(action="test").count() == tests_run + 1


def test_a_failure_other_than_the_password_keeps_it_for_another_test(
    emisopt_client, console_mailbox
):
    """SSL ticked on the implicit-TLS port: the password was never refused, so it stays
    offered for another test (Aplicar's proposal needs it)."""
    data = form(host="127.0.0.1", port=str(console_mailbox.port(TLS)), sender=USER)
    body = emisopt_client.post(
        CXC, {**data, "action": "probar", "password": PASSWORD}
    ).content.decode()
    assert "Correo enviado satisfactoriamente" not in body
    assert "se conserva para otra prueba mientras no cambien" in body
    assert "El servidor rechazó" not in body


def test_no_kept_hint_when_no_password_was_typed(emisopt_client, console_mailbox, acme):
    account = make_account(
        acme, password=PASSWORD, host="127.0.0.1", port=console_mailbox.port(STARTTLS), sender=USER
    )
    body = emisopt_client.post(
        CXC, values(console_mailbox, action="probar", cuenta=account.pk, password="")
    ).content.decode()
    assert "Correo enviado satisfactoriamente" in body
    assert "password-kept" not in body
    assert "Déjela en blanco para conservar la contraseña guardada." in body


def test_probar_again_with_the_field_blank_uses_the_kept_password(emisopt_client, console_mailbox):
    emisopt_client.post(CXC, values(console_mailbox, action="probar", password=PASSWORD))
    body = emisopt_client.post(CXC, values(console_mailbox, action="probar", password="")).content
    assert "Correo enviado satisfactoriamente" in body.decode()
    assert len(console_mailbox.messages) == 2


def test_probar_on_a_saved_account_does_not_hold_up_a_new_one(
    emisopt_client, console_mailbox, acme
):
    """The stored password Probar used is not the user's typed one: creating another account
    without a password afterwards must not ask to retype "the tested password"."""
    account = make_account(
        acme, password=PASSWORD, host="127.0.0.1", port=console_mailbox.port(STARTTLS), sender=USER
    )
    tested = emisopt_client.post(
        CXC, values(console_mailbox, cuenta=account.pk, action="probar", password="")
    )
    assert "Correo enviado satisfactoriamente" in tested.content.decode()
    new = emisopt_client.post(
        CXC, values(console_mailbox, sender="relay@acme.example", password="")
    )
    assert new.status_code == 302
    assert SmtpAccount.objects.filter(sender="relay@acme.example", password_token="").exists()


def test_following_the_advice_by_hand_keeps_the_typed_password(emisopt_client, console_mailbox):
    """SSL ticked on the implicit-TLS port fails with "choose Seguridad SSL/TLS": doing that by
    hand (not with Aplicar) and pressing Probar with the field blank uses the password typed a
    moment ago for the same server and Usuario, and the mail goes out."""
    port = str(console_mailbox.port(TLS))
    first = form(host="127.0.0.1", port=port, sender=USER, password=PASSWORD, action="probar")
    assert (
        "Correo enviado satisfactoriamente" not in emisopt_client.post(CXC, first).content.decode()
    )
    by_hand = {**first, "security": "tls", "password": ""}
    body = emisopt_client.post(CXC, by_hand).content.decode()
    assert "Correo enviado satisfactoriamente" in body
    saved = emisopt_client.post(CXC, {**by_hand, "action": "guardar"})
    assert saved.status_code == 302
    account = SmtpAccount.objects.get()
    assert crypto.decrypt(account.password_token).reveal() == PASSWORD
    assert account.last_test["ok"] is True


def test_another_server_never_gets_the_typed_password(emisopt_client, console_mailbox):
    first = values(console_mailbox, action="probar", password=PASSWORD)
    emisopt_client.post(CXC, first)
    elsewhere = {**first, "host": "localhost", "password": ""}
    body = emisopt_client.post(CXC, elsewhere).content.decode()
    assert "Escriba la contraseña de nuevo: cambió el Servidor SMTP" in body
    assert AuditRecord.objects.filter(action="test").count() == 1  # nothing sent to localhost


def test_guardar_says_when_nothing_shows_the_account_can_send(emisopt_client, console_mailbox):
    """Saved after a passing Probar: "quedó guardada." Saved untested: the same, with the
    warning to press Probar before CRONUS uses it."""
    untested = values(console_mailbox, sender="otra@acme.example", password=PASSWORD)
    answer = emisopt_client.post(CXC, untested, follow=True).content.decode()
    assert "ninguna prueba correcta muestra que pueda enviar" in answer
    tested = values(console_mailbox, password=PASSWORD)
    emisopt_client.post(CXC, {**tested, "action": "probar"})
    saved = emisopt_client.post(CXC, {**tested, "password": ""}, follow=True).content.decode()
    assert "La configuración quedó guardada." in saved
    assert "ninguna prueba correcta" not in saved


def test_a_stored_password_never_becomes_a_typed_one(emisopt_client, console_mailbox, acme):
    """Two blank-field Probar runs on a saved account (SSL ticked on its implicit-TLS port:
    a proposal, so the stored password is kept for Aplicar), then another port by hand: the
    stored password does not follow the change, and nothing is sent."""
    tls = console_mailbox.port(TLS)
    account = make_account(acme, password=PASSWORD, host="127.0.0.1", port=tls, sender=USER)
    data = form(host="127.0.0.1", port=str(tls), sender=USER, password="", cuenta=account.pk)
    data["action"] = "probar"
    for _ in range(2):
        body = emisopt_client.post(CXC, data).content.decode()
        assert "Correo enviado satisfactoriamente" not in body
        assert "La contraseña que probó se conserva" not in body  # nobody typed one
    tests_run = AuditRecord.objects.filter(action="test").count()
    by_hand = {**data, "port": str(console_mailbox.port(STARTTLS)), "security": "starttls"}
    body = emisopt_client.post(CXC, by_hand).content.decode()
    assert "Correo enviado satisfactoriamente" not in body
    assert AuditRecord.objects.filter(action="test").count() == tests_run


def test_a_refused_password_is_not_resent_on_another_port(emisopt_client, console_mailbox):
    data = values(console_mailbox, action="probar", password="equivocada")
    emisopt_client.post(CXC, data)
    tests_run = AuditRecord.objects.filter(action="test").count()
    other = {**data, "password": "", "port": str(console_mailbox.port(TLS)), "security": "tls"}
    body = emisopt_client.post(CXC, other).content.decode()
    assert "El servidor rechazó esta contraseña en la última prueba" in body
    assert AuditRecord.objects.filter(action="test").count() == tests_run


def test_aplicar_never_writes_back_a_stored_password_changed_since(
    emisopt_client, console_mailbox, acme
):
    """Probar on a saved account keeps its stored password for Aplicar; if someone changes the
    stored password meanwhile, Guardar must not put the old one back."""
    tls = console_mailbox.port(TLS)
    account = make_account(acme, password=PASSWORD, host="127.0.0.1", port=tls, sender=USER)
    data = form(host="127.0.0.1", port=str(tls), sender=USER, password="", cuenta=account.pk)
    emisopt_client.post(CXC, {**data, "action": "probar"})
    emisopt_client.post(CXC, {**data, "action": "aplicar", "propuesta": f"{tls}:tls"})
    account.password_token = crypto.encrypt(Secret("Nueva-Clave-Mientras-1"))
    account.save()
    emisopt_client.post(CXC, {**data, "security": "tls", "action": "guardar"})
    account.refresh_from_db()
    assert crypto.decrypt(account.password_token).reveal() == "Nueva-Clave-Mientras-1"


def test_a_rate_limited_retype_keeps_the_passing_result(emisopt_client, console_mailbox, settings):
    """Point 13 through the rate limit: the tested password retyped into a refused Probar
    keeps the passing result for Guardar."""
    data = values(console_mailbox, action="probar", password=PASSWORD)
    assert "Correo enviado" in emisopt_client.post(CXC, data).content.decode()
    settings.EMISARIO_PROBE_RATE = (1, 60)
    assert "Demasiadas pruebas" in emisopt_client.post(CXC, data).content.decode()
    assert emisopt_client.post(CXC, {**data, "action": "guardar"}).status_code == 302
    assert SmtpAccount.objects.get().last_test["ok"] is True
