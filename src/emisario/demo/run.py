"""``bin/demo``: the console, a local mailbox and demo data on SQLite, in one process.

Keys and the database live in ``var/`` of the checkout, so what the user configures survives a
restart. The mailbox's CA is made fresh each start and written where Probar trusts it.
"""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emisario.core.secrets import SecretBox

if TYPE_CHECKING:
    from emisario.demo.mailbox import LoopbackSmtpd


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1-65535)")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bin/demo", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=_port, default=8000, help="web console port (8000)")
    parser.add_argument("--smtp-port", type=_port, default=2525, help="STARTTLS port (2525)")
    parser.add_argument("--smtps-port", type=_port, default=2465, help="implicit TLS port (2465)")
    parser.add_argument(
        "--oauth-port", type=_port, default=8089, help="local Microsoft sign-in server (8089)"
    )
    parser.add_argument(
        "--oauth-smtp-port",
        type=_port,
        default=2587,
        help="mailbox that takes only OAuth (XOAUTH2), STARTTLS (2587)",
    )
    return parser.parse_args(argv)  # one port given to two options: busy_port_errors says so


def demo_mailbox(
    *, smtp_port: int, smtps_port: int, maildir: str | Path | None, ca: Any = None
) -> LoopbackSmtpd:
    """The demo's mailbox: STARTTLS and implicit TLS, the demo's users, AUTH required (as on a
    real submission server). ``bin/demo`` and the tests build it here, so they test the same."""
    from emisario.demo import data
    from emisario.demo.mailbox import STARTTLS, TLS, LoopbackSmtpd

    return LoopbackSmtpd(
        data.MAILBOX_USERS,
        listeners={STARTTLS: smtp_port, TLS: smtps_port},
        ca=ca,
        hostname="localhost",
        maildir=maildir,
    )


PORT_OPTIONS = (
    ("port", "--port", "web console"),
    ("smtp_port", "--smtp-port", "mailbox, STARTTLS"),
    ("smtps_port", "--smtps-port", "mailbox, implicit TLS"),
    ("oauth_port", "--oauth-port", "local Microsoft sign-in"),
    ("oauth_smtp_port", "--oauth-smtp-port", "OAuth-only mailbox, STARTTLS"),
)
OAUTH_CLIENT_ID = "emisario-demo"
RETIRED_BASIC_AUTH = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
"""What the demo's OAuth-only mailbox answers a password, as Microsoft 365 does now."""


def oauth_demo(args: argparse.Namespace, *, ca: Any, maildir: str | Path | None):
    """The local Microsoft-shaped authorization server (anyone may sign in, as at a tenant
    of the demo's own) and a mailbox that takes only its tokens (XOAUTH2, checked by
    introspection) and answers a password as Microsoft 365 does now. Both started."""
    from emisario.demo import data
    from emisario.demo.authserver import MICROSOFT, LocalAuthServer
    from emisario.demo.mailbox import STARTTLS, LoopbackSmtpd

    sign_in = LocalAuthServer(MICROSOFT, port=args.oauth_port, open_sign_in=True)
    sign_in.register_client(
        os.environ["EMISARIO_OAUTH_MICROSOFT_CLIENT_ID"],
        os.environ["EMISARIO_OAUTH_MICROSOFT_CLIENT_SECRET"],
        [f"http://{host}:{args.port}/oauth/callback/" for host in ("127.0.0.1", "localhost")],
    )
    sign_in.start()
    mailbox = LoopbackSmtpd(
        data.MAILBOX_USERS,
        listeners={STARTTLS: args.oauth_smtp_port},
        ca=ca,
        hostname="localhost",
        maildir=maildir,
        token_checker=sign_in.smtp_checker(),
        password_refusal=RETIRED_BASIC_AUTH,
    )
    try:
        mailbox.start()
    except OSError:
        sign_in.stop()
        raise
    return sign_in, mailbox


