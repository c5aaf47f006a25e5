"""Every advice code, produced by a real server (or a real OS condition), through the console:
Probar shows the failed step and the Spanish explanation and fix."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.utils.html import escape

from emisario.console.advice_catalogue import CATALOGUE
from tests.console.test_permissions import CXC, form
from tests.requirements import skip_or_fail
from tests.support.scenarios import SCENARIOS

CONSOLE_SCENARIOS = [s for s in SCENARIOS if not s.isolated]  # the rest need `unshare -n`


def literal_parts(template: str) -> list[str]:
    """The fixed text between placeholders, each long enough to be meaningful."""
    return [part for part in re.split(r"\{[a-z_]+\}", template) if len(part.strip()) > 3]


@pytest.mark.parametrize("scenario", CONSOLE_SCENARIOS, ids=[s.name for s in CONSOLE_SCENARIOS])
def test_console_explains(scenario, ca, roles, settings, tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client = Client()
    client.force_login(roles["emisopt"])
    with scenario.open(ca) as case:
        settings.EMISARIO_PROBE_CA_FILE = str(ca_file)
        settings.EMISARIO_PROBE_PORTS = sorted(case.policy.allowed_ports)
        settings.EMISARIO_PROBE_ALLOW = [str(n) for n in case.policy.allowed_networks]
        settings.EMISARIO_PROBE_DEADLINE = case.deadline
        values = case.endpoint
        response = client.post(
            CXC,
            form(
                action="probar",
                host=values["host"],
                port=str(values["port"]),
                security=values["security"],
                ssl="on" if values["security"] != "none" else "",
                sender=values["sender"],
                login=values["login"],
                password=values["password"],
            ),
        )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Correo enviado satisfactoriamente" not in body
    assert f'class="step failed first-failure" data-step="{case.step.value}"' in body
    verdict = body.split('id="verdict"')[1].split('<ol class="steps">')[0]
    title, fix = CATALOGUE[case.advice]["es"]
    for part in literal_parts(title) + literal_parts(fix):
        assert escape(part.strip()) in verdict, part
    assert not re.search(r"\{[a-z_]+\}", verdict), "a placeholder was left unfilled"
    if values["password"]:
        assert values["password"] not in body


ISOLATED = [s for s in SCENARIOS if s.isolated]


def test_isolated_scenarios_in_an_empty_network_namespace():
    """DNS failure and "network unreachable" need a host with no network: an empty namespace."""
    if shutil.which("unshare") is None:
        skip_or_fail("unshare(1) is not installed")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        skip_or_fail("unshare -n is not permitted here (needs root or user namespaces)")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            "unshare",
            "-n",
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            str(Path(__file__).with_name("netns_advice.py")),
        ],
        capture_output=True,
        timeout=120,
        cwd=root,
        # No network inside: the database is SQLite in memory even on the PostgreSQL run.
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
    )
    output = done.stdout.decode()
    assert done.returncode == 0, output + done.stderr.decode()
    assert f"{len(ISOLATED)} passed" in output
