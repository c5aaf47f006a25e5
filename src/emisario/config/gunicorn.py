"""gunicorn's settings for ``bin/serve`` (``gunicorn -c python:emisario.config.gunicorn``).

Threads, not only processes: a Probar or Detectar run waits on a remote SMTP server for up to
``EMISARIO_PROBE_DEADLINE`` seconds (10), and a thread that waits costs little. The request
timeout is well above that deadline, so only a truly stuck worker is restarted.

Environment variables: ``EMISARIO_BIND`` (``127.0.0.1:8000``; a TLS proxy goes in front),
``EMISARIO_WORKERS`` (2), ``EMISARIO_THREADS`` (4 per worker), ``EMISARIO_TIMEOUT`` (60 s).
"""

from emisario.config.env import Environment

_env = Environment()
bind = [_env.text("EMISARIO_BIND", "127.0.0.1:8000")]
workers = _env.integer("EMISARIO_WORKERS", 2, minimum=1, maximum=64)
threads = _env.integer("EMISARIO_THREADS", 4, minimum=1, maximum=256)
worker_class = "gthread"
timeout = _env.integer("EMISARIO_TIMEOUT", 60, minimum=1, maximum=3600, unit="seconds")
if _env.problems:  # the same parser and messages as the settings (check emisario.E010)
    raise SystemExit("\n".join(f"{p.message} {p.fix}" for p in _env.problems))
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
