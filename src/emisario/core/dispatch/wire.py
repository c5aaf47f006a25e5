"""The bytes of DATA exactly as RFC 5321 wants them, whatever the message holds.

SMTP smuggling (CVE-2023-51764 and kin) works when a client lets a bare LF or CR reach the
wire: some servers end the message at ``<LF>.<LF>`` and read what follows as a new one. So
every line end goes out as CRLF, a line starting with "." gets a second one (section 4.5.2),
and the message always ends in CRLF "." CRLF. The encoder streams: a message is fed in chunks
(a chunk may end between CR and LF), and the common case, bytes already clean, costs a few
C-speed scans per chunk.
"""

from __future__ import annotations

import re

_LINE_END = re.compile(rb"\r\n|\r|\n")
END_OF_DATA = b".\r\n"


class WireEncoder:
    """Feed the message in chunks; write what :meth:`feed` and :meth:`finish` return."""

    __slots__ = ("_line_start", "_pending_cr")

    def __init__(self) -> None:
        self._line_start = True
        self._pending_cr = False

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return b""
        if self._pending_cr:
            chunk = b"\r" + chunk
            self._pending_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]  # its LF may come in the next chunk
            self._pending_cr = True
            if not chunk:
                return b""
        crlf = chunk.count(b"\r\n")
        if chunk.count(b"\n") != crlf or chunk.count(b"\r") != crlf:
            chunk = _LINE_END.sub(b"\r\n", chunk)
        stuffed = chunk.replace(b"\r\n.", b"\r\n..")
        if self._line_start and stuffed.startswith(b"."):
            stuffed = b"." + stuffed
        self._line_start = stuffed.endswith(b"\r\n")
        return stuffed

    def feed_checked(self, chunk: bytes) -> bytes:
        """A chunk already known to be wire-safe (:class:`WireSafety`, checked when the body
        was rendered and stored): only the line state is followed, no byte is scanned."""
        if self._pending_cr or not self._line_start:
            return self.feed(chunk)  # only ever after a clean header: never happens
        if chunk:
            self._line_start = chunk.endswith(b"\r\n")
        return chunk

    def finish(self) -> bytes:
        """The end of the message: a pending CR becomes a line end, a last line without one
        gets it, then the terminating "." line."""
        tail = b""
        if self._pending_cr:
            tail = b"\r\n"
            self._pending_cr = False
            self._line_start = True
        if not self._line_start:
            tail += b"\r\n"
        self._line_start = True
        return tail + END_OF_DATA


def encode(message: bytes) -> bytes:
    """The whole DATA payload for ``message`` in one call (tests, small messages)."""
    encoder = WireEncoder()
    return encoder.feed(message) + encoder.finish()


class WireSafety:
    """Checks, chunk by chunk, that bytes can go on the wire as they are: every line end CRLF,
    no line starting with "." (no dot-stuffing needed). A chunk may end inside CRLF."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b"\r\n"  # the start of the body is a line start

    def check(self, chunk: bytes) -> bool:
        data = self._tail + chunk
        self._tail = data[-2:]
        crlf = data.count(b"\r\n")
        if data.count(b"\n") != crlf or data.count(b"\r") - data.endswith(b"\r") != crlf:
            return False
        return b"\r\n." not in data
