"""gunicorn's settings for ``bin/serve`` (``gunicorn -c python:emisario.config.gunicorn``).

Threads, not only processes: a Probar or Detectar run waits on a remote SMTP server for up to
``EMISARIO_PROBE_DEADLINE`` seconds (10), and a thread that waits costs little. The request
timeout is well above that deadline, so only a truly stuck worker is restarted.

Environment variables: ``EMISARIO_BIND`` (``127.0.0.1:8000``; a TLS proxy goes in front),
``EMISARIO_WORKERS`` (2), ``EMISARIO_THREADS`` (4 per worker), ``EMISARIO_TIMEOUT`` (60 s).
"""

import os


def _whole(name: str, default: int) -> int:
    """A positive whole number from the environment; a bad one stops the start, named."""
    value = os.environ.get(name, "").strip() or str(default)
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{name}={value!r}: use a whole number of 1 or more")
    return int(value)


bind = [os.environ.get("EMISARIO_BIND", "127.0.0.1:8000")]
workers = _whole("EMISARIO_WORKERS", 2)
threads = _whole("EMISARIO_THREADS", 4)
worker_class = "gthread"
timeout = _whole("EMISARIO_TIMEOUT", 60)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# gunicorn 27's control socket sits at one path per user: two instances on a host (or the
# tests, in parallel) would fight over it, and nothing here uses it. Older gunicorn ignores
# this name.
control_socket_disable = True
