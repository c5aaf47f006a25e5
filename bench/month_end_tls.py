"""The month-end run over STARTTLS + AUTH: what encryption and a login cost Emisario, relative
to a raw session paying the same.

Run: ``.venv/bin/python bench/month_end_tls.py [--count 2000] [--database sqlite|postgres]``

Two pairs, each Emisario (``emisario cronus --once``, one worker as it runs by default, and
the same worker held to one session, so that the sides are also session for session;
statements queued once with ``enqueue_many`` and restored from a copy before each run,
timed from its start event)
against one persistent raw ``smtplib.SMTP`` session writing the same statements prebuilt as
bytes, in turns (``--rounds`` rounds of raw, Emisario, Emisario with one session; the best of
each side counts):

1. plain text, to Postfix's ``smtp-sink`` (AUTH hidden, an account without a password), as in
   ``month_end.py``;
2. STARTTLS and AUTH (PLAIN/LOGIN, one user) to an aiosmtpd sink in a process of its own,
   with a trustme certificate for 127.0.0.1; it keeps nothing. Both sides verify the
   certificate against the same CA (the worker through ``EMISARIO_PROBE_CA_FILE``).

aiosmtpd is Python and saturates at a few hundred msg/s of these statements on two cores, for both
sides alike, so pair 2 measures whether Emisario keeps up with what the server takes, not a
ceiling. Prints both ratios and the TLS ratio over the plain one (goal >= 0.9). A naive
connection per message over TLS (``--naive-count``) shows what session reuse saves there.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _cronus_support as support

LOGIN = "cobranza@acme.example"
PASSWORD = "clave-de-banco-2026"


# --- the TLS sink (its own process) -----------------------------------------------------------


def serve_sink(port: int, cert_dir: Path) -> None:
    """aiosmtpd on 127.0.0.1:``port``: STARTTLS required, AUTH PLAIN/LOGIN for one user,
    every message answered 250 and dropped."""
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_dir / "cert.pem", cert_dir / "key.pem")

    class Drop:
        async def handle_DATA(self, server, session, envelope) -> str:
            return "250 2.0.0 OK: dropped"

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == LOGIN.encode()
            and auth_data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok)

    def factory() -> SMTP:
        return SMTP(
            Drop(),
            hostname="sink.bench.example",
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=authenticator,
        )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, "127.0.0.1", port, backlog=1024)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


class TlsSink:
    """The sink above as a subprocess of this script, with a fresh trustme CA in ``cert_dir``."""

    def __init__(self, cert_dir: Path) -> None:
        import trustme

        self.cert_dir = cert_dir
        self.port = support.free_port()
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        ca.cert_pem.write_to_path(str(cert_dir / "ca.pem"))
        leaf.private_key_pem.write_to_path(str(cert_dir / "key.pem"))
        leaf.cert_chain_pems[0].write_to_path(str(cert_dir / "cert.pem"))
        self.ca_file = cert_dir / "ca.pem"
        self._process: subprocess.Popen[bytes] | None = None

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def __enter__(self) -> TlsSink:
        command = [sys.executable, __file__, "--serve-sink", str(self.port)]
        command += ["--cert-dir", str(self.cert_dir)]
        self._process = subprocess.Popen(command)  # noqa: S603 - this script, our arguments
        support.wait_for_banner(self.port)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)


# --- the pairs --------------------------------------------------------------------------------


SINGLE = ["--sessions-per-account", "1"]


def pair(args, database, work, env, name, options, account, envelopes) -> dict[str, float]:
    """One pair in turns: the queue made once, then ``--rounds`` rounds of a raw session, an
    Emisario worker as it runs by default (up to three sessions to the account) and the same
    worker held to one session, each on the restored queue; the best of each side (msg/s)."""
    count = len(envelopes)
    support.raw_session(options, envelopes[: min(100, count)])  # warm-up
    seconds = support.prepare_queue(
        database, count=count, pdf_bytes=args.pdf_bytes, account=account
    )
    print(f"  {name}: enqueue_many of {count}: {seconds:.1f} s (not in the rates below)")
    sides: dict[str, list[float]] = {"raw": [], "worker": [], "one session": []}
    restore = False
    for number in range(args.rounds):
        sides["raw"].append(support.rate(count, support.raw_session(options, envelopes)))
        line = [f"    round {number + 1}: raw {sides['raw'][-1]:6.0f}"]
        for side, extra in (("worker", []), ("one session", SINGLE)):
            run, verdict = support.timed_run(
                database, env, work, workers=1, count=count,
                extra=[*support.worker_extra(args), *extra], restore=restore,
            )  # fmt: skip
            restore = True
            if not verdict.startswith("verified"):
                raise SystemExit(f"  Emisario, {name}, {side}: {verdict}")
            sides[side].append(support.rate(count, run.running))
            line.append(
                f"{side} {sides[side][-1]:6.0f} ({sides[side][-1] / sides['raw'][-1]:.2f}x)"
            )
        print(", ".join(line) + " msg/s")
    print(f"    every Emisario run: verified, all {count} rows sent")
    best = {side: max(rates) for side, rates in sides.items()}
    for side, rate in best.items():
        support.row(f"  {side}, {name}", count, count / rate)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="statements (default 2000)")
    parser.add_argument("--naive-count", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pdf-bytes", type=int, default=support.PDF_BYTES)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each pair")
    parser.add_argument("--batch-size", type=int, help="passed to the worker")
    parser.add_argument("--lease", type=int, help="passed to the worker (seconds)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--serve-sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cert-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sink:
        serve_sink(args.serve_sink, Path(args.cert_dir))
        return
    if args.database == "postgres" and not support.postgres_available():
        raise SystemExit(f"no PostgreSQL answers at {support.PG_SERVER}")
    count = args.count
    print(f"Month end over STARTTLS + AUTH: {count} statements, Emisario on {args.database}")
    with support.workdir(keep=args.keep) as work, support.SmtpSink() as plain, TlsSink(work) as tls:
        envelopes = support.raw_messages(count, pdf_bytes=args.pdf_bytes)
        plain_options = support.SessionOptions(port=plain.port)
        tls_options = support.SessionOptions(
            port=tls.port, tls_context=tls.client_context(), login=LOGIN, password=PASSWORD
        )
        subset = envelopes[: min(args.naive_count, count)]
        support.heading("naive over STARTTLS + AUTH, a connection per message")
        support.row("naive", len(subset), support.naive_sessions(tls_options, subset))
        plain_best: dict[str, float] = {}
        tls_best: dict[str, float] = {}
        support.heading(
            f"raw smtplib (one persistent session) and Emisario (one worker, {args.database}), "
            f"in turns, {args.rounds} rounds"
        )
        if not support.worker_available():
            print(f"  {support.WORKER_MISSING}")
        else:
            home = work / "emisario"
            home.mkdir()
            database = support.BenchDatabase(args.database, work, label="month_end_tls")
            support.django_setup(database, home)
            env = support.worker_env(database, home, [plain.port, tls.port], ca_file=tls.ca_file)
            try:
                plain_best = pair(
                    args, database, work, env, "plain, smtp-sink", plain_options,
                    {"port": plain.port}, envelopes,
                )  # fmt: skip
                account = {
                    "port": tls.port,
                    "security": "starttls",
                    "login": LOGIN,
                    "password": PASSWORD,
                }
                tls_best = pair(
                    args, database, work, env, "STARTTLS + AUTH, aiosmtpd", tls_options,
                    account, envelopes,
                )  # fmt: skip
            finally:
                from django.db import connections

                connections.close_all()
                database.drop()

    support.heading("Ratios")
    for side, label in (("worker", "one worker"), ("one session", "one worker, one session")):
        plain_ratio = tls_ratio = None
        if plain_best and tls_best:
            plain_ratio = plain_best[side] / plain_best["raw"]
            tls_ratio = tls_best[side] / tls_best["raw"]
            print(f"  {label + ' / raw, plain':<44} {plain_ratio:6.2f}x")
            print(f"  {label + ' / raw, STARTTLS + AUTH':<44} {tls_ratio:6.2f}x")
        support.ratio(f"{label}: TLS ratio / plain ratio", tls_ratio, plain_ratio, goal=0.9)


if __name__ == "__main__":
    main()
