"""The reference echo server: asyncio for the sockets, the engine for everything else.

It is the embedded default target of `conformance run` and `make demo`, and it conforms to the
letter: every rule of the engine is enforced, failures close with the code the RFC calls for,
and the server closes TCP first after the closing handshake (RFC 6455 §7.1.1).
"""

from __future__ import annotations

__all__ = ["EchoServer", "serve_echo"]

import asyncio
import contextlib
import ssl

from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State
from conformance.engine.deflate import OfferSelector, negotiated_codec
from conformance.engine.handshake import ServerHandshake
from conformance.engine.rules import HandshakeError
from conformance.errors import WireError
from conformance.wire.frames import Opcode
from conformance.wire.http import Request, parse_request

_READ = 1 << 16
_HANDSHAKE_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 5.0
_LINGER = 2.0


class EchoServer:
    """Echoes every message back with the same type; permessage-deflate when `deflate`."""

    def __init__(self, *, deflate: bool = False, max_message: int = 64 * 1024 * 1024) -> None:
        self.deflate = deflate
        self.max_message = max_message
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got = await self._read_request(reader, writer)
        if got is None:
            return
        request, leftover = got
        selector = OfferSelector() if self.deflate else None
        hs = ServerHandshake(select_extensions=selector)
        try:
            hs.check_request(request)
            response, _result = hs.accept(request)
        except HandshakeError as exc:
            writer.write(hs.reject(exc).serialize())
            await writer.drain()
            return
        writer.write(response.serialize())
        codec = None
        if selector is not None and selector.agreed is not None:
            codec = negotiated_codec(selector.agreed, "server", self.max_message)
        conn = Connection(Role.SERVER, deflate=codec, max_message=self.max_message)
        if leftover:
            conn.receive_data(leftover)
        await self._echo_loop(conn, reader, writer)

    async def _read_request(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> tuple[Request, bytes] | None:
        buf = bytearray()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _HANDSHAKE_TIMEOUT
        while True:
            try:
                parsed = parse_request(bytes(buf))
            except WireError as exc:
                body = f"Bad request: {exc}\n".encode()
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                             b"Connection: close\r\n\r\n" + body)
                await writer.drain()
                return None
            if parsed is not None:
                return parsed[0], bytes(buf[parsed[1]:])
            left = deadline - loop.time()
            if left <= 0:
                return None
            try:
                chunk = await asyncio.wait_for(reader.read(_READ), left)
            except TimeoutError:
                return None
            if not chunk:
                return None
            buf += chunk

    async def _echo_loop(self, conn: Connection, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        while True:
            self._answer(conn)
            out = conn.data_to_send()
            if out:
                writer.write(out)
                await writer.drain()
            if conn.state is State.CLOSED:
                await _lingering_close(reader, writer)  # the server closes TCP first (§7.1.1)
                return
            timeout = _CLOSE_TIMEOUT if conn.state is State.CLOSING else None
            try:
                data = await asyncio.wait_for(reader.read(_READ), timeout)
            except TimeoutError:
                return
            conn.receive_data(data)
            if not data:
                self._answer(conn)
                return

    @staticmethod
    def _answer(conn: Connection) -> None:
        for e in conn.events():
            if isinstance(e, ev.Message) and conn.state is State.OPEN:
                if e.opcode is Opcode.TEXT:
                    conn.send_message(e.text if e.text is not None else e.data, text=True)
                else:
                    conn.send_message(e.data, text=False)


async def _lingering_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send FIN, then read and drop what the client still sends until it closes too.

    Closing a socket that has unread octets makes the kernel answer with a reset, which can
    destroy the close frame just sent; half-closing first lets it arrive.
    """
    if writer.get_extra_info("ssl_object") is not None:
        await _tls_close(writer)
        return
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
    with contextlib.suppress(TimeoutError, ConnectionError, OSError):
        async with asyncio.timeout(_LINGER):
            while await reader.read(_READ):
                pass


async def _tls_close(writer: asyncio.StreamWriter) -> None:
    """The TLS form of the lingering close: close_notify at once, then TCP closes when the
    client's close_notify (or its FIN) arrives, or after the linger time.

    TLS has no half-close of its own in asyncio (no write_eof); close_notify is how TLS says
    "no more data from me", and a client treats it as the end of the stream. What the client
    still sends meanwhile is read and dropped by the TLS layer, so no reset meets it.
    """
    writer.close()
    with contextlib.suppress(TimeoutError, ConnectionError, OSError):
        await asyncio.wait_for(writer.wait_closed(), _LINGER + 1)


async def serve_echo(
    host: str, port: int, *, deflate: bool = False, ssl_context: ssl.SSLContext | None = None,
    ready: asyncio.Future[int] | None = None,
) -> None:
    """Serve until cancelled; `ready` receives the bound port (useful with port 0)."""
    server_obj = EchoServer(deflate=deflate)
    server = await asyncio.start_server(server_obj.handle, host, port, ssl=ssl_context,
                                        limit=_READ, reuse_address=True,
                                        ssl_shutdown_timeout=_LINGER if ssl_context else None)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready.set_result(bound)
    async with server:
        await server.serve_forever()
