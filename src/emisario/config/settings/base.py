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
- ``EMISARIO_PLAINTEXT_AUTH_ALLOW``: comma-separated networks or host names to which a password
  may be sent over an unencrypted connection (an internal relay); empty by default.
- ``EMISARIO_OUTBOX_EXPIRY_HOURS`` (120), ``EMISARIO_ATTACHMENT_MAX_BYTES``,
  ``EMISARIO_ATTACHMENT_MAX_COUNT``, ``EMISARIO_ATTACHMENT_ROOT``,
  ``EMISARIO_OUTBOX_MAX_RECIPIENTS``, ``EMISARIO_OUTBOX_MAX_BODY_BYTES``,
  ``EMISARIO_MESSAGE_ID_DOMAIN``: the outbox (``emisario.outbox.conf``).
- ``EMISARIO_OAUTH_MICROSOFT_CLIENT_ID``, ``..._CLIENT_SECRET``, ``..._TENANT``,
  ``..._AUTHORITY`` and ``EMISARIO_OAUTH_GOOGLE_CLIENT_ID``, ``..._CLIENT_SECRET``,
  ``..._AUTHORITY``: OAuth 2.0 sign-in (``emisario.accounts.oauth``).
- ``EMISARIO_LOGIN_*`` and ``EMISARIO_PROXY_COUNT``: sign-in throttling (django-axes), see
  ``emisario.config.login_throttle``.

Every variable is read through ``emisario.config.env``: a malformed value never raises here, it
falls back to the default and becomes system check ``emisario.E010``, naming the variable and
the fix, so the server refuses to start with a sentence instead of a traceback.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from emisario.config.database import UNUSABLE, database_from_url, shown_url
from emisario.config.env import Environment, host_pattern, web_origin

# One reader for the whole process: modules that extend this one (demo, production) read
# through it too, so their problems land in the same list (EMISARIO_SETTINGS_PROBLEMS below).
env = Environment()

PACKAGE_DIR = Path(__file__).resolve().parent.parent.parent
BASE_DIR = Path(env.text("EMISARIO_HOME") or Path.cwd()).resolve()

DEBUG = env.boolean("EMISARIO_DEBUG")
SECRET_KEY = env.text("EMISARIO_SECRET_KEY")
ALLOWED_HOSTS = env.strings(
    "EMISARIO_ALLOWED_HOSTS",
    "127.0.0.1,localhost",
    item=host_pattern,
    example="erp.example.com,.example.com",
)
CSRF_TRUSTED_ORIGINS = env.strings(
    "EMISARIO_CSRF_TRUSTED_ORIGINS", item=web_origin, example="https://erp.example.com"
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "emisario.accounts",
    "emisario.console",
    "emisario.outbox",
]
# The demo app (its local mailbox page) is added by the demo and test settings only: a
# deployment never loads aiosmtpd or trustme.

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "emisario.console.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it turns a lockout flagged during authentication into the response.
    "axes.middleware.AxesMiddleware",
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

# SQLite gets WAL, a busy timeout and immediate transactions (see emisario.config.database).
_DATABASE_URL = env.text("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'emisario.sqlite3'}")
try:
    DATABASES = {"default": database_from_url(_DATABASE_URL)}
