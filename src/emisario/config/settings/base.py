"""Settings shared by every deployment. Everything secret or per-site comes from the environment.

Environment variables:
- ``EMISARIO_SECRET_KEY``: Django's signing key (required outside DEBUG).
- ``EMISARIO_SECRET_KEYS``: comma-separated Fernet keys for SMTP passwords at rest; the first
  encrypts, all decrypt (rotation). Checked at start-up by system check ``emisario.E001``.
- ``DATABASE_URL``: e.g. ``postgres://postgres@127.0.0.1:5432/emisario``; SQLite by default.
- ``EMISARIO_GENERIC_SMTP_URL``: the system administrator's generic account, used only when no
  company or system account applies, e.g.
  ``smtp+starttls://user:password@smtp.example.com:587?from=noreply@example.com``.
- ``EMISARIO_PROBE_ALLOW``: comma-separated networks or host names that Probar may reach even
  though they are not public (an internal relay, for example).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

PACKAGE_DIR = Path(__file__).resolve().parent.parent.parent
BASE_DIR = Path(os.environ.get("EMISARIO_HOME", Path.cwd())).resolve()


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on", "si", "sí"}


DEBUG = env_bool("EMISARIO_DEBUG")
SECRET_KEY = os.environ.get("EMISARIO_SECRET_KEY", "")
ALLOWED_HOSTS = env_list("EMISARIO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("EMISARIO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "emisario.accounts",
    "emisario.console",
    "emisario.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "emisario.console.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "emisario.config.urls"
WSGI_APPLICATION = "emisario.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "emisario.console.context.console",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'emisario.sqlite3'}"),
        conn_max_age=60,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console:menu"
LOGOUT_REDIRECT_URL = "login"

# Spanish first: the seed's words are the product's words. English only when a user picks it.
LANGUAGE_CODE = "es"
LANGUAGES = [("es", "Español"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = os.environ.get("EMISARIO_TIME_ZONE", "America/Mexico_City")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("EMISARIO_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Emisario -------------------------------------------------------------------------------
EMISARIO_SECRET_KEYS = env_list("EMISARIO_SECRET_KEYS")
EMISARIO_GENERIC_SMTP_URL = os.environ.get("EMISARIO_GENERIC_SMTP_URL", "")
EMISARIO_PROBE_DEADLINE = float(os.environ.get("EMISARIO_PROBE_DEADLINE", "10"))
EMISARIO_PROBE_PORTS = [int(p) for p in env_list("EMISARIO_PROBE_PORTS", "25,465,587,2525")]
EMISARIO_PROBE_ALLOW = env_list("EMISARIO_PROBE_ALLOW")
EMISARIO_PROBE_CA_FILE = os.environ.get("EMISARIO_PROBE_CA_FILE", "")
# What Detectar tries, best first, as port/mode (mode: tls, starttls, none).
EMISARIO_DETECT_COMBINATIONS = env_list(
    "EMISARIO_DETECT_COMBINATIONS", "465/tls,587/starttls,25/starttls,2525/starttls,25/none"
)
# Probar/Detectar runs one user may start per window (seconds); counted in the audit trail.
EMISARIO_PROBE_RATE = (int(os.environ.get("EMISARIO_PROBE_RATE_COUNT", "10")), 60)
# A Maildir the console lists as "Buzón de demostración"; only the demo sets it.
EMISARIO_DEMO_MAILDIR = os.environ.get("EMISARIO_DEMO_MAILDIR", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "emisario.console.logging.RedactSecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"aiosmtplib": {"level": "WARNING"}, "mail.log": {"level": "WARNING"}},
}
