"""The two companies every database test speaks of: ACME (the user's) and OTRA (another)."""

import pytest

from tests.factories import make_company


@pytest.fixture
def acme(db):
    return make_company("ACME", "Acme S.A.")


@pytest.fixture
def otra(db):
    return make_company("OTRA", "Otra S.A.")