except ValueError:  # dj-database-url: an unknown scheme or a URL it cannot split
    DATABASES = {"default": dict(UNUSABLE)}
    env.record(
        "DATABASE_URL",
        shown_url(_DATABASE_URL),
        "a database URL",
        "write it as postgres://user:password@host:5432/name (percent-encode special "
        "characters in the password) or sqlite:////absolute/path.sqlite3",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console:menu"
LOGOUT_REDIRECT_URL = "login"
# axes first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Spanish first: the seed's words are the product's words. English only when a user picks it.
LANGUAGE_CODE = "es"
LANGUAGES = [("es", "Español"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env.time_zone("EMISARIO_TIME_ZONE", "America/Mexico_City")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.boolean("EMISARIO_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Emisario -------------------------------------------------------------------------------
# What each value means (a Fernet key, an SMTP URL, a network) is judged by the system checks
# in emisario.accounts.checks, on the final setting: values set in code are checked too.
EMISARIO_SECRET_KEYS = env.strings("EMISARIO_SECRET_KEYS")
EMISARIO_GENERIC_SMTP_URL = env.text("EMISARIO_GENERIC_SMTP_URL")
EMISARIO_PROBE_DEADLINE = env.number(
    "EMISARIO_PROBE_DEADLINE", 10.0, above=0, maximum=120, unit="seconds"
)
EMISARIO_PROBE_PORTS = env.ports("EMISARIO_PROBE_PORTS", [25, 465, 587, 2525])
EMISARIO_PROBE_ALLOW = env.strings("EMISARIO_PROBE_ALLOW")
# Where a password may go over an unencrypted connection (an internal relay); nowhere by default.
EMISARIO_PLAINTEXT_AUTH_ALLOW = env.strings("EMISARIO_PLAINTEXT_AUTH_ALLOW")
EMISARIO_PROBE_CA_FILE = env.text("EMISARIO_PROBE_CA_FILE")
# What Detectar tries, best first, as port/mode (mode: tls, starttls, none).
EMISARIO_DETECT_COMBINATIONS = env.strings(
    "EMISARIO_DETECT_COMBINATIONS", "465/tls,587/starttls,25/starttls,2525/starttls,25/none"
)
# Probar/Detectar runs one user may start per window (seconds); counted in the audit trail.
EMISARIO_PROBE_RATE = (
    env.integer("EMISARIO_PROBE_RATE_COUNT", 10, minimum=1, maximum=10_000, unit="runs"),
    60,
)
# A Maildir the console lists as "Buzón de demostración"; only the demo sets it.
EMISARIO_DEMO_MAILDIR = env.text("EMISARIO_DEMO_MAILDIR")

# --- OAuth 2.0 sign-in for Microsoft 365 and Google (emisario.accounts.oauth) ----------------
# The application registered at each provider; a holder of PCSMTPG can set it in the console
# instead, and the console's wins. The authorities point at the provider (the defaults) or,
# in the demo and the tests, at a local server of the same shape.
EMISARIO_OAUTH_MICROSOFT_CLIENT_ID = env.text("EMISARIO_OAUTH_MICROSOFT_CLIENT_ID")
EMISARIO_OAUTH_MICROSOFT_CLIENT_SECRET = env.text("EMISARIO_OAUTH_MICROSOFT_CLIENT_SECRET")
EMISARIO_OAUTH_MICROSOFT_TENANT = env.text("EMISARIO_OAUTH_MICROSOFT_TENANT")
EMISARIO_OAUTH_MICROSOFT_AUTHORITY = env.text(
    "EMISARIO_OAUTH_MICROSOFT_AUTHORITY", "https://login.microsoftonline.com"
)
EMISARIO_OAUTH_GOOGLE_CLIENT_ID = env.text("EMISARIO_OAUTH_GOOGLE_CLIENT_ID")
EMISARIO_OAUTH_GOOGLE_CLIENT_SECRET = env.text("EMISARIO_OAUTH_GOOGLE_CLIENT_SECRET")
EMISARIO_OAUTH_GOOGLE_AUTHORITY = env.text("EMISARIO_OAUTH_GOOGLE_AUTHORITY")

# --- The outbox and CRONUS (emisario.outbox.conf says what each means) ----------------------
EMISARIO_OUTBOX_EXPIRY = timedelta(
    hours=env.number("EMISARIO_OUTBOX_EXPIRY_HOURS", 120.0, above=0, maximum=24 * 30, unit="hours")
)
EMISARIO_ATTACHMENT_MAX_BYTES = env.integer(
    "EMISARIO_ATTACHMENT_MAX_BYTES", 25 * 1024 * 1024, minimum=1, unit="bytes"
)
EMISARIO_ATTACHMENT_MAX_COUNT = env.integer(
    "EMISARIO_ATTACHMENT_MAX_COUNT", 20, minimum=0, maximum=1000, unit="attachments"
)
EMISARIO_ATTACHMENT_ROOT = env.text("EMISARIO_ATTACHMENT_ROOT")
EMISARIO_OUTBOX_MAX_RECIPIENTS = env.integer(
    "EMISARIO_OUTBOX_MAX_RECIPIENTS", 1000, minimum=1, maximum=100_000, unit="recipients"
)
EMISARIO_OUTBOX_MAX_BODY_BYTES = env.integer(
    "EMISARIO_OUTBOX_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1, unit="bytes"
)
EMISARIO_MESSAGE_ID_DOMAIN = env.text("EMISARIO_MESSAGE_ID_DOMAIN")
# The length of a "per minute" sending limit's window; only tests shorten it.
EMISARIO_OUTBOX_MINUTE_SECONDS = env.number(
    "EMISARIO_OUTBOX_MINUTE_SECONDS", 60.0, above=0, maximum=3600, unit="seconds"
)

# --- Sign-in throttling (django-axes; the rules are in emisario.config.login_throttle) --------
EMISARIO_LOGIN_FAILURE_LIMIT = env.integer(
    "EMISARIO_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=1000, unit="failed sign-ins"
)
EMISARIO_LOGIN_ADDRESS_FAILURE_LIMIT = env.integer(
    "EMISARIO_LOGIN_ADDRESS_FAILURE_LIMIT", 50, minimum=0, maximum=100_000, unit="failed sign-ins"
)
EMISARIO_LOGIN_COOLOFF_MINUTES = env.integer(
    "EMISARIO_LOGIN_COOLOFF_MINUTES", 15, minimum=0, maximum=10_080, unit="minutes"
)
# Reverse proxies in front of Emisario that append to X-Forwarded-For; 0 trusts only the
# connection's own address (a client can write any X-Forwarded-For it likes).
EMISARIO_PROXY_COUNT = env.integer("EMISARIO_PROXY_COUNT", 0, minimum=0, maximum=10, unit="proxies")
AXES_FAILURE_LIMIT = EMISARIO_LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# 0 minutes: locked until an administrator lifts it.
AXES_COOLOFF_TIME = (
    timedelta(minutes=EMISARIO_LOGIN_COOLOFF_MINUTES) if EMISARIO_LOGIN_COOLOFF_MINUTES else None
)
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "emisario.config.login_throttle.LoginThrottleHandler"
AXES_CLIENT_IP_CALLABLE = "emisario.config.login_throttle.client_address"
AXES_LOCKOUT_CALLABLE = "emisario.config.login_throttle.lockout_response"
# Every failure is kept (admin: Access failures), besides the per-client counters and the log
# of successful sign-ins; passwords are never stored (axes masks the password field).
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False

# Malformed environment variables, reported by system check emisario.E010.
EMISARIO_SETTINGS_PROBLEMS = env.problems

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "emisario.console.logging.RedactSecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"aiosmtplib": {"level": "WARNING"}, "mail.log": {"level": "WARNING"}},
}
DEFAULT_EXCEPTION_REPORTER_FILTER = "emisario.console.error_reports.PasswordSafeReporterFilter"
