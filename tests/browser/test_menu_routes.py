"""Point 12: both of the seed's routes, clicked label by label exactly as written.

The menu starts closed; each click opens the next level; "SMTP" is a tab of the screen the
last link opens. The same routes work from the keyboard (focus, Enter) and in English."""

import pytest

from tests.browser.screen import ROUTES, expect, sign_in, walk_route
from tests.factories import make_company, make_user

USERNAME, PASSWORD = "cobros", "clave-demo-123"
CRUMBS = {
    "es": {
        "cxc": "CXC ⇒ Sistema ⇒ Envío de correos",
        "emisario": "Emisario ⇒ Sistema ⇒ Configuración",
    },
    "en": {"cxc": "CXC ⇒ System ⇒ Mail sending", "emisario": "Emisario ⇒ System ⇒ Configuration"},
}
FIRST_FIELD = {"es": "Servidor SMTP", "en": "SMTP server"}


@pytest.fixture
def signed_in(live_server, browser_page):
    acme = make_company("ACME", "Comercial Acme")
    user = make_user(USERNAME, perms=("EMISOPT",), companies=[acme])
    user.set_password(PASSWORD)
    user.save()
    sign_in(browser_page, live_server.url, USERNAME, PASSWORD)
    return browser_page


def choose_language(page, language: str) -> None:
    if page.locator("select[name=language]").input_value() != language:
        with page.expect_navigation():
            page.select_option("select[name=language]", language)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("how", ["click", "keyboard"])
def test_both_routes_label_by_label(live_server, signed_in, language, how):
    page = signed_in
    choose_language(page, language)
    for route in ("cxc", "emisario"):
        page.goto(live_server.url + "/")
        labels = ROUTES[language][route]
        # Closed at first: only the two roots show, none of the deeper labels.
        for hidden in labels[1:3]:
            expect(page.get_by_text(hidden, exact=True).filter(visible=True)).to_have_count(0)
        walk_route(page, labels, language=language, keyboard=how == "keyboard")
        crumbs = " ".join(page.locator(".crumbs").inner_text().split())
        assert crumbs == CRUMBS[language][route]
        expect(page.get_by_label(FIRST_FIELD[language], exact=True)).to_be_visible()
        assert page.url.endswith(
            {
                "cxc": "/cxc/sistema/envio-de-correos/smtp/",
                "emisario": "/emisario/sistema/configuracion/smtp/",
            }[route]
        )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_level_opens_and_closes_again(live_server, signed_in):
    """The menu is a tree of disclosures: a second click on "CXC" closes what the first
    opened, and opening one root leaves the other closed."""
    page = signed_in
    menu = page.get_by_role("navigation", name="Menú", exact=True)
    page.get_by_text("CXC", exact=True).click()
    expect(menu.get_by_text("Sistema", exact=True).filter(visible=True)).to_have_count(1)
    page.get_by_text("CXC", exact=True).click()
    expect(menu.get_by_text("Sistema", exact=True).filter(visible=True)).to_have_count(0)
