"""The demo's "Buzón de demostración" page, now served by the demo app at ``/demo/buzon/``."""

import smtplib
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from emisario.demo.mailbox import STARTTLS, LoopbackSmtpd, Received, read_maildir
from tests.factories import make_company, make_user

MAIL = (
    b"From: cobranza@acme.demo\r\nTo: cobranza@acme.demo\r\n"
    b"Subject: Prueba de configuracion SMTP\r\n\r\nHola desde Probar.\r\n"
)


@pytest.fixture
def maildir(settings, tmp_path):
    settings.EMISARIO_DEMO_MAILDIR = str(tmp_path / "maildir")
    return tmp_path / "maildir"


@pytest.fixture
def client(db):
    user = make_user("cobros", perms=("EMISOPT",), companies=[make_company()])
    client = Client()
    client.force_login(user)
    return client


def deliver(maildir):
    """Send one mail to a real demo mailbox (STARTTLS, AUTH) that writes to ``maildir``."""
    users = {"cobranza@acme.demo": "buzon-demo"}
    with (
        LoopbackSmtpd(users, listeners=(STARTTLS,), maildir=maildir) as server,
        smtplib.SMTP("127.0.0.1", server.port(STARTTLS), timeout=10) as smtp,
    ):
        smtp.starttls(context=server.client_context())
        smtp.login("cobranza@acme.demo", "buzon-demo")
        smtp.sendmail("cobranza@acme.demo", ["cobranza@acme.demo"], MAIL)


def test_the_page_lives_at_the_documented_address():
    assert reverse("demo:mailbox") == "/demo/buzon/"


def test_lists_the_mail_the_mailbox_received(client, maildir):
    deliver(maildir)
    assert len(read_maildir(maildir)) == 1
    body = client.get("/demo/buzon/").content.decode()
    assert "Buzón de demostración" in body
    assert "Prueba de configuracion SMTP" in body and "Hola desde Probar." in body


def test_the_menu_links_to_it_when_the_demo_has_a_mailbox(client, maildir):
    assert 'href="/demo/buzon/"' in client.get("/").content.decode()


def test_no_mailbox_no_link_and_no_page(client, settings):
    settings.EMISARIO_DEMO_MAILDIR = ""
    assert "/demo/buzon/" not in client.get("/").content.decode()
    assert client.get("/demo/buzon/").status_code == 404


def test_needs_emisopt(db, maildir):
    client = Client()
    client.force_login(make_user("sinpermiso", companies=[make_company()]))
    assert client.get("/demo/buzon/").status_code == 403


@pytest.mark.parametrize(
    ("zone", "local"),
    [
        ("Asia/Tokyo", '2025-01-15T12:30:00+09:00">15/01/2025 12:30<'),
        ("America/Mexico_City", '2025-01-14T21:30:00-06:00">14/01/2025 21:30<'),
    ],
    ids=["tokyo", "mexico-city"],
)
def test_dates_are_in_the_configured_time_zone(client, maildir, settings, zone, local):
    """EMISARIO_TIME_ZONE (``TIME_ZONE``), not UTC, in the same short form as the console's
    pages: 03:30 UTC is 12:30 in Tokyo and 21:30 the evening before in Mexico City."""
    settings.TIME_ZONE = zone
    arrived = datetime(2025, 1, 15, 3, 30, tzinfo=UTC)
    LoopbackSmtpd(maildir=maildir).store(
        Received("cobranza@acme.demo", ("cobranza@acme.demo",), MAIL, arrived, None, "starttls")
    )
    body = client.get("/demo/buzon/").content.decode()
    assert local in body, body
    assert "03:30" not in body and "+00:00" not in body
