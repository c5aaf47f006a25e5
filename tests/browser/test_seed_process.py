"""The seed's process in a real browser (Debian's chromium driven by Playwright), as a new user
walks it: sign in, both menu routes, fill in the form, Probar, the message, Guardar, reload."""

import pytest

from emisario.accounts import crypto
from emisario.accounts.models import SmtpAccount
from emisario.demo.mailbox import STARTTLS
from tests.browser.screen import ARTIFACTS, ROUTES, sign_in, walk_route
from tests.factories import make_company, make_user
from tests.support.fixtures import CONSOLE_PASSWORD as PASSWORD
from tests.support.fixtures import CONSOLE_USER as USER


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_seed_process_in_the_browser(live_server, mailbox, browser_page):
    acme = make_company("ACME", "Comercial Acme")
    user = make_user("cobros", perms=("EMISOPT",), companies=[acme])
    user.set_password("clave-demo-123")
    user.save()
    page = browser_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    sign_in(page, live_server.url, "cobros", "clave-demo-123")

    # Route 1, clicked label by label as the seed writes it: CXC => Sistema => Envío de
    # correos => SMTP (the screen's tab).
    walk_route(page, ROUTES["es"]["cxc"])
    assert page.locator(".crumbs").inner_text().split() == [
        "CXC",
        "⇒",
        "Sistema",
        "⇒",
        "Envío",
        "de",
        "correos",
    ]
    assert page.locator(".tab.active").inner_text() == "SMTP"
    # Route 2 reaches the same screen: Emisario => Sistema => Configuración => SMTP.
    page.goto(live_server.url + "/")
    walk_route(page, ROUTES["es"]["emisario"])
    assert "Emisario" in page.locator(".crumbs").inner_text()
    assert page.locator("label[for=id_host]").inner_text() == "Servidor SMTP"

    page.get_by_label("Servidor SMTP").fill("127.0.0.1")
    page.get_by_label("Usuario", exact=True).fill(USER)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_label("Puerto").fill(str(mailbox.port(STARTTLS)))
    page.get_by_label("SSL", exact=True).check()
    page.get_by_role("button", name="Probar").click()
    verdict = page.locator("#verdict")
    assert verdict.locator(".verdict-title").inner_text() == "Correo enviado satisfactoriamente"
    page.screenshot(path=str(ARTIFACTS / "probar.png"), full_page=True)
    assert len(mailbox.messages) == 1 and mailbox.messages[0].rcpt_tos == (USER,)

    # The typed password is not rendered back, but it is kept for Guardar, as the seed's
    # order (Probar, then Guardar) expects.
    assert page.get_by_label("Contraseña").input_value() == ""
    assert "presione Guardar sin escribirla de nuevo" in page.locator("#password-kept").inner_text()
    page.get_by_role("button", name="Guardar").click()
    assert "La configuración quedó guardada" in page.locator(".messages").inner_text()

    saved = SmtpAccount.objects.get()
    assert crypto.decrypt(saved.password_token).reveal() == PASSWORD

    page.reload()
    assert "Correcta" in page.locator("#last-test summary").inner_text()  # the Probar result
    in_use = page.locator("#type-INTERNO p.in-use").inner_text()
    assert USER in in_use
    assert page.get_by_label("Servidor SMTP").input_value() == "127.0.0.1"
    assert page.get_by_label("Contraseña").input_value() == ""
    page.screenshot(path=str(ARTIFACTS / "guardado.png"), full_page=True)
    # At a phone's width (390 px) nothing makes the page scroll sideways: the header wraps and
    # the accounts table scrolls inside its own box.
    page.set_viewport_size({"width": 390, "height": 800})
    for url in ("/acceso/", "/cxc/sistema/envio-de-correos/smtp/"):
        page.goto(live_server.url + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
    page.screenshot(path=str(ARTIFACTS / "telefono.png"), full_page=True)
