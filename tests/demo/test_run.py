"""``bin/demo`` (``python -m emisario.demo.run``) stops on a bad setting before it serves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_bad_setting_stops_the_demo_with_the_variable_and_the_fix(tmp_path):
    env = {
        **os.environ,
        "EMISARIO_HOME": str(tmp_path),
        "EMISARIO_PROBE_DEADLINE": "10s",
        "PYTHONPATH": str(ROOT / "src"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "emisario.demo.run", "--port", "1", "--smtp-port", "2",
         "--smtps-port", "3"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "emisario.E010" in done.stderr and "EMISARIO_PROBE_DEADLINE" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Starting development server" not in done.stdout
    assert not (tmp_path / "var" / "emisario.sqlite3").exists()  # nothing migrated
