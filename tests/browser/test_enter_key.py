"""Point 10, in the browser: Enter in any field of the SMTP form never changes what the user
typed. With a gmail.com Usuario, "Completar" (Proveedor) would replace Servidor, Puerto and SSL
with Gmail's and drop the password; Enter may only run Probar, or do nothing."""

import pytest

from emisario.demo.mailbox import STARTTLS
from tests.browser.screen import expect, sign_in
from tests.factories import make_company, make_user

USERNAME, PASSWORD = "cobros", "clave-demo-123"
SCREEN = "/cxc/sistema/envio-de-correos/smtp/"
GMAIL_USER = "cobranza.acme@gmail.com"
SEED_FIELDS = ("Servidor SMTP", "Usuario", "Autenticación", "Contraseña", "Puerto", "SSL")
"""The seed's fields, and Autenticación before Contraseña (its provider shows only for OAuth)."""
ADVANCED_FIELDS = (
    "Seguridad",
    "Usuario de autenticación",
    "Nombre a mostrar",
    "Tipo",
    "Prioridad",
    "Habilitada",
    "Cuenta de",
)
# Records which button each submission of the page's forms would use; while __hold is set the
# submission is stopped, so a test can ask "what would Enter do?" before letting it happen.
RECORD_SUBMITS = """
window.__submits = [];
window.__hold = false;
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  window.__submits.push(button ? `${button.name}=${button.value}` : "(no button)");
  if (window.__hold) event.preventDefault();
}, true);
"""


@pytest.fixture
def screen(live_server, browser_page, mailbox):
    acme = make_company("ACME", "Comercial Acme")
    user = make_user(USERNAME, perms=("EMISOPT",), companies=[acme])
    user.set_password(PASSWORD)
    user.save()
    browser_page.add_init_script(RECORD_SUBMITS)
    sign_in(browser_page, live_server.url, USERNAME, PASSWORD)
    return browser_page


def typed_values(mailbox) -> dict[str, str | bool]:
    return {
        "Servidor SMTP": "127.0.0.1",
        "Usuario": GMAIL_USER,
        "Puerto": str(mailbox.port(STARTTLS)),
        "SSL": True,
        "Autenticación": "password",
        "Seguridad": "",  # Automático
        "Nombre a mostrar": "Cobranza Acme",
    }


def fill_in(page, values) -> None:
    for label, value in values.items():
        field = page.get_by_label(label, exact=True)
        if isinstance(value, bool):
            field.set_checked(value)
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.get_by_label("Contraseña", exact=True).fill("Clave-de-Gmail-1")


def read_values(page, values) -> dict[str, str | bool]:
    read = {}
    for label, value in values.items():
        field = page.get_by_label(label, exact=True)
        read[label] = field.is_checked() if isinstance(value, bool) else field.input_value()
    return read


def open_advanced(page) -> None:
    advanced = page.locator("details.advanced")
    if advanced.get_attribute("open") is None:
        advanced.locator("summary").click()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_enter_in_every_field_keeps_the_typed_values(live_server, screen, mailbox):
    page = screen
    values = typed_values(mailbox)
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.post_data or "") if r.method == "POST" else None)
    page.goto(live_server.url + SCREEN)
    open_advanced(page)
    form_controls = page.locator(
        "#account-form input:not([type=hidden]):visible, #account-form select:visible"
    ).count()
    assert form_controls == 1 + len(SEED_FIELDS) + len(ADVANCED_FIELDS), "a field is untested"

    problems = []
    for label in ("Proveedor", *SEED_FIELDS, *ADVANCED_FIELDS):
        page.goto(live_server.url + SCREEN)
        open_advanced(page)
        fill_in(page, values)
        field = page.get_by_label(label, exact=True)
        # What would Enter do here? Ask with the submission held back.
        page.evaluate("window.__hold = true; window.__submits = []")
        field.press("Enter")
        page.keyboard.press("Escape")  # closes a select's list if Enter opened it
        would = page.evaluate("window.__submits")
        if not would:
            if read_values(page, values) != values:
                problems.append(f"{label}: Enter changed the fields without submitting")
            continue
        if would != ["action=probar"]:
            problems.append(f"{label}: Enter submits {would}, not Probar")
            continue
        # Let it happen for real: the server runs Probar and renders the user's values back.
        posted.clear()
        page.evaluate("window.__hold = false")
        with page.expect_navigation():
            field.press("Enter")
        if not any("action=probar" in body for body in posted):
            problems.append(f"{label}: the POST was {posted}")
        if page.locator("#verdict").count() != 1:
            problems.append(f"{label}: no Probar verdict after Enter")
        after = read_values(page, values)
        if after != values:
            problems.append(f"{label}: values changed to {after}")
    assert not problems, "\n".join(problems)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_fill_in_button_still_works_when_clicked(live_server, screen, mailbox):
    """Enter must not reach "Completar", but clicking it still fills in the provider."""
    page = screen
    page.goto(live_server.url + SCREEN)
    page.get_by_label("Proveedor", exact=True).select_option("gmail")
    with page.expect_navigation():
        page.get_by_role("button", name="Completar", exact=True).click()
    expect(page.locator("#preset-hint")).to_be_visible()
    assert page.get_by_label("Servidor SMTP", exact=True).input_value() == "smtp.gmail.com"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_completar_s_password_warning_is_not_shown_as_a_success(live_server, screen, mailbox):
    """The tester saw "the password cannot be shown again, type it again" in a green box:
    a warning looks like one (amber), an informational message like neither."""
    page = screen
    page.goto(live_server.url + SCREEN)
    page.get_by_label("Contraseña", exact=True).fill("Una-clave-1")
    page.get_by_label("Proveedor", exact=True).select_option("gmail")
    with page.expect_navigation():
        page.get_by_role("button", name="Completar", exact=True).click()
    warning = page.locator(".messages li.warning")
    expect(warning).to_contain_text("contraseña")
    colours = warning.evaluate(
        "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).borderTopColor]"
    )
    success_green = ["rgb(239, 250, 242)", "rgb(21, 128, 61)"]
    assert colours[0] != success_green[0] and colours[1] != success_green[1]
