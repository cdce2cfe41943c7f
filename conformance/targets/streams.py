"""asyncio streams that keep what arrived before a TCP reset.

A peer may send its last frames (a message, a close frame) and then reset the connection
(SO_LINGER 0, or a close with octets of ours still unread). The kernel hands over those frames
before it reports the reset, but asyncio loses them twice: its StreamReader raises the reset on
the next read and drops what it had buffered, and when a write of ours meets the reset first,
the transport closes the socket without reading what is still queued in the kernel.
`KeepingReader` gives the buffered octets first and raises the reset after them, and
`KeepingProtocol` reads what the kernel still holds before the socket goes, so a reader sees
everything the peer sent and then learns how it ended.
"""

from __future__ import annotations

__all__ = ["HeadIncomplete", "KeepingProtocol", "KeepingReader", "Reader", "Writer", "lingering_close",
           "open_stream", "read_http_head", "server_side", "start_stream_server"]

import asyncio
import contextlib
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from conformance.errors import WireError
from conformance.targets.tls import TLSServerStream

_LIMIT = 1 << 16
_LINGER = 2.0

Reader = asyncio.StreamReader | TLSServerStream
Writer = asyncio.StreamWriter | TLSServerStream
_Head = TypeVar("_Head")


class KeepingReader(asyncio.StreamReader):
    """A StreamReader on which a reset follows the octets that arrived before it."""

    def __init__(self, limit: int = _LIMIT) -> None:
        super().__init__(limit=limit)
        self.reset: ConnectionError | None = None

    def set_exception(self, exc: Exception) -> None:
        if isinstance(exc, ConnectionError):
            self.reset = exc
            self.feed_eof()  # the buffered octets stay readable; read() raises after them
            return
        super().set_exception(exc)

    async def read(self, n: int = -1) -> bytes:
        data = await super().read(n)
        if not data and n != 0 and self.reset is not None:
            raise self.reset
        return data


class KeepingProtocol(asyncio.StreamReaderProtocol):
    """A StreamReaderProtocol that salvages the octets still queued when a reset ends the connection."""

    def __init__(self, reader: KeepingReader, handle: Any = None) -> None:
        super().__init__(reader, handle)
        self._keeping = reader
        self._transport_seen: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport_seen = transport
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ConnectionError) and self._transport_seen is not None:
            for chunk in _queued_octets(self._transport_seen):
                self._keeping.feed_data(chunk)
        super().connection_lost(exc)


def _queued_octets(transport: asyncio.BaseTransport) -> list[bytes]:
    """What the kernel still holds for a plain TCP transport whose socket is about to close
    (asyncio closes it right after connection_lost); TLS records are left alone."""
    sock = transport.get_extra_info("socket")
    if sock is None or transport.get_extra_info("ssl_object") is not None or sock.fileno() < 0:
        return []
    chunks: list[bytes] = []
    with socket.socket(fileno=os.dup(sock.fileno())) as dup:
        dup.setblocking(False)
        while True:
            try:
                chunk = dup.recv(_LIMIT)
            except OSError:  # nothing more queued (EAGAIN), or the reset itself
                break
            if not chunk:
                break
            chunks.append(chunk)
    return chunks


async def open_stream(host: str, port: int, *, limit: int = _LIMIT,
                      **kwargs: Any) -> tuple[KeepingReader, asyncio.StreamWriter]:
    """Like asyncio.open_connection, with a KeepingReader; `kwargs` go to create_connection."""
    loop = asyncio.get_running_loop()
    reader = KeepingReader(limit)
    protocol = KeepingProtocol(reader)
    transport, _ = await loop.create_connection(lambda: protocol, host, port, **kwargs)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def start_stream_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    host: str, port: int, *, limit: int = _LIMIT, **kwargs: Any,
) -> asyncio.Server:
    """Like asyncio.start_server, with a KeepingReader per connection."""
    loop = asyncio.get_running_loop()

    def factory() -> KeepingProtocol:
        return KeepingProtocol(KeepingReader(limit), handle)

    return await loop.create_server(factory, host, port, **kwargs)


async def server_side(tcp_reader: asyncio.StreamReader, tcp_writer: asyncio.StreamWriter,
                      context: ssl.SSLContext | None, timeout: float) -> tuple[Reader, Writer]:
    """An accepted connection as the server reads and writes it: plain TCP, or TLS on memory BIOs
    (handshake done, within `timeout`) when `context` is given, so that it can half-close."""
    if context is None:
        return tcp_reader, tcp_writer
    tls = TLSServerStream(tcp_reader, tcp_writer, context)
    await asyncio.wait_for(tls.handshake(), timeout)
    return tls, tls


class HeadIncomplete(Exception):
    """No whole HTTP head arrived. `kind`: "invalid" (not HTTP; `detail` says why), "timeout",
    "eof" (the peer closed TCP) or "reset"; `received` holds the octets that did arrive."""

    def __init__(self, kind: str, received: bytes, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind, self.received, self.detail = kind, received, detail


async def read_http_head(reader: Reader, parse: Callable[[bytes], tuple[_Head, int] | None],
                         timeout: float | None) -> tuple[_Head, bytes, bytes]:
    """Read until `parse` (wire.http's parse_request or parse_response) finds a whole head, within
    `timeout` seconds in all (None: no bound); returns the head, its octets and the octets that
    followed it. Raises HeadIncomplete otherwise."""
    buf = bytearray()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            parsed = parse(bytes(buf))
        except WireError as exc:
            raise HeadIncomplete("invalid", bytes(buf), str(exc)) from None
        if parsed is not None:
            head, used = parsed
            return head, bytes(buf[:used]), bytes(buf[used:])
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise HeadIncomplete("timeout", bytes(buf))
        try:
            chunk = await asyncio.wait_for(reader.read(_LIMIT), left)
        except TimeoutError:
            continue  # the deadline check above ends it
        except (ConnectionError, OSError) as exc:
            raise HeadIncomplete("reset", bytes(buf), str(exc)) from None
        if not chunk:
            raise HeadIncomplete("eof", bytes(buf))
        buf += chunk


async def lingering_close(reader: Reader, writer: Writer, linger: float = _LINGER) -> None:
    """Send FIN (over TLS: close_notify, then FIN), then read and drop what the peer still sends
    until it closes too, `linger` seconds at most.

    Closing a socket that has unread octets makes the kernel answer with a reset, which can
    destroy the close frame just sent; half-closing first lets it arrive.
    """
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
    with contextlib.suppress(TimeoutError, ConnectionError, OSError):
        async with asyncio.timeout(linger):
            while await reader.read(_LIMIT):
                pass
