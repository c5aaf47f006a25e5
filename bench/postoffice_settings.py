"""A tiny Django project for django-post-office, the comparison in ``bench/month_end.py``.

Its queue lives in its own SQLite file and its attachments in its own media directory
(``EMISARIO_BENCH_POSTOFFICE_DIR``); it sends with Django's SMTP backend to the same sink as
every other side (``EMISARIO_BENCH_SINK_PORT`` on 127.0.0.1, no TLS, no AUTH). Post-office's
own settings stay at their defaults (batches of 100, 5 threads per process, a log row per
mail), which is how most projects run it.
"""

import os
from pathlib import Path

_DIR = Path(os.environ.get("EMISARIO_BENCH_POSTOFFICE_DIR") or "var/postoffice-bench")

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["post_office"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(_DIR / "postoffice.sqlite3"),
        # The same durability and locking choices as Emisario's SQLite (WAL, immediate).
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# post_office renders subject and bodies through Django's template engine even without a
# template, so one must be configured.
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
MEDIA_ROOT = str(_DIR / "media")

EMAIL_BACKEND = "post_office.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("EMISARIO_BENCH_SINK_PORT") or 25)
EMAIL_USE_TLS = False
EMAIL_USE_SSL = False
POST_OFFICE = {
    "BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"},
    "DEFAULT_PRIORITY": "medium",
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"post_office": {"handlers": ["console"], "level": "WARNING"}},
}
