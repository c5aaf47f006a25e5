"""What the browser tests share: Debian's chromium, signing in, walking the ERP menu by its
visible labels, and the phone-width checks."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tests.requirements import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(
    os.environ.get("EMISARIO_TEST_ARTIFACTS", Path(tempfile.gettempdir()) / "emisario-browser")
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# The seed's two routes, label by label, as the page shows them in each language.
ROUTES = {
    "es": {
        "cxc": ("CXC", "Sistema", "Envío de correos", "SMTP"),
        "emisario": ("Emisario", "Sistema", "Configuración", "SMTP"),
    },
    "en": {
        "cxc": ("CXC", "System", "Mail sending", "SMTP"),
        "emisario": ("Emisario", "System", "Configuration", "SMTP"),
    },
}
MENU = {"es": "Menú", "en": "Menu"}
SIGN_OUT = {"es": "Salir", "en": "Sign out"}


def sync_playwright():
    """Playwright's sync entry point, or a skip (a failure under EMISARIO_REQUIRE_ALL_TESTS=1)
    naming what is missing."""
    if not os.path.exists(CHROMIUM):
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        skip_or_fail("Playwright is not installed (pip install playwright)")
    return start()


def expect(target):
    """Playwright's expect, imported when first used so that a machine without Playwright
    collects these tests and skips them (the fixtures say why) instead of failing."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_url(base_url + "/")


def walk_route(page, labels: tuple[str, ...], *, language: str = "es", keyboard: bool = False):
    """Follow a route of the menu the way the seed writes it: click (or focus and press Enter
    on) each label in turn. Each level must be closed until its parent is opened, so a menu
    that starts open (where clicking "CXC" closes it) fails here."""
    *branches, leaf, tab = labels
    menu = page.get_by_role("navigation", name=MENU[language], exact=True)
    for label in branches:
        item = menu.get_by_text(label, exact=True).filter(visible=True)
        expect(item).to_have_count(1)
        _activate(page, item, keyboard)
    link = menu.get_by_role("link", name=leaf, exact=True)
    expect(link).to_be_visible()
    with page.expect_navigation():
        _activate(page, link, keyboard)
    smtp_tab = page.get_by_role("tab", name=tab, exact=True)
    expect(smtp_tab).to_be_visible()
    with page.expect_navigation():
        _activate(page, smtp_tab, keyboard)
    expect(page.get_by_role("tab", name=tab, exact=True)).to_have_attribute("aria-selected", "true")


def _activate(page, item, keyboard: bool) -> None:
    if not keyboard:
        item.click()
        return
    item.focus()
    assert item.evaluate("e => e === document.activeElement"), "not reachable by keyboard"
    page.keyboard.press("Enter")


def fits_the_width(page) -> list[str]:
    """What makes the page wider than the window, or sticks out of its card (a table may
    scroll inside its own box), or [] when nothing does."""
    width = page.evaluate("window.innerWidth")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    sticking_out = page.evaluate(
        """() => [...document.querySelectorAll('.card')].flatMap(card => {
            const edge = card.getBoundingClientRect().right;
            return [...card.querySelectorAll('*')]
              .filter(e => !e.closest('.table-scroll') && e.getBoundingClientRect().width > 1)
              .filter(e => e.getBoundingClientRect().right > edge + 0.5)
              .slice(0, 4)
              .map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} sticks out of`
                   + ` its card by ${Math.round(e.getBoundingClientRect().right - edge)} px`);
          })"""
    )
    if scroll <= width:
        return sticking_out
    wide = page.evaluate(
        """(width) => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > width + 0.5)
            .filter(e => !e.closest('.table-scroll') || e.matches('.table-scroll'))
            .slice(0, 8)
            .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                 + (e.className && typeof e.className === 'string' ? '.' + e.className : '')
                 + ' right=' + Math.round(e.getBoundingClientRect().right))""",
        width,
    )
    return [f"scrollWidth {scroll} > innerWidth {width}", *wide, *sticking_out]


def sign_out_in_view(page, language: str = "es") -> bool:
    """Whether Salir is inside the window with the page scrolled to its top."""
    page.evaluate("window.scrollTo(0, 0)")
    box = page.get_by_role("button", name=SIGN_OUT[language], exact=True).bounding_box()
    viewport = page.viewport_size
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= viewport["width"]
        and box["y"] + box["height"] <= viewport["height"]
    )
