"""Fixtures of the browser tests: one chromium per test, a page at desk width, the mailbox."""

import os

import pytest

from tests.browser.screen import CHROMIUM, CHROMIUM_ARGS, sync_playwright

WAIT_MS = 10_000  # how long Playwright waits for an element or a page before failing


@pytest.fixture
def chromium():
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def browser_page(chromium):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.set_default_navigation_timeout(WAIT_MS)
    return page


@pytest.fixture
def mailbox(console_mailbox, console_probe_settings):
    console_probe_settings.EMISARIO_PROBE_RATE = (1000, 60)  # many Probar runs per test
    return console_mailbox
