"""What CRONUS writes on the wire, byte by byte, read by a server that records raw bytes:
bodies full of ".", lone CR, lone LF, long lines and non-ASCII arrive exact after unstuffing,
and no bare CR or LF is ever sent (SMTP smuggling)."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading

import pytest

from emisario.outbox.models import MessageStatus
from tests.factories import make_account
from tests.outbox.cronus_support import fresh, queue_statement, run_cronus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cronus_settings")]

BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


class RawSmtp:
    """A minimal SMTP server that keeps every byte of every DATA as it arrived."""

    def __init__(self, *, pipelining: bool = True, rcpt: str = "250 ok", data: str = "354 go"):
        self.pipelining, self.rcpt, self.data = pipelining, rcpt, data
        self.commands: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.payloads: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        conn.sendall(b"220 raw ESMTP\r\n")
        while line := reader.readline():
            verb = line[:4].upper()
            self.commands.append(verb)
            if verb == b"EHLO":
                extra = b"250-PIPELINING\r\n" if self.pipelining else b""
                conn.sendall(b"250-raw\r\n" + extra + b"250 8BITMIME\r\n")
            elif verb == b"RCPT":
                conn.sendall(self.rcpt.encode() + b"\r\n")
            elif verb == b"DATA":
                conn.sendall(self.data.encode() + b"\r\n")
                if not self.data.startswith("354"):
                    continue
                data = b""
                while not data.endswith(b"\r\n.\r\n"):
                    chunk = reader.readline()
                    if not chunk:
                        return
                    data += chunk
                self.payloads.append(data)
                conn.sendall(b"250 2.0.0 kept\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def raw_server(request):
    server = RawSmtp(**getattr(request, "param", {}))
    yield server
    server.close()


def unstuff(wire: bytes) -> bytes:
    body = wire[: -len(b".\r\n")]
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in body.split(b"\r\n"))


HOSTILE = (
    ".\n..\n.hidden line\r\nlone CR\rhere\nlone LF\n\r\n.\r\nMAIL FROM:<x@evil.example>\r\n"
    + "a" * 2000
    + "\nñandú, ação, 日本語, emoji 🎉\n. \n"
)


@pytest.mark.parametrize(
    "raw_server", [{"pipelining": True}, {"pipelining": False}], indirect=True,
    ids=["pipelined", "one_command_at_a_time"],
)  # fmt: skip
def test_hostile_bodies_arrive_exact_and_the_wire_has_only_crlf(acme, raw_server):
    make_account(
        acme, host="127.0.0.1", port=raw_server.port, security="none", password=None,
        sender="cobranza@acme.example",
    )  # fmt: skip
    pdf = bytes(range(256)) * 160  # 40 KB with every byte value
    message = queue_statement(
        text=HOSTILE, html="<p>" + HOSTILE + "</p>", attachments=[("e.pdf", pdf)]
    )
    run_cronus()
    assert fresh(message).status == MessageStatus.SENT
    (wire,) = raw_server.payloads
    assert not BARE.search(wire), "a bare CR or LF reached the wire"
    assert wire.endswith(b"\r\n.\r\n") and wire.count(b"\r\n.\r\n") == 1
    data = unstuff(wire)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    expected = HOSTILE.replace("\r\n", "\n").replace("\r", "\n")
    got = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert got.removesuffix("\n") == expected.removesuffix("\n")
    (attachment,) = parsed.iter_attachments()
    assert attachment.get_content() == pdf
    assert parsed["Message-ID"] == fresh(message).message_id
    # The body on the wire is the one rendered at intake, byte for byte.
    stored = b"".join(fresh(message).body.chunks())
    assert data.endswith(stored)


@pytest.mark.parametrize(
    "raw_server", [{"rcpt": "550 5.1.1 no such user", "data": "354 go"}], indirect=True
)
def test_a_pipelined_data_opened_for_nobody_is_abandoned_not_sent(acme, raw_server):
    """PIPELINING sends DATA before the RCPT replies are read. When every recipient was
    refused and the server still opened DATA (354), the transaction is dropped by closing the
    connection: writing "." would deliver an empty message."""
    make_account(
        acme, host="127.0.0.1", port=raw_server.port, security="none", password=None,
        sender="cobranza@acme.example",
    )  # fmt: skip
    message = queue_statement()
    run_cronus()
    row = fresh(message)
    assert (row.status, row.last_error_code) == (MessageStatus.FAILED, "recipients_refused")
    assert raw_server.payloads == []
    assert raw_server.commands[:4] == [b"EHLO", b"MAIL", b"RCPT", b"DATA"]
