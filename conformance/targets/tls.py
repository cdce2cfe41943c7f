"""Server-side TLS over a plain asyncio stream pair, on memory BIOs, with a real half-close.

asyncio's own TLS transport cannot half-close: closing it sends close_notify and then treats any
application data the client still sends as a fatal error (OpenSSL's "application data after close
notify"), which aborts the socket with a reset, the very thing a lingering close avoids. Here
`write_eof()` sends close_notify and then FIN, and reading goes on (TLS 1.3 allows the peer to
send after our close_notify), so the server can drop what still arrives until the client closes
too, as over plain TCP (RFC 6455 §7.1.1; RFC 8446 §6.1).
"""

from __future__ import annotations

__all__ = ["TLSServerStream"]

import asyncio
import contextlib
import ssl
from typing import Any

_READ = 1 << 16


class TLSServerStream:
    """Reads and writes like an asyncio StreamReader and StreamWriter in one object."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 context: ssl.SSLContext) -> None:
        self._reader, self._writer = reader, writer
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_side=True)
        self._notified = False  # our close_notify is sent
        self._pending = bytearray()  # application data decrypted before our close_notify

    async def handshake(self) -> None:
        """The TLS handshake; ssl.SSLError (an OSError) when it fails."""
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if not await self._feed():
                    raise ConnectionResetError("the client closed during the TLS handshake") from None
        self._flush()
        await self._writer.drain()

    async def read(self, n: int = _READ) -> bytes:
        """Application data; b"" once the client sent close_notify or closed TCP."""
        if self._pending:
            data = bytes(self._pending[:n])
            del self._pending[:n]
            return data
        while True:
            try:
                data = self._tls.read(n)
                self._flush()
                return data
            except ssl.SSLWantReadError:
                self._flush()
                if not await self._feed():
                    return b""  # TCP closed without close_notify: end of stream all the same
            except ssl.SSLError:
                if not self._notified:
                    raise
                return await self._reader.read(n)  # after our close_notify: raw octets, to be dropped

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._notified:
            raise ConnectionResetError("write after close_notify")
        self._tls.write(data)
        self._flush()

    async def drain(self) -> None:
        await self._writer.drain()

    def can_write_eof(self) -> bool:
        return self._writer.can_write_eof()

    def write_eof(self) -> None:
        """close_notify, then FIN; reading goes on."""
        if self._notified:
            return
        self._notified = True
        self._take_pending()
        # CPython calls SSL_shutdown twice; the second one looks for the client's close_notify
        # and fails on application data, after our close_notify is already in the BIO
        with contextlib.suppress(ssl.SSLError):
            self._tls.unwrap()
        self._flush()
        self._writer.write_eof()

    def close(self) -> None:
        if not self._notified:
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                self.write_eof()
        self._writer.close()

    async def wait_closed(self) -> None:
        await self._writer.wait_closed()

    @property
    def transport(self) -> asyncio.WriteTransport:
        """The TCP transport underneath (to abort the connection)."""
        return self._writer.transport

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._tls
        return self._writer.get_extra_info(name, default)

    def _take_pending(self) -> None:
        """Decrypt what already arrived, so that shutting down does not meet it."""
        with contextlib.suppress(ssl.SSLError):
            while chunk := self._tls.read(_READ):
                self._pending += chunk

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self._writer.write(data)

    async def _feed(self) -> bool:
        data = await self._reader.read(_READ)
        if not data:
            self._in.write_eof()
            return False
        self._in.write(data)
        return True
