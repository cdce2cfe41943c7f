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
from conformance.targets.streams import (
    HeadIncomplete,
    Reader,
    Writer,
    lingering_close,
    read_http_head,
    server_side,
)
from conformance.wire.frames import Opcode
from conformance.wire.http import Request, parse_request

_READ = 1 << 16
_HANDSHAKE_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 5.0


class EchoServer:
    """Echoes every message back with the same type; permessage-deflate when `deflate`."""

    def __init__(self, *, deflate: bool = False, max_message: int = 64 * 1024 * 1024,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.deflate = deflate
        self.ssl_context = ssl_context  # wss://: TLS on memory BIOs, so that it can half-close
        self.max_message = max_message
        self.connections = 0

    async def handle(self, tcp_reader: asyncio.StreamReader, tcp_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer: Writer = tcp_writer
        try:
            reader, writer = await server_side(tcp_reader, tcp_writer, self.ssl_context, _HANDSHAKE_TIMEOUT)
            await self._serve(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _serve(self, reader: Reader, writer: Writer) -> None:
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

    async def _read_request(self, reader: Reader, writer: Writer) -> tuple[Request, bytes] | None:
        try:
            request, _, leftover = await read_http_head(reader, parse_request, _HANDSHAKE_TIMEOUT)
        except HeadIncomplete as exc:
            if exc.kind == "invalid":
                body = f"Bad request: {exc.detail}\n".encode()
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                             b"Connection: close\r\n\r\n" + body)
                await writer.drain()
            return None
        return request, leftover

    async def _echo_loop(self, conn: Connection, reader: Reader, writer: Writer) -> None:
        while True:
            self._answer(conn)
            out = conn.data_to_send()
            if out:
                writer.write(out)
                await writer.drain()
            if conn.state is State.CLOSED:
                await lingering_close(reader, writer)  # the server closes TCP first (§7.1.1)
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
                # the octets as received (validated UTF-8 for text): no second encoding
                conn.send_message(e.data, text=e.opcode is Opcode.TEXT)


async def serve_echo(
    host: str, port: int, *, deflate: bool = False, ssl_context: ssl.SSLContext | None = None,
    ready: asyncio.Future[int] | None = None,
) -> None:
    """Serve until cancelled; `ready` receives the bound port (useful with port 0)."""
    server_obj = EchoServer(deflate=deflate, ssl_context=ssl_context)
    server = await asyncio.start_server(server_obj.handle, host, port,
                                        limit=_READ, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready.set_result(bound)
    async with server:
        await server.serve_forever()
