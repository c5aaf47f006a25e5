"""Issue 9's whole flow in Debian's chromium: a new user sets up a Microsoft 365 account with
OAuth 2.0 by the screen alone (Contraseña gives way to Conectar), signs in and consents at the
local authorization server, comes back connected, Probar says "Correo enviado
satisfactoriamente" through XOAUTH2, and CRONUS sends a queued statement through the grant."""

import threading

import pytest

from emisario.accounts.models import AccountType, GrantStatus, OAuthGrant, SmtpAccount
from emisario.demo.mailbox import STARTTLS, LoopbackSmtpd
from tests.browser.screen import ARTIFACTS, sign_in
from tests.factories import make_company, make_user
from tests.outbox.cronus_support import queue_statement, run_cronus
from tests.support.oauth import CLIENT_ID, MAILBOX
from tests.support.scenarios import USERS

RETIRED = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_connect_with_microsoft_probar_and_cronus(
    live_server, browser_page, microsoft_settings, settings, ca, tmp_path
):
    AccountType.objects.get_or_create(code="INTERNO", defaults={"name": "Interno"})
    microsoft_settings.add_redirect_uri(CLIENT_ID, live_server.url + "/oauth/callback/")
    acme = make_company("ACME", "Comercial Acme")
    user = make_user("cobros", perms=("EMISOPT",), companies=[acme])
    user.set_password("clave-demo-123")
    user.save()
    server = LoopbackSmtpd(
        USERS, listeners=(STARTTLS,), ca=ca, token_checker=microsoft_settings.smtp_checker(),
        password_refusal=RETIRED,
    )  # fmt: skip
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings.EMISARIO_PROBE_CA_FILE = str(ca_file)
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    settings.EMISARIO_PROBE_RATE = (1000, 60)
    settings.EMISARIO_GENERIC_SMTP_URL = ""
    page = browser_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with server:
        port = server.port(STARTTLS)
        settings.EMISARIO_PROBE_PORTS = [port]
        sign_in(page, live_server.url, "cobros", "clave-demo-123")
        page.goto(live_server.url + "/cxc/sistema/envio-de-correos/smtp/")
        page.get_by_label("Servidor SMTP").fill("127.0.0.1")
        page.get_by_label("Usuario", exact=True).fill(MAILBOX)
        assert page.get_by_label("Contraseña").is_visible()
        page.get_by_label("Autenticación", exact=True).select_option("oauth")
        # Contraseña gives way to the provider (console.js), no reload
        assert not page.get_by_label("Contraseña").is_visible()
        page.get_by_label("Proveedor OAuth").select_option("microsoft")
        page.get_by_label("Puerto").fill(str(port))
        page.get_by_label("SSL", exact=True).check()
        page.get_by_role("button", name="Guardar").click()
        panel = page.locator("#oauth")
        assert "No conectada" in panel.inner_text()
        page.screenshot(path=str(ARTIFACTS / "oauth-sin-conectar.png"), full_page=True)

        page.get_by_role("button", name="Conectar con Microsoft").click()
        page.wait_for_url(microsoft_settings.authority + "/**")
        assert page.get_by_label("Email address").input_value() == MAILBOX  # login_hint
        page.screenshot(path=str(ARTIFACTS / "oauth-consentimiento.png"), full_page=True)
        page.get_by_role("button", name="Accept").click()
        page.wait_for_url(live_server.url + "/cxc/**")
        assert "Conectada con Microsoft como " + MAILBOX in page.locator(".messages").inner_text()
        assert "Conectada" in page.locator("#oauth").inner_text()
        grant = OAuthGrant.objects.get()
        assert grant.mailbox == MAILBOX and grant.status == GrantStatus.ACTIVE

        page.get_by_role("button", name="Probar").click()
        verdict = page.locator("#verdict")
        assert verdict.locator(".verdict-title").inner_text() == "Correo enviado satisfactoriamente"
        oauth_step = page.locator('#verdict [data-step="oauth"]').inner_text()
        assert "Autorización OAuth" in oauth_step and f"Buzón: {MAILBOX}" in oauth_step
        page.screenshot(path=str(ARTIFACTS / "oauth-probar.png"), full_page=True)
        html = page.content()
        for token in microsoft_settings.active_access_tokens():
            assert token not in html
        assert server.bearer_logins == [("XOAUTH2", MAILBOX, True)]

        account = SmtpAccount.objects.get()
        message = queue_statement(company="ACME")
        # In a thread of its own: Playwright's sync API keeps an event loop running in this one
        worker = threading.Thread(target=run_cronus, kwargs={"worker_id": "browser-test"})
        worker.start()
        worker.join(60)
        message.refresh_from_db()
        assert message.status == "sent" and message.account_used_id == account.pk
        assert [m.login for m in server.messages][-1] == MAILBOX
        page.set_viewport_size({"width": 390, "height": 800})
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(ARTIFACTS / "oauth-telefono.png"), full_page=True)
