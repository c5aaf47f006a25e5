"""The console's roles and accounts, for the service-level tests of the same rules."""

from tests.console.conftest import (  # noqa: F401  (fixtures)
    company_account,
    foreign_account,
    roles,
    system_account,
)
