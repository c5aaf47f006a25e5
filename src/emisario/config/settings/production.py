"""Settings for a deployment: ``bin/serve`` runs gunicorn with these.

On top of ``base``: DEBUG off, a signing key that must be given, HTTPS only (HSTS, secure
cookies, redirect to HTTPS), a Content-Security-Policy that allows only this site's own files,
static files served by WhiteNoise from ``collectstatic``'s hashed copies, ``no-store`` on every
page, and no demo app (a production install has neither aiosmtpd nor trustme).

Environment variables, besides those ``base`` reads:

- ``EMISARIO_SECRET_KEY`` (required): Django's signing key, 50 or more random characters.
- ``EMISARIO_ALLOWED_HOSTS``: the host names the site answers to (``127.0.0.1,localhost``).
- ``EMISARIO_PROXY_SSL_HEADER``: the header a TLS-terminating proxy in front sets to ``https``,
  e.g. ``X-Forwarded-Proto``. Only set it when such a proxy always sets (or strips) that
  header: whoever reaches gunicorn directly could otherwise claim HTTPS.
- ``EMISARIO_SSL_REDIRECT``: ``0`` when the proxy itself redirects HTTP to HTTPS (default on).
- ``EMISARIO_HSTS_SECONDS``: HSTS max-age (one year); ``EMISARIO_HSTS_PRELOAD`` (on).
- ``EMISARIO_STATIC_ROOT``: where ``collectstatic`` writes (``var/static`` of EMISARIO_HOME).
"""

import re
from urllib.parse import urlsplit

from csp.constants import NONE, SELF

from emisario.config.settings.base import *  # noqa: F403
from emisario.config.settings.base import (
    EMISARIO_OAUTH_GOOGLE_AUTHORITY,
    EMISARIO_OAUTH_MICROSOFT_AUTHORITY,
    INSTALLED_APPS,
    MIDDLEWARE,
    STATIC_ROOT,
    env,
)

# A malformed value below is recorded by ``env`` like every other one (system check
# emisario.E010, which bin/serve's ``check --deploy`` turns into a refusal to start).
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")

DEBUG = False

SECRET_KEY = env.text("EMISARIO_SECRET_KEY")
if not SECRET_KEY:
    # Left empty, never a placeholder: Django then refuses every use of the key, and the
    # check below stops bin/serve before it starts.
    env.record(
        "EMISARIO_SECRET_KEY",
        "",
        "Django's signing key (required in production)",
        'set it to a long random text: python3 -c "import secrets; '
        'print(secrets.token_urlsafe(50))"',
    )

# The demo (its local mailbox, its pages) is not part of a deployment: base leaves it out.
INSTALLED_APPS = [*INSTALLED_APPS, "csp"]


def _after(chain: list[str], anchor: str, *inserted: str) -> list[str]:
    """``chain`` with ``inserted`` right after ``anchor`` (the start when it is missing)."""
    chain = list(chain)
    at = chain.index(anchor) + 1 if anchor in chain else 0
    chain[at:at] = inserted
    return chain


# WhiteNoise right after SecurityMiddleware: static files get HSTS and nosniff but skip the
# rest of the chain (sessions, CSRF, no-store). CSP and no-store wrap every rendered page.
MIDDLEWARE = _after(
    MIDDLEWARE,
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "emisario.config.middleware.NoStoreMiddleware",
)

# --- HTTPS -------------------------------------------------------------------------------------
_proxy_header = env.text("EMISARIO_PROXY_SSL_HEADER")
if _proxy_header and not _HEADER_NAME.fullmatch(_proxy_header):
    env.record(
        "EMISARIO_PROXY_SSL_HEADER",
        _proxy_header,
        "the name of the header the proxy sets",
        "use the header name only, e.g. X-Forwarded-Proto",
    )
    _proxy_header = ""
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
SECURE_SSL_REDIRECT = env.boolean("EMISARIO_SSL_REDIRECT", True)
if not SECURE_SSL_REDIRECT:
    # The administrator said the proxy in front redirects HTTP to HTTPS; the check that asks
    # Django to do it would only stop bin/serve.
    SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "security.W008"]
SECURE_HSTS_SECONDS = env.integer(
    "EMISARIO_HSTS_SECONDS",
    365 * 24 * 3600,
    minimum=0,
    maximum=10 * 365 * 24 * 3600,
    unit="seconds",
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.boolean("EMISARIO_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"


# --- Content-Security-Policy (django-csp 4) -----------------------------------------------------
# Only this site's own files: the console has no inline script or style (console.js binds the
# few behaviours), and Django's admin has none either.
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


# Conectar posts a form that redirects to the provider's sign-in page, and form-action also
# governs that redirect (Chromium): the providers' authorization origins are allowed there.
OAUTH_FORM_ORIGINS = sorted(
    {
        origin
        for origin in (
            _origin(EMISARIO_OAUTH_MICROSOFT_AUTHORITY or "https://login.microsoftonline.com"),
            _origin(EMISARIO_OAUTH_GOOGLE_AUTHORITY or "https://accounts.google.com"),
        )
        if origin
    }
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF, *OAUTH_FORM_ORIGINS],
    },
}

# --- Static files ------------------------------------------------------------------------------
STATIC_ROOT = env.text("EMISARIO_STATIC_ROOT") or STATIC_ROOT
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
