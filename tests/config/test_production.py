"""The documented production start (``bin/serve``: gunicorn, WhiteNoise, production settings),
started as a real process and read over HTTP the way a browser behind a TLS proxy reads it."""

from __future__ import annotations

import gzip
import re
import subprocess
from pathlib import Path

import pytest

from tests.config.client import Client
from tests.config.serving import REPO, emisario, prepare_database, production_env, serve

USER, PASSWORD = "cobros", "Clave-de-produccion-7"
SMTP_SCREEN = "/cxc/sistema/envio-de-correos/smtp/"
STATIC_SOURCE = REPO / "src" / "emisario" / "console" / "static" / "emisario"
HASHED = re.compile(r'(?:href|src)="(/static/emisario/console\.[0-9a-f]{12}\.(css|js))"')
INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # an inline script element
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle=", re.I),
    re.compile(r"\son[a-z]+=", re.I),  # onclick=, onchange=, onsubmit=, ...
]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("production")
    return production_env(home, f"sqlite:///{home / 'emisario.sqlite3'}")


@pytest.fixture(scope="module")
def server(env, tmp_path_factory):
    prepare_database(env, {"emisopt": [USER], "passwords": {USER: PASSWORD}})
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    with serve([str(REPO / "bin" / "serve")], {**env, "EMISARIO_WORKERS": "1"}, log) as running:
        yield running


@pytest.fixture
def signed_in(server) -> Client:
    client = Client(server.base)
    client.get("/acceso/")
    response = client.post("/acceso/", {"username": USER, "password": PASSWORD, "next": "/"})
    assert response.status == 302, response.text[:500]
    assert response.header("Location") == "/"
    return client


def test_check_deploy_reports_nothing_under_production_settings(env):
    result = emisario(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_a_proxy_that_redirects_itself_turns_off_only_that_check(env):
    result = emisario({**env, "EMISARIO_SSL_REDIRECT": "0"}, "check", "--deploy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(1 silenced)" in result.stdout  # security.W008, and nothing else


def test_a_malformed_switch_stops_the_deploy_check_with_its_name(env):
    result = emisario({**env, "EMISARIO_SSL_REDIRECT": "maybe"}, "check", "--deploy")
    assert result.returncode != 0
    assert "EMISARIO_SSL_REDIRECT" in result.stdout + result.stderr


def test_serve_refuses_to_start_without_the_signing_key(env, tmp_path):
    missing = {k: v for k, v in env.items() if k != "EMISARIO_SECRET_KEY"}
    with (tmp_path / "serve.log").open("wb") as log:
        result = subprocess.run(
            [str(REPO / "bin" / "serve")], env=missing, stdout=log, stderr=subprocess.STDOUT
        )
    assert result.returncode == 2
    assert "EMISARIO_SECRET_KEY is not set" in (tmp_path / "serve.log").read_text()


def test_sign_in_page_carries_the_security_headers(server):
    response = Client(server.base).get("/acceso/")
    assert response.status == 200
    assert "Iniciar sesión" in response.text
    csp = dict(
        part.strip().split(" ", 1) for part in response.header("Content-Security-Policy").split(";")
    )
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert "unsafe" not in response.header("Content-Security-Policy")
    assert response.header("Strict-Transport-Security") == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert response.header("X-Frame-Options") == "DENY"
    assert response.header("X-Content-Type-Options") == "nosniff"
    assert "no-store" in response.header("Cache-Control")
    csrf = response.cookies()["csrftoken"]
    assert "Secure" in csrf and "HttpOnly" in csrf and "SameSite=Lax" in csrf


def test_plain_http_is_sent_to_https(server):
    response = Client(server.base, proxied=False).get("/acceso/")
    assert response.status == 301
    assert response.header("Location") == f"https://{server.base}/acceso/"


def test_session_cookie_is_secure_and_account_pages_are_never_stored(signed_in, server):
    session = signed_in.jar["sessionid"]
    assert session
    screen = signed_in.get(SMTP_SCREEN)
    assert screen.status == 200
    assert 'value="probar"' in screen.text and USER in screen.text
    cache = screen.header("Cache-Control")
    assert "no-store" in cache and "private" in cache
    admin = signed_in.get("/admin/")
    assert "no-store" in admin.header("Cache-Control")


def test_login_sets_a_secure_session_cookie(server):
    client = Client(server.base)
    client.get("/acceso/")
    response = client.post("/acceso/", {"username": USER, "password": PASSWORD, "next": "/"})
    cookie = response.cookies()["sessionid"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "no-store" in response.header("Cache-Control")


def test_pages_have_no_inline_script_or_style_for_the_csp_to_block(signed_in):
    for path in ("/acceso/", "/", SMTP_SCREEN, SMTP_SCREEN + "?empresa=ACME"):
        page = signed_in.get(path).text
        for pattern in INLINE:
            assert not pattern.search(page), (path, pattern.pattern, pattern.search(page))


@pytest.mark.parametrize("kind", ["css", "js"])
def test_whitenoise_serves_the_hashed_static_files(server, kind):
    page = Client(server.base).get("/acceso/").text
    urls = {found.group(2): found.group(1) for found in HASHED.finditer(page)}
    assert kind in urls, page[:800]
    source = (STATIC_SOURCE / f"console.{kind}").read_bytes()

    plain = Client(server.base).get(urls[kind])
    assert plain.status == 200
    assert plain.body == source
    assert plain.header("Content-Type").startswith(
        "text/css" if kind == "css" else ("text/javascript", "application/javascript")
    )
    assert "immutable" in plain.header("Cache-Control")  # hashed name: cached for good
    assert plain.header("Strict-Transport-Security")  # SecurityMiddleware runs before it

    packed = Client(server.base).get(urls[kind], **{"Accept-Encoding": "gzip"})
    assert packed.header("Content-Encoding") == "gzip"
    assert gzip.decompress(packed.body) == source


def test_serve_collected_the_static_files_with_their_manifest(server, env):
    static_root = Path(env["EMISARIO_HOME"]) / "var" / "static"
    assert (static_root / "staticfiles.json").exists()
    assert "System check identified no issues" in server.output()
