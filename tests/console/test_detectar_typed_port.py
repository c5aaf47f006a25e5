"""Detectar tries the port the user typed first and proposes it when it works (issue 7,
points 1-2): the console passes the typed Puerto to the detection."""

import pytest
from django.test import Client

from emisario.accounts.models import AuditRecord
from emisario.demo.mailbox import STARTTLS, TLS
from tests.console.test_detectar import box_of, detectar


@pytest.fixture
def client(roles, console_probe_settings, console_mailbox):
    # The usual pairs point at the implicit-TLS listener only; the STARTTLS listener is
    # reachable (allowed) but only as the typed port.
    console_probe_settings.EMISARIO_DETECT_COMBINATIONS = [f"{console_mailbox.port(TLS)}/tls"]
    client = Client()
    client.force_login(roles["emisopt"])
    return client


def test_the_typed_port_is_proposed_when_it_works(client, console_mailbox):
    typed = console_mailbox.port(STARTTLS)
    body = detectar(client, port=str(typed))
    assert f'data-port="{typed}"' in box_of(body)
    assert f'name="port" value="{typed}"' in body
    record = AuditRecord.objects.get(action="detect")
    assert record.verdict == f"{typed}/starttls"
