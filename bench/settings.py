"""Django settings for benchmarks that run Emisario in their own process.

The project's base settings, pointed at the run's own database
(``EMISARIO_BENCH_DATABASE_URL``, a SQLite file or a fresh PostgreSQL database) and the run's
own attachment directory; the benchmarks migrate it themselves (``_cronus_support.migrate``).
A worker started by the benchmark uses ``emisario.config.settings.base`` with the same
``DATABASE_URL`` and ``EMISARIO_HOME``, so both sides see the same rows and files.
"""

import os

from emisario.config.database import database_from_url
from emisario.config.settings.base import *  # noqa: F403
from emisario.config.settings.base import BASE_DIR, LOGGING

if not os.environ.get("EMISARIO_BENCH_DATABASE_URL"):
    raise RuntimeError(
        "bench.settings needs EMISARIO_BENCH_DATABASE_URL: run a bench/ script, which sets it"
    )

SECRET_KEY = os.environ.get("EMISARIO_SECRET_KEY") or "bench-only-not-secret"
DEBUG = False
DATABASES = {"default": database_from_url(os.environ["EMISARIO_BENCH_DATABASE_URL"])}
# Read by emisario.outbox.conf; the worker finds the same directory through EMISARIO_HOME.
EMISARIO_ATTACHMENT_ROOT = str(BASE_DIR / "var" / "attachments")
# A benchmark prints its own figures: the project's INFO logging would interleave with them.
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}
