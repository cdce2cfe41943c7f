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

__all__ = ["KeepingProtocol", "KeepingReader", "open_stream", "start_stream_server"]

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

_LIMIT = 1 << 16


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
