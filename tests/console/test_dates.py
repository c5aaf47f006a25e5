"""Point 14: every date on the console's pages is in the configured time zone
(``EMISARIO_TIME_ZONE``) and the page's language, never raw ISO in UTC."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse

from emisario.accounts.models import AuditRecord
from tests.console.test_permissions import CXC
from tests.factories import make_account

UTC_RUN = "2025-03-05T20:30:00.123456+00:00"  # 14:30 in Mexico City (UTC-6, no DST since 2022)
SUMMARY = {
    "target": "smtp.example.com:587",
    "security": "starttls",
    "steps": [{"step": "connect", "status": "passed", "elapsed_ms": 3.0}],
    "ok": True,
    "tested_at": UTC_RUN,
}
EXPECTED = {
    # language: (accounts table, "Última prueba" summary, history)
    "es": ("05/03/2025 14:30", "5 de marzo de 2025 a las 14:30", "05/03/2025 14:30"),
    "en": ("03/05/2025 2:30 p.m.", "March 5, 2025, 2:30 p.m.", "03/05/2025 2:30 p.m."),
}


def visible(html: str) -> str:
    """The text a reader sees (a <time datetime="..."> attribute is for machines)."""
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture
def zoned(settings):
    settings.TIME_ZONE = "America/Mexico_City"
    return settings


@pytest.mark.parametrize("language", ["es", "en"])
def test_dates_are_local_and_localised(zoned, roles, acme, language):
    account = make_account(acme, sender="cobranza@acme.example")
    account.last_test = SUMMARY
    account.save()
    AuditRecord.objects.create(
        actor=roles["emisopt"],
        action="update",
        account=account,
        company=acme,
        changes={"priority": [0, 1]},
    )
    AuditRecord.objects.filter(account=account).update(
        at=dt.datetime(2025, 3, 5, 20, 30, tzinfo=dt.UTC)
    )
    client = Client()
    client.force_login(roles["emisopt"])
    if language == "en":
        client.post(reverse("set_language"), {"language": "en", "next": CXC})
    table, summary, history = EXPECTED[language]

    screen = client.get(CXC).content.decode()
    row = visible(
        screen.split('<table class="accounts')[1]
        .split("<tbody")[1]
        .split(">", 1)[1]
        .split("</tr>")[0]
    )
    assert table in row and "2025-03-05" not in row and "20:30" not in row

    edit = client.get(f"{CXC}?empresa=ACME&cuenta={account.pk}").content.decode()
    last = visible(edit.split('id="last-test"')[1].split("</summary>")[0])
    assert summary in last and "2025-03-05" not in last and "20:30" not in last

    page = client.get(reverse("console:history_cxc") + "?empresa=ACME").content.decode()
    rows = visible(page.split('id="history"')[1])
    assert history in rows and "2025-03-05" not in rows and "20:30" not in rows
