"""Point 10: Enter in any field of the SMTP form presses Probar (the form's first submit button
in tree order, HTML's implicit submission), never Completar; and Completar itself fills in only
what the provider fixes and names every value it changed. The browser half (chromium pressing
Enter in each field) is tests/browser/."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from emisario.accounts.models import AuditRecord, SmtpAccount
from tests.console.test_permissions import CXC, form


class SubmitButtons(HTMLParser):
    """The submit buttons whose form owner is ``#account-form``, in tree order."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # inside <form id="account-form">
        self.buttons: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == "account-form":
            self.depth = 1
        elif tag == "form":
            self.depth = 0
        owner = attrs.get("form") or ("account-form" if self.depth else None)
        submit = (tag == "button" and attrs.get("type", "submit") == "submit") or (
            tag == "input" and attrs.get("type") in ("submit", "image")
        )
        if submit and owner == "account-form":
            self.buttons.append(attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self.depth = 0


def submit_buttons(body: str) -> list[dict]:
    parser = SubmitButtons()
    parser.feed(body)
    return parser.buttons


pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.mark.parametrize(
    "page",
    ["new", "after-fill-in", "edit"],
)
def test_the_default_button_is_probar(emisopt_client, company_account, page):
    if page == "new":
        body = emisopt_client.get(CXC).content.decode()
    elif page == "after-fill-in":
        body = emisopt_client.post(
            CXC, form(action="proveedor", sender="a@gmail.com")
        ).content.decode()
    else:
        body = emisopt_client.get(
            f"{CXC}?empresa=ACME&cuenta={company_account.pk}"
        ).content.decode()
    buttons = submit_buttons(body)
    first = buttons[0]
    assert (first.get("name"), first.get("value")) == ("action", "probar")
    # Out of the Tab order and hidden from screen readers: they reach the visible Probar.
    assert first.get("tabindex") == "-1" and first.get("aria-hidden") == "true"
    assert "hidden" not in first  # display:none buttons are skipped by some browsers
    visible = [b["value"] for b in buttons[1:]]
    assert "probar" in visible and "proveedor" in visible
    assert visible.index("probar") > visible.index("proveedor")  # the seed's layout stays


def test_what_enter_sends_keeps_the_typed_values(emisopt_client, settings):
    """Enter sends the default button's action=probar: the values come back as typed, even
    with a gmail.com Usuario (Completar would have put Gmail's server in)."""
    settings.EMISARIO_PROBE_PORTS = [1]
    body = emisopt_client.post(
        CXC, form(action="probar", sender="cobranza@gmail.com", host="127.0.0.1", port="1")
    ).content.decode()
    assert 'value="127.0.0.1"' in body and 'name="port" value="1"' in body
    assert 'smtp.gmail.com"' not in body.split('id="account-form"')[1].split("</form>")[0]
    assert AuditRecord.objects.filter(action="test").count() == 1


def messages_of(body: str) -> str:
    return body.split('<ul class="messages">')[1].split("</ul>")[0] if "messages" in body else ""


def test_fill_in_names_every_value_it_changed(emisopt_client):
    body = emisopt_client.post(
        CXC, form(action="proveedor", sender="cobranza@gmail.com", password="")
    ).content.decode()
    said = messages_of(body)
    assert "Se completaron los datos de Gmail" in said
    assert "Servidor SMTP: 127.0.0.1 → smtp.gmail.com" in said
    assert "Puerto: 2525 → 465" in said
    assert "SSL" not in said  # ticked before and after: not a change
    assert "Usuario" not in said and "Contraseña" not in said
    assert 'value="cobranza@gmail.com"' in body  # the Usuario is the user's, untouched
    assert SmtpAccount.objects.count() == 0


def test_fill_in_says_when_nothing_changed(emisopt_client):
    values = form(action="proveedor", sender="cobranza@gmail.com", password="")
    values.update(host="smtp.gmail.com", port="465", auth_method="oauth", oauth_provider="google")
    said = messages_of(emisopt_client.post(CXC, values).content.decode())
    assert "El formulario ya tiene los datos de Gmail / Google Workspace: no cambió nada." in said


def test_fill_in_never_drops_a_typed_password_silently(emisopt_client):
    body = emisopt_client.post(
        CXC, form(action="proveedor", sender="cobranza@gmail.com", password="otra-clave")
    ).content.decode()
    assert "otra-clave" not in body
    assert "La contraseña que escribió no se puede volver a mostrar" in messages_of(body)


def test_fill_in_without_a_typed_password_says_nothing_about_it(emisopt_client):
    body = emisopt_client.post(
        CXC, form(action="proveedor", sender="cobranza@gmail.com", password="")
    ).content.decode()
    assert "contraseña que escribió" not in messages_of(body)


def test_english_fill_in_message(emisopt_client):
    emisopt_client.post(reverse("set_language"), {"language": "en", "next": CXC})
    body = emisopt_client.post(
        CXC, form(action="proveedor", preset="sendgrid", sender="a@acme.example", password="")
    ).content.decode()
    said = messages_of(body)
    assert "Filled in with the settings of SendGrid" in said
    assert "SMTP server: 127.0.0.1 → smtp.sendgrid.net" in said
    assert "Port: 2525 → 587" in said and "Login name: — → apikey" in said
