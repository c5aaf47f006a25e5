"""Run only inside an empty network namespace (``unshare -n``), by
``test_advice_catalogue.test_isolated_scenarios_in_an_empty_network_namespace``: its name keeps
pytest from collecting it on a normal run."""

import pytest

from tests.console import test_advice_catalogue as catalogue
from tests.console.test_advice_catalogue import ISOLATED


@pytest.mark.parametrize("scenario", ISOLATED, ids=[s.name for s in ISOLATED])
def test_console_explains_without_a_network(scenario, ca, roles, settings, tmp_path):
    catalogue.test_console_explains(scenario, ca, roles, settings, tmp_path)
