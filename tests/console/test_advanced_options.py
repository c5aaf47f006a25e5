"""Point 17: "Opciones avanzadas" opens only when one of its fields has an error or holds a
value the user must see, not on any error of the form."""

import re

import pytest

from tests.console.test_permissions import CXC, form
from tests.factories import make_account

pytestmark = pytest.mark.usefixtures("loopback_allowed")


def is_open(body: str) -> bool:
    tag = re.search(r'<details class="advanced"[^>]*>', body).group(0)
    return " open" in tag


@pytest.mark.parametrize(
    ("change", "opened"),
    [
        ({"host": ""}, False),
        ({"sender": "cobranza"}, False),
        ({"port": "0"}, False),
        ({"priority": "alta"}, True),
        ({"display_name": "Cobranza\r\nBcc: x@y.com"}, True),
        ({"login": "apikey\r\nAUTH"}, True),
        ({"ssl": "", "security": "tls"}, True),
    ],
    ids=["host", "sender", "port", "priority", "display-name", "login", "security-conflict"],
)
def test_opens_only_for_its_own_errors(emisopt_client, change, opened):
    response = emisopt_client.post(CXC, form(**change))
    assert response.status_code == 200  # a form error each time
    assert is_open(response.content.decode()) is opened


@pytest.mark.parametrize(
    ("fields", "opened"),
    [
        ({}, False),
        ({"login": "apikey"}, True),
        ({"enabled": False}, True),
        ({"port": 2465, "security": "tls"}, True),  # not what SSL + port say: shown by hand
        ({"port": 465, "security": "tls"}, False),  # SSL on 465 says it already
        ({"display_name": "Cobranza", "priority": 9}, False),
    ],
    ids=["plain", "login", "disabled", "tls-on-2465", "tls-on-465", "ordinary-values"],
)
def test_a_saved_account_opens_it_only_for_values_to_see(emisopt_client, acme, fields, opened):
    account = make_account(acme, **fields)
    body = emisopt_client.get(f"{CXC}?empresa=ACME&cuenta={account.pk}").content.decode()
    assert is_open(body) is opened


def test_new_account_page_is_closed(emisopt_client):
    assert not is_open(emisopt_client.get(CXC).content.decode())
