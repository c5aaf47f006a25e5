import pytest
from django.test import Client

from tests.factories import make_account, make_user


@pytest.fixture
def roles(acme, otra):
    """One user per role the issue names."""
    return {
        "noperm": make_user("sinpermiso", companies=[acme]),
        "emisopt": make_user("cobros", perms=("EMISOPT",), companies=[acme]),
        "full": make_user("sistemas", perms=("EMISOPT", "PCSMTPG"), companies=[acme]),
        "other": make_user("ajeno", perms=("EMISOPT", "PCSMTPG"), companies=[otra]),
    }


@pytest.fixture
def emisopt_client(roles):
    """A browser signed in as the EMISOPT user of ACME ("cobros"): the screen's usual user."""
    client = Client()
    client.force_login(roles["emisopt"])
    return client


@pytest.fixture
def loopback_allowed(settings):
    """Probar and Detectar may reach 127.0.0.1 (form()'s server; see test_network_policy)."""
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    return settings


@pytest.fixture
def company_account(acme):
    return make_account(acme, sender="cobranza@acme.example", priority=5)


@pytest.fixture
def system_account(db):
    return make_account(None, sender="sistema@erp.example", host="smtp.erp.example", priority=1)


@pytest.fixture
def foreign_account(otra):
    """An account of another company (OTRA)."""
    return make_account(otra, sender="cobranza@otra.example", priority=9, password="de-otra")
