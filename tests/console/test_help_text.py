"""Every ``aria-describedby`` on the SMTP screen names an element of the page: Django adds
``<auto_id>_helptext`` to a field with help text, so the screen renders that text with the id
(Usuario's "The From address." included)."""

from html.parser import HTMLParser

import pytest

from tests.console.test_permissions import CXC, form


class References(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: dict[str, str] = {}
        self.described: dict[str, list[str]] = {}
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] = ""
            self._open = attrs["id"]
        if attrs.get("aria-describedby"):
            self.described[attrs.get("name", tag)] = attrs["aria-describedby"].split()

    def handle_data(self, data):
        if self._open:
            self.ids[self._open] += data

    def handle_endtag(self, tag):
        self._open = None


def references(body: str) -> References:
    parser = References()
    parser.feed(body)
    return parser


def assert_all_resolve(body: str) -> References:
    page = references(body)
    assert page.described, "the screen's fields with help text carry aria-describedby"
    missing = {name: ids for name, ids in page.described.items() if set(ids) - page.ids.keys()}
    assert not missing
    return page


@pytest.mark.parametrize("page", ["new", "edit"])
def test_every_aria_describedby_names_an_element(emisopt_client, company_account, page):
    url = CXC if page == "new" else f"{CXC}?empresa=ACME&cuenta={company_account.pk}"
    parsed = assert_all_resolve(emisopt_client.get(url).content.decode())
    assert parsed.described["sender"] == ["id_sender_helptext"]
    assert parsed.ids["id_sender_helptext"] == "La dirección de salida (remitente)."
    assert "id_priority_helptext" in parsed.described["priority"]


def test_the_english_help_text_is_described_too(emisopt_client, settings):
    emisopt_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    parsed = assert_all_resolve(emisopt_client.get(CXC).content.decode())
    assert parsed.ids["id_sender_helptext"] == "The From address."


def test_a_form_with_errors_names_its_error_elements(emisopt_client, loopback_allowed):
    body = emisopt_client.post(CXC, form(sender="cobranza", priority="x", action="guardar"))
    assert_all_resolve(body.content.decode())