def busy_port_errors(args: argparse.Namespace) -> list[str]:
    """One line per port given to two options or that something else already listens on, naming
    the options and a port free right now. Checked before anything starts, so a port conflict
    never follows a "ready" banner."""
    ports = {attribute: getattr(args, attribute) for attribute, _, _ in PORT_OPTIONS}
    avoid = set(ports.values())  # no suggestion may clash with a port the demo uses
    errors = []
    for port in sorted(avoid):
        sharing = [(option, what) for attribute, option, what in PORT_OPTIONS
                   if ports[attribute] == port]  # fmt: skip
        if len(sharing) > 1:
            options = _listed([option for option, _ in sharing])
            whats = "; ".join(what for _, what in sharing)
            both = "both" if len(sharing) == 2 else "all"
            moves = " ".join(f"{option} {_suggestion(port, avoid)}" for option, _ in sharing[1:])
            errors.append(
                f"{options} are {both} {port} ({whats}): each needs a port of its own, e.g. "
                f"bin/demo {moves}"
            )
    for attribute, option, what in PORT_OPTIONS:
        port = ports[attribute]
        exc = _bind_error(port)
        if exc is not None:
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            errors.append(
                f"port {port} ({what}) {reason} on 127.0.0.1: stop what uses it or choose "
                f"another port with {option}, e.g. bin/demo {option} {_suggestion(port, avoid)}"
            )
    return errors


