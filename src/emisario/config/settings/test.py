"""Settings for the test suite: SQLite by default, PostgreSQL when ``DATABASE_URL`` says so."""

import os

os.environ.setdefault("EMISARIO_SECRET_KEYS", "CwR2OpvUk5Ruvb9Nvbl9bZ2T0l2p2nLxkq7mD0l1FQY=")

from emisario.config.settings.base import *  # noqa: F403
from emisario.config.settings.base import INSTALLED_APPS

SECRET_KEY = "test-only-not-secret"
DEBUG = False
# The tests exercise the demo's pages too (they install the demo extra).
INSTALLED_APPS = [*INSTALLED_APPS, "emisario.demo"]
if not os.environ.get("DATABASE_URL"):
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMISARIO_PROBE_DEADLINE = 3.0
EMISARIO_PROBE_ALLOW = []
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
