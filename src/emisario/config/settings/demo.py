"""Settings for the one-command demo: SQLite in ``var/``, keys kept in ``var/demo-keys.env``.

``bin/demo`` writes the keys file on first run, so the demo's encrypted passwords survive a
restart; it is a demo, not a deployment: the keys live next to the database.
"""

from emisario.config.settings.base import *  # noqa: F403
from emisario.config.settings.base import BASE_DIR, INSTALLED_APPS, env

DEBUG = False
# The demo's own app (its mailbox page); deployments leave it out.
INSTALLED_APPS = [*INSTALLED_APPS, "emisario.demo"]
SECRET_KEY = env.text("EMISARIO_SECRET_KEY") or "demo-only-" + "x" * 40
EMISARIO_DEMO_MAILDIR = env.text("EMISARIO_DEMO_MAILDIR", str(BASE_DIR / "var" / "demo-mailbox"))
# The demo mailbox listens on loopback: the only non-public target Probar may reach here.
EMISARIO_PROBE_ALLOW = env.strings("EMISARIO_PROBE_ALLOW", "127.0.0.1")
EMISARIO_PROBE_PORTS = env.ports("EMISARIO_PROBE_PORTS", [25, 465, 587, 2525, 2465])
EMISARIO_PROBE_CA_FILE = env.text("EMISARIO_PROBE_CA_FILE", str(BASE_DIR / "var" / "demo-ca.pem"))
# Detectar also knows the demo mailbox's ports (bin/demo sets them for the ports it uses).
EMISARIO_DETECT_COMBINATIONS = env.strings(
    "EMISARIO_DETECT_COMBINATIONS",
    "465/tls,587/starttls,25/starttls,2525/starttls,2465/tls,25/none",
)
