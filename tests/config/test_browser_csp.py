"""The console under the production Content-Security-Policy, in a real browser over real TLS.

gunicorn serves HTTPS itself here (a trustme certificate for 127.0.0.1), so HSTS, the Secure
cookies and CSRF's https origin check are the real thing. The browser records every CSP
violation; the pages must cause none, and what console.js does (a select that submits its
form) must still work, since no inline handler may.
"""

from __future__ import annotations

import os

import pytest
import trustme

from tests.browser.screen import ROUTES, walk_route
from tests.config.serving import REPO, prepare_database, production_env, serve
from tests.requirements import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
USER, PASSWORD = "cobros", "Clave-del-navegador-9"
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def https_server(tmp_path):
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    env = production_env(
        tmp_path,
        f"sqlite:///{tmp_path / 'emisario.sqlite3'}",
        EMISARIO_PROXY_SSL_HEADER="",
        EMISARIO_WORKERS="1",
        GUNICORN_CMD_ARGS=f"--certfile={tmp_path / 'cert.pem'} --keyfile={tmp_path / 'key.pem'}",
    )
    prepare_database(env, {"emisopt": [USER], "passwords": {USER: PASSWORD}})
    with serve([str(REPO / "bin" / "serve")], env, tmp_path / "serve.log") as server:
        yield f"https://{server.base}"


@pytest.mark.browser
def test_console_works_under_the_csp(browser, https_server):
    context = browser.new_context(ignore_https_errors=True)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))

    response = page.goto(https_server + "/acceso/")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    # console.css applied: the top bar is laid out by it, not by the browser's defaults.
    assert page.eval_on_selector(".topbar", "e => getComputedStyle(e).display") == "flex"
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(https_server + "/")

    # The menu's disclosures (details/summary) open without any script, as the CSP requires.
    walk_route(page, ROUTES["es"]["cxc"])
    page.wait_for_selector("button[value=probar]")
    assert page.evaluate("window.__csp") == []

    # The language select has no onchange= any more: console.js submits its form.
    with page.expect_navigation():
        page.select_option("select[name=language]", "en")
    assert page.get_by_role("button", name="Test", exact=True).is_visible()
    assert page.evaluate("window.__csp") == []
    assert not [text for text in console if "Content Security Policy" in text], console
    context.close()
