"""A port/security mismatch is answered with the change the test saw work, on the user's own
port, in the form's own terms, with one "Aplicar" button (issue 7, points 1 and 2).

The end-to-end tests run Probar through the console against the real mailbox (aiosmtpd on
loopback): its implicit TLS listener is on a random port, never 465, like Amazon SES's 2465.
"""

import re

import pytest
from django.test import Client
from django.utils import translation
from django.utils.html import escape
from hypothesis import given
from hypothesis import strategies as st

from emisario.console.forms import AUTO, values_with_connection
from emisario.console.probe import change_text, verdict_of
from emisario.core.smtp.endpoint import SecurityMode
from emisario.core.smtp.steps import Diagnosis, Proposal, Step, StepResult, StepStatus
from emisario.demo.mailbox import STARTTLS, TLS
from tests.console.test_permissions import CXC, form
from tests.support.fixtures import CONSOLE_PASSWORD as PASSWORD
from tests.support.fixtures import CONSOLE_USER as USER

APPLY_BUTTON = '<button type="submit" form="account-form" name="action" value="aplicar"'


@pytest.fixture
def client(roles, console_probe_settings):
    client = Client()
    client.force_login(roles["emisopt"])
    return client


def probar(client, **extra) -> str:
    data = form(action="probar", host="127.0.0.1", sender=USER, password=PASSWORD)
    data.update(extra)
    response = client.post(CXC, data)
    assert response.status_code == 200
    return response.content.decode()


def verdict_box(body: str) -> str:
    return body.split('id="verdict"')[1].split('<ol class="steps">')[0]


def test_ssl_ticked_on_an_implicit_tls_port_that_is_not_465(client, console_mailbox):
    """SSL ticked means STARTTLS on any port but 465; the server speaks TLS from the first
    byte. The advice names Seguridad SSL/TLS on the user's port, never "use 465"."""
    port = console_mailbox.port(TLS)
    assert port != 465
    verdict = verdict_box(probar(client, port=str(port), ssl="on", security=""))
    assert f"El puerto {port} exige SSL/TLS desde el primer byte, no STARTTLS." in verdict
    assert (
        "Elija Seguridad «SSL/TLS (implícito)» en «Opciones avanzadas», deje «SSL» marcado y "
        f"mantenga el puerto {port}."
    ) in verdict
    assert not re.search(r"\b465\b", verdict)
    assert "Marque «SSL»" not in verdict  # it is ticked already
    assert f"Esta prueba comprobó que el puerto {port} responde con SSL/TLS." in verdict
    assert APPLY_BUTTON in verdict and ">Aplicar</button>" in verdict
    assert (
        f'<input type="hidden" form="account-form" name="propuesta" value="{port}:tls">' in verdict
    )


def test_implicit_tls_against_a_starttls_port_goes_back_to_automatic(client, console_mailbox):
    """Point 2: the proposal keeps the typed port (not 587) and says to put Seguridad back to
    automatic, which with SSL ticked means STARTTLS on that port."""
    port = console_mailbox.port(STARTTLS)
    verdict = verdict_box(probar(client, port=str(port), ssl="on", security="tls"))
    assert (
        f"El puerto {port} no usa SSL/TLS desde el primer byte (usa STARTTLS o ninguno)." in verdict
    )
    assert (
        "Ponga Seguridad en «Automática (según SSL y puerto)», deje «SSL» marcado y "
        f"mantenga el puerto {port}."
    ) in verdict
    assert not re.search(r"\b587\b", verdict)
    assert f'name="propuesta" value="{port}:starttls">' in verdict


def test_the_proposal_in_english(client, console_mailbox, settings):
    port = console_mailbox.port(TLS)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    verdict = verdict_box(probar(client, port=str(port), ssl="on", security=""))
    assert (
        escape(
            'Choose Security "SSL/TLS (implicit)" in "Advanced options", leave "SSL" ticked and '
            f"keep port {port}."
        )
        in verdict
    )
    assert ">Apply</button>" in verdict


def failed_at_greeting(port: int, proposal: Proposal | None) -> Diagnosis:
    """The diagnosis of a plain session on an implicit TLS port (as diagnose records it)."""
    steps = [StepResult(step, StepStatus.PASSED) for step in (Step.POLICY, Step.DNS, Step.CONNECT)]
    steps.append(
        StepResult(
            Step.GREETING,
            StepStatus.FAILED,
            reply_text="the server did not answer in time",
            advice="plain_on_tls_port",
            fault="tls_port_detected",
            details={"tls_probe": {"protocol": "TLSv1.3"}},
        )
    )
    return Diagnosis(
        target=f"smtp.example.com:{port}", security="starttls", steps=steps, proposal=proposal
    )


@pytest.mark.parametrize(
    ("data", "proposal", "expected"),
    [
        (
            {"port": 2465, "ssl": False},
            Proposal(2465, "tls"),
            "Elija Seguridad «SSL/TLS (implícito)» en «Opciones avanzadas», marque «SSL» y "
            "mantenga el puerto 2465.",
        ),
        (
            {"port": 465, "ssl": True},
            Proposal(465, "starttls"),
            "Elija Seguridad «STARTTLS» en «Opciones avanzadas», deje «SSL» marcado y mantenga "
            "el puerto 465.",
        ),
        (
            {"port": 465, "ssl": False},
            Proposal(465, "tls"),
            "Ponga Seguridad en «Automática (según SSL y puerto)», marque «SSL» y mantenga el "
            "puerto 465.",
        ),
        (
            {"port": 25, "ssl": True},
            Proposal(25, "none"),
            "Ponga Seguridad en «Automática (según SSL y puerto)», desmarque «SSL» y mantenga "
            "el puerto 25.",
        ),
    ],
    ids=["2465-unticked", "starttls-on-465", "465-unticked", "plain-25"],
)
def test_the_change_is_said_the_way_the_form_expresses_it(data, proposal, expected):
    with translation.override("es"):
        verdict = verdict_of(failed_at_greeting(proposal.port, proposal), data)
    assert verdict.fix == expected
    assert verdict.proposal == (proposal.port, proposal.security)


def test_without_a_proposal_no_port_is_invented():
    """Nothing was seen working: say what was seen, send to Detectar, offer no button."""
    with translation.override("es"):
        verdict = verdict_of(failed_at_greeting(2465, None), {"port": 2465, "ssl": True})
    assert verdict.proposal is None and verdict.proposal_text == ""
    assert re.findall(r"\d{2,5}", verdict.title + verdict.fix) == ["2465"]
    assert "Detectar" in verdict.fix


@given(
    port=st.sampled_from([25, 465, 587, 2465, 2525, 3588]),
    security=st.sampled_from(list(SecurityMode)),
    current_ssl=st.booleans(),
)
def test_the_sentence_matches_what_applying_the_proposal_fills_in(port, security, current_ssl):
    """The words and the "Aplicar" button agree: Automatic exactly when the form fills the
    selector with Automatic, and the SSL box in the state the form gives it."""
    filled = values_with_connection({"ssl": current_ssl}, port=port, security=security)
    with translation.override("es"):
        text = change_text(
            port=port, security=security.value, data={"port": port, "ssl": current_ssl}
        )
    assert ("Automática" in text) is (filled["security"] == AUTO)
    ticked = "deje «SSL» marcado" in text or bool(re.search(r"(?<!des)marque «SSL»", text))
    assert ticked is filled["ssl"]
    assert f"mantenga el puerto {port}." in text
