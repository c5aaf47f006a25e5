"""The 404 and 500 pages (DEBUG off), the language menu's own names, and the favicon."""

from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.test import Client
from django.urls import path, reverse

from tests.console.test_permissions import CXC

MENU = reverse("console:menu")


def broken(request):
    raise RuntimeError("boom")


def fine(request):
    return HttpResponse("ok")


# A URLconf for the 500 test only: a view that raises, and one that does not.
urlpatterns = [path("roto/", broken), path("bien/", fine)]


def in_language(client, settings, language):
    if language == "en":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.mark.parametrize(
    ("language", "title", "text"),
    [
        ("es", "Página no encontrada", "La página que pidió no existe o no tiene acceso a ella."),
        ("en", "Page not found", "The page you asked for does not exist, or you cannot open it."),
    ],
)
def test_another_companys_page_is_a_translated_404(
    emisopt_client, otra, settings, language, title, text
):
    settings.DEBUG = False
    client = in_language(emisopt_client, settings, language)
    response = client.get(f"{CXC}?empresa=OTRA")
    assert response.status_code == 404
    body = response.content.decode()
    assert f"<h1>{title}</h1>" in body and text in body
    assert f'<html lang="{language}">' in body
    assert f'<a href="{MENU}">' in body
    assert ("Volver al menú" if language == "es" else "Back to the menu") in body
    assert "Not Found" not in body


def test_a_missing_address_is_the_same_404_for_anonymous_users(client, settings):
    settings.DEBUG = False
    response = client.get("/no-existe/")
    assert response.status_code == 404
    assert "Página no encontrada" in response.content.decode()


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("language", "title"), [("es", "Error del servidor"), ("en", "Server error")]
)
def test_the_500_page_renders_without_the_database(settings, language, title):
    """No ``db`` fixture: any query the 500 page made would fail this test."""
    settings.DEBUG = False
    client = in_language(Client(raise_request_exception=False), settings, language)
    assert client.get("/bien/").status_code == 200
    response = client.get("/roto/")
    assert response.status_code == 500
    body = response.content.decode()
    assert f'<html lang="{language}">' in body
    assert f"<h1>{title}</h1>" in body
    assert ("Volver al menú" if language == "es" else "Back to the menu") in body
    assert '<a href="/">' in body
    assert 'href="/static/emisario/console.css"' in body


@pytest.mark.parametrize("language", ["es", "en"])
def test_languages_are_named_in_their_own_language(client, settings, language):
    body = in_language(client, settings, language).get(reverse("login")).content.decode()
    selected = {"es": "", "en": ""}
    selected[language] = " selected"
    assert f'<option value="es" lang="es"{selected["es"]}>Español</option>' in body
    assert f'<option value="en" lang="en"{selected["en"]}>English</option>' in body
    assert "Inglés" not in body and "Spanish" not in body


def test_pages_link_the_favicon_and_it_is_a_static_svg(client):
    body = client.get(reverse("login")).content.decode()
    assert '<link rel="icon" type="image/svg+xml" href="/static/emisario/favicon.svg">' in body
    found = finders.find("emisario/favicon.svg")
    assert found, "the favicon must be a static file of the console"
    root = ElementTree.parse(Path(found)).getroot()  # noqa: S314 (the project's own file)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