def _listed(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " and " + words[-1]


def _bind_error(port: int) -> OSError | None:
    """Why the demo could not listen on ``port`` now (None: it could)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As runserver and the mailbox bind: SO_REUSEADDR, so only a live listener (not a
        # connection in TIME_WAIT from the last run) counts as busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc
    return None


def _suggestion(port: int, avoid: set[int]) -> int:
    """A port free right now, near ``port`` if one is, and not in ``avoid`` (which it joins, so
    two suggestions differ)."""
    nearby = [candidate for candidate in range(port + 1, port + 101) if candidate <= 65535]
    for candidate in nearby:
        if candidate not in avoid and _bind_error(candidate) is None:
            avoid.add(candidate)
            return candidate
    while True:  # none near it (privileged, or all taken): one the system hands out
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            candidate = probe.getsockname()[1]
        if candidate not in avoid:
            avoid.add(candidate)
            return candidate


def _demo_env(var: Path) -> None:
    """Load (or create once) the demo's keys, before Django reads its settings."""
    env_file = var / "demo-keys.env"
    if not env_file.exists():
        env_file.write_text(
            f"EMISARIO_SECRET_KEYS={SecretBox.generate_key()}\n"
            f"EMISARIO_SECRET_KEY={secrets.token_urlsafe(40)}\n"
        )
        env_file.chmod(0o600)
    if "EMISARIO_OAUTH_MICROSOFT_CLIENT_SECRET" not in env_file.read_text():
        with env_file.open("a") as handle:  # a var/ from before OAuth: add the demo's secret
            handle.write(f"EMISARIO_OAUTH_MICROSOFT_CLIENT_SECRET={secrets.token_urlsafe(24)}\n")
    for line in env_file.read_text().splitlines():
        name, _, value = line.partition("=")
        os.environ.setdefault(name.strip(), value.strip())


def demo_environment(
    *,
    smtp_port: int = 2525,
    smtps_port: int = 2465,
    oauth_port: int = 8089,
    oauth_smtp_port: int = 2587,
) -> Path:
    """The demo's environment (settings, keys, ports), for ``bin/demo`` and for ``bin/demo-cli``
    (``emisario`` commands against the demo's database); returns ``var/``."""
    home = Path(os.environ.get("EMISARIO_HOME", Path.cwd())).resolve()
    var = home / "var"
    var.mkdir(exist_ok=True)
    _demo_env(var)
    os.environ["EMISARIO_HOME"] = str(home)
    os.environ["DJANGO_SETTINGS_MODULE"] = "emisario.config.settings.demo"
    ports = f"25,465,587,2525,{smtp_port},{smtps_port},{oauth_smtp_port}"
    os.environ.setdefault("EMISARIO_PROBE_PORTS", ports)
    # Microsoft's sign-in is the local server (emisario.demo.authserver), same paths and rules
    os.environ.setdefault("EMISARIO_OAUTH_MICROSOFT_AUTHORITY", f"http://127.0.0.1:{oauth_port}")
    os.environ.setdefault("EMISARIO_OAUTH_MICROSOFT_CLIENT_ID", OAUTH_CLIENT_ID)
    os.environ.setdefault("EMISARIO_OAUTH_MICROSOFT_TENANT", "organizations")
    os.environ.setdefault(
        "EMISARIO_DETECT_COMBINATIONS",
        "465/tls,587/starttls,25/starttls,2525/starttls,"
        f"{smtp_port}/starttls,{smtps_port}/tls,25/none",
    )
    return var


def start_cronus(var: Path) -> subprocess.Popen[bytes]:
    """The demo's CRONUS worker, its own process (signals, threads), logging to a file."""
    log = (var / "cronus.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "emisario.cli", "cronus"], stdout=log, stderr=log, env=os.environ
    )


def stop_cronus(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM: it finishes what is in flight and gives the rest back."""
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    busy = busy_port_errors(args)
    if busy:
        sys.exit("bin/demo cannot start:\n  " + "\n  ".join(busy))
    var = demo_environment(
        smtp_port=args.smtp_port,
        smtps_port=args.smtps_port,
        oauth_port=args.oauth_port,
        oauth_smtp_port=args.oauth_smtp_port,
    )

    import django
    import trustme
    from django.conf import settings
    from django.core.management import call_command

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(var / "demo-ca.pem"))
    django.setup()

    from django.core.management.base import SystemCheckError

    from emisario.demo import data

    try:  # call_command skips the system checks unless asked: a bad setting must stop here
        call_command("check", fail_level="ERROR")
    except SystemCheckError as refused:
        print(refused, file=sys.stderr)
        raise SystemExit(1) from None
    call_command("migrate", verbosity=0)
    data.load(smtp_port=args.smtp_port)

    mailbox = demo_mailbox(
        smtp_port=args.smtp_port,
        smtps_port=args.smtps_port,
        ca=ca,
        maildir=settings.EMISARIO_DEMO_MAILDIR,
    )
    try:
        mailbox.start()
    except OSError as exc:  # taken since the check above
        sys.exit(
            f"Cannot start the demo mailbox on ports {args.smtp_port}/{args.smtps_port}: {exc}; "
            "choose others with --smtp-port and --smtps-port"
        )
    try:
        sign_in, oauth_mailbox = oauth_demo(args, ca=ca, maildir=settings.EMISARIO_DEMO_MAILDIR)
    except OSError as exc:
        mailbox.stop()
        sys.exit(
            f"Cannot start the demo's OAuth servers on ports {args.oauth_port}/"
            f"{args.oauth_smtp_port}: {exc}; choose others with --oauth-port and "
            "--oauth-smtp-port"
        )
    worker = start_cronus(var)
    url = f"http://127.0.0.1:{args.port}/"
    mailbox_user = next(iter(data.MAILBOX_USERS))
    print(
        f"""
Emisario demo
  Console:  {url}
  Logins:   {data.LOGINS[0].username} / {data.LOGINS[0].password}   ({data.LOGINS[0].role})
            {data.LOGINS[1].username} / {data.LOGINS[1].password}   ({data.LOGINS[1].role})
  Mailbox:  Servidor SMTP 127.0.0.1, Puerto {args.smtp_port} with SSL ticked (STARTTLS)
            or Puerto {args.smtps_port} with SSL/TLS (implicit) in the advanced options
            Usuario {mailbox_user}, Contraseña {data.MAILBOX_USERS[mailbox_user]}
            (the mailbox asks for AUTH like a real server: an empty or wrong Contraseña fails)
  Microsoft 365 with OAuth 2.0 (a local sign-in server and a mailbox that refuses passwords):
            Servidor SMTP 127.0.0.1, Usuario any address (e.g. {mailbox_user}),
            Autenticación "OAuth 2.0", Proveedor OAuth "Microsoft 365",
            Puerto {args.oauth_smtp_port} with SSL ticked; Guardar, then Conectar con Microsoft,
            Accept at the sign-in page, then Probar
  Received mail: {url}demo/buzon/
  Try it:   CXC => Sistema => Envío de correos => SMTP, fill in the mailbox above, press Probar.
  CRONUS:   sending the outbox through the accounts (log: var/cronus.log). Queue mail with
            bin/demo-cli sample_statements --count 10000 --company ACME --out var/estados
            bin/demo-cli send --batch var/estados/statements.jsonl
            bin/demo-cli cronus --status
Press Ctrl+C to stop.
""",
        flush=True,
    )

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the demo as Ctrl+C does: CRONUS stops too

    signal.signal(signal.SIGTERM, interrupted)
    try:
        call_command(
            "runserver", f"127.0.0.1:{args.port}", use_reloader=False, insecure_serving=True
        )
    finally:
        stop_cronus(worker)
        oauth_mailbox.stop()
        sign_in.stop()
        mailbox.stop()


if __name__ == "__main__":
    main()
