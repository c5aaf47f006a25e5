"""Detectar's table in Debian's chromium: a failed row reads as failed (red), a working one as
working (green), and the box's colour follows the overall result (issue 7, point 9c).

Computed colours, not class names: the bug was a failed row painted green by the box's own
".ok" class, which only the browser's cascade shows.
"""

import pytest
from django.urls import reverse

from emisario.demo.mailbox import TLS
from tests.browser.screen import sign_in
from tests.factories import make_company, make_user
from tests.support.fixtures import CONSOLE_USER as USER

CLOSED = 1  # nothing listens on port 1 of loopback: refused at once
OK = "rgb(21, 128, 61)"  # --ok
BAD = "rgb(180, 35, 24)"  # --bad


def colour(page, selector: str, prop: str = "color") -> str:
    return page.eval_on_selector(selector, f"e => getComputedStyle(e).{prop}")


def detectar(page, base_url: str) -> None:
    page.goto(base_url + reverse("console:smtp_cxc") + "?empresa=ACME")
    page.fill("#id_host", "127.0.0.1")
    page.fill("#id_sender", USER)
    with page.expect_navigation():
        page.click("button[value=detectar]")
    page.wait_for_selector("#detection")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_failed_rows_are_red_and_the_box_follows_the_result(
    live_server, mailbox, console_probe_settings, browser_page
):
    acme = make_company("ACME", "Comercial Acme")
    user = make_user("cobros", perms=("EMISOPT",), companies=[acme])
    user.set_password("clave-demo-123")
    user.save()
    settings = console_probe_settings
    tls = mailbox.port(TLS)
    settings.EMISARIO_PROBE_PORTS = [*mailbox.ports.values(), CLOSED]
    settings.EMISARIO_DETECT_COMBINATIONS = [f"{CLOSED}/starttls", f"{tls}/tls"]
    page = browser_page
    sign_in(page, live_server.url, "cobros", "clave-demo-123")

    detectar(page, live_server.url)
    failed = f'#detection tr[data-port="{CLOSED}"]'
    works = f'#detection tr[data-port="{tls}"]'
    assert colour(page, f"{failed} td:first-child") == BAD
    assert colour(page, f"{failed} td:last-child") == BAD
    assert colour(page, f"{failed} td:last-child span") == BAD
    assert colour(page, f"{works} td:first-child") == OK
    assert colour(page, "#detection", "borderTopColor") == OK
    assert colour(page, "#detection .verdict-title") not in (OK, BAD)  # ink, not a verdict

    settings.EMISARIO_DETECT_COMBINATIONS = [f"{CLOSED}/starttls"]
    detectar(page, live_server.url)
    assert colour(page, f"{failed} td:last-child") == BAD
    assert colour(page, "#detection", "borderTopColor") == BAD
