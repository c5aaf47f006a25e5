"""Point 15: every screen works from 360 px up without scrolling the page sideways.

In each state a new user meets (sign-in, the menu, the SMTP screen empty, a failed Probar with
a long server reply or a long host name, Detectar's table, the accounts list) the page is no
wider than the window and "Salir" is inside it; tables scroll in their own box. Screenshots of
every state go to the artifacts folder for a person to look at."""

import pytest

from emisario.core.smtp.steps import Step
from emisario.demo.mailbox import STARTTLS, TLS
from tests.browser.screen import ARTIFACTS, expect, fits_the_width, sign_in, sign_out_in_view
from tests.factories import make_account, make_company, make_user
from tests.support.smtpd import Script

USERNAME, PASSWORD = "cobros", "clave-demo-123"
SCREEN = "/cxc/sistema/envio-de-correos/smtp/"
CLOSED = 1  # nothing listens on port 1 of loopback
UNBROKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789" * 4  # 144 characters, no place to break
LONG_REPLY = (
    "535 5.7.8 Username and Password not accepted. For more information, go to "
    f"https://support.example.com/mail/?p=BadCredentials&session={UNBROKEN} "
    "and read the part about application passwords and security keys for your account"
)
LONG_HOST = (
    "servidor-de-correo-saliente-de-la-sucursal-norte.departamento-de-cobranza"
    ".comercial-acme-de-ejemplo.invalid"
)
LONG_SENDER = "departamento.cuentas.por.cobrar.zona.norte@sucursal-norte.comercial-acme.com.mx"
WIDTHS = [360, 390, 1280]


@pytest.fixture
def refusing_server(smtpd_factory, ca, console_mailbox, mailbox, settings, tmp_path):
    """A server that answers AUTH with a long reply holding a long unbroken token; Probar
    trusts its CA and the mailbox's."""
    server = smtpd_factory(Script(replies={Step.AUTH: LONG_REPLY}))
    bundle = tmp_path / "both-cas.pem"
    bundle.write_bytes(ca.cert_pem.bytes() + console_mailbox.ca.cert_pem.bytes())
    settings.EMISARIO_PROBE_CA_FILE = str(bundle)
    settings.EMISARIO_PROBE_PORTS = [*console_mailbox.ports.values(), *server.ports.values()]
    settings.EMISARIO_DETECT_COMBINATIONS = [
        f"{console_mailbox.port(TLS)}/tls",
        f"{console_mailbox.port(STARTTLS)}/starttls",
        f"{CLOSED}/starttls",
        "25/starttls",  # not an allowed port: listed, never tried
        f"{server.port(STARTTLS)}/none",
    ]
    return server


class Check:
    """Collects what does not fit, per state, and saves each state's screenshot."""

    def __init__(self, page, width: int):
        self.page, self.width, self.problems = page, width, []
        (ARTIFACTS / "phone").mkdir(parents=True, exist_ok=True)

    def __call__(self, state: str, *, signed_in: bool = True) -> None:
        page = self.page
        page.screenshot(path=str(ARTIFACTS / "phone" / f"{state}-{self.width}.png"), full_page=True)
        for box in ("#verdict", "#detection", ".accounts-card"):
            if page.locator(box).count() and state != "account-edit":
                name = f"{state}-{self.width}-{box.strip('#.')}.png"
                page.locator(box).screenshot(path=str(ARTIFACTS / "phone" / name))
        self.problems += [f"{state}: {problem}" for problem in fits_the_width(page)]
        if signed_in and not sign_out_in_view(page):
            self.problems.append(f"{state}: Salir is outside the window")


def probar(page, host: str, sender: str, port: int) -> None:
    page.get_by_label("Servidor SMTP", exact=True).fill(host)
    page.get_by_label("Usuario", exact=True).fill(sender)
    page.get_by_label("Contraseña", exact=True).fill("Clave-equivocada-1")
    page.get_by_label("Puerto", exact=True).fill(str(port))
    page.get_by_label("SSL", exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Probar", exact=True).click()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("width", WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def test_no_sideways_scrolling(live_server, browser_page, mailbox, refusing_server, width):
    acme = make_company("ACME", "Comercial Acme de Ejemplo, S.A. de C.V.")
    user = make_user(USERNAME, perms=("EMISOPT",), companies=[acme])
    user.set_password(PASSWORD)
    user.save()
    page = browser_page
    page.set_viewport_size({"width": width, "height": 800})
    check = Check(page, width)

    page.goto(live_server.url + "/acceso/")
    check("login", signed_in=False)
    # The sign-in fields stack: each label above its field, the field as wide as the form.
    form = page.locator("main form").bounding_box()
    for field_id in ("id_username", "id_password"):
        label = page.locator(f"label[for={field_id}]").bounding_box()
        field = page.locator(f"#{field_id}").bounding_box()
        if label["y"] + label["height"] > field["y"] + 1:
            check.problems.append(f"login: the label of {field_id} is not above its field")
        if field["width"] < form["width"] - 2:
            check.problems.append(f"login: {field_id} is {field['width']} px of {form['width']}")

    sign_in(page, live_server.url, USERNAME, PASSWORD)
    check("menu")
    for summary in page.locator(".erp-menu summary").all():
        if summary.is_visible():
            summary.click()
    check("menu-open")

    page.goto(live_server.url + SCREEN)
    check("smtp-empty")
    page.locator("details.advanced summary").click()
    check("smtp-advanced")

    probar(page, "127.0.0.1", "cobranza@acme.example", refusing_server.port(STARTTLS))
    assert page.locator("#verdict.failed").count() == 1, page.locator("main").inner_text()
    check("probar-long-reply")

    probar(page, LONG_HOST, LONG_SENDER, mailbox.port(STARTTLS))
    assert page.locator("#verdict.failed").count() == 1
    check("probar-long-host")

    page.get_by_label("Servidor SMTP", exact=True).fill("127.0.0.1")
    with page.expect_navigation():
        page.get_by_role("button", name="Detectar", exact=True).click()
    assert page.locator("#detection table").count() == 1
    check("detectar")
    # Guardar what Detectar proposed, so the change history has a row with long values.
    page.get_by_label("Contraseña", exact=True).fill("Clave-equivocada-1")
    if page.locator("details.advanced[open]").count() == 0:
        page.locator("details.advanced summary").click()
    page.get_by_label("Nombre a mostrar", exact=True).fill(UNBROKEN)
    with page.expect_navigation():
        page.get_by_role("button", name="Guardar", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("La configuración quedó guardada")

    for priority, (sender, host) in enumerate(
        [
            (LONG_SENDER, "smtp.gmail.com"),
            ("cobranza@acme.example", LONG_HOST),
            (f"{UNBROKEN[:60]}@acme.example", "127.0.0.1"),
        ]
    ):
        make_account(acme, sender=sender, host=host, priority=priority, display_name="Cobranza")
    make_account(None, sender="avisos@emisario.example", host="smtp.emisario.example")
    page.goto(live_server.url + SCREEN)
    check("accounts")
    page.get_by_role("link", name="Editar").first.click()
    check("account-edit")
    # The change history (issue 7, point 16).
    page.get_by_role("link", name="Historial de cambios de las cuentas de la empresa").click()
    check("history")

    assert not check.problems, "\n".join(check.problems)
