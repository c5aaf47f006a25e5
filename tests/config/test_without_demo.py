"""A deployment does not need the demo: with aiosmtpd and trustme missing, the production
settings load, every URL and module imports, the checks pass and the console's pages render."""

import sys

from tests.config.serving import production_env, run


def test_production_runs_without_the_demo_dependencies(tmp_path):
    env = production_env(
        tmp_path,
        f"sqlite:///{tmp_path / 'emisario.sqlite3'}",
        EMISARIO_ALLOWED_HOSTS="testserver",
    )
    result = run([sys.executable, "-m", "tests.config.without_demo"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "OK"
