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
from typing import Any

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
_SLICE = 1 << 13  # octets fed to the engine at once: a flood of tiny frames costs ~20 us each (30.8.4)
_HANDSHAKE_TIMEOUT = 10.0  # TLS handshake
# Documented limits (docs/resources.md): the opening handshake must arrive whole within
# HANDSHAKE_TIMEOUT (else 408), its head within MAX_HEAD octets and MAX_HEADERS lines (else 431).
HANDSHAKE_TIMEOUT = 5.0
MAX_HEAD = 16384
MAX_HEADERS = 100
_CLOSE_TIMEOUT = 5.0


class EchoServer:
    """Echoes every message back with the same type; permessage-deflate when `deflate`."""

    def __init__(self, *, deflate: bool = False, max_message: int = 64 * 1024 * 1024,
                 ssl_context: ssl.SSLContext | None = None, max_head: int = MAX_HEAD,
                 max_headers: int = MAX_HEADERS, handshake_timeout: float = HANDSHAKE_TIMEOUT) -> None:
        self.deflate = deflate
        self.max_head = max_head
        self.max_headers = max_headers
        self.handshake_timeout = handshake_timeout
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
        def parse(buf: bytes) -> tuple[Request, int] | None:
            return parse_request(buf, max_head=self.max_head, max_headers=self.max_headers)

        try:
            request, _, leftover = await read_http_head(reader, parse, self.handshake_timeout)
        except HeadIncomplete as exc:
            if exc.kind == "invalid":
                large = "limit" in exc.detail or "within" in exc.detail
                await _refuse(reader, writer, 431 if large else 400, exc.detail)
            elif exc.kind == "timeout":  # RFC 9110 §15.5.9: 408, the server would not wait any longer
                await _refuse(reader, writer, 408, f"no complete request within {self.handshake_timeout:g} s")
            return None
        return request, leftover

    async def _echo_loop(self, conn: Connection, reader: Reader, writer: Writer) -> None:
        while True:
            await self._flush(conn, writer)
            if conn.state is State.CLOSED:
                await lingering_close(reader, writer)  # the server closes TCP first (§7.1.1)
                return
            timeout = _CLOSE_TIMEOUT if conn.state is State.CLOSING else None
            try:
                data = await asyncio.wait_for(reader.read(_READ), timeout)
            except TimeoutError:
                return
            if not data:
                conn.receive_data(data)
                self._answer(conn)
                return
            for i in range(_SLICE, len(data), _SLICE):  # all but the last slice; the loop's top answers that
                conn.receive_data(data[i - _SLICE : i])
                await self._flush(conn, writer)
                await asyncio.sleep(0)  # one slice's work at a time: other connections get their turn
            conn.receive_data(data[(len(data) - 1) // _SLICE * _SLICE :])

    async def _flush(self, conn: Connection, writer: Writer) -> None:
        """Answer what came in and wait until the answers drained: a peer that does not read stops
        this server from reading (back-pressure, docs/resources.md 30.8) instead of filling its memory."""
        self._answer(conn)
        out = conn.data_to_send()
        if out:
            writer.write(out)
            await writer.drain()

    @staticmethod
    def _answer(conn: Connection) -> None:
        for e in conn.events():
            if isinstance(e, ev.Message) and conn.state is State.OPEN:
                # the octets as received (validated UTF-8 for text): no second encoding
                conn.send_message(e.data, text=e.opcode is Opcode.TEXT)


_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}


async def _refuse(reader: Reader, writer: Writer, status: int, why: str) -> None:
    """Answer `status` and close lingering, so that the answer is not lost to a reset while the
    client is still sending (a request too large is refused before it has all arrived)."""
    body = f"{_REASONS[status]}: {why}\n".encode()
    writer.write(f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: text/plain\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    with contextlib.suppress(ConnectionError, OSError):
        await writer.drain()
    await lingering_close(reader, writer)


async def serve_echo(
    host: str, port: int, *, deflate: bool = False, ssl_context: ssl.SSLContext | None = None,
    ready: asyncio.Future[int] | None = None, **limits: Any,
) -> None:
    """Serve until cancelled; `ready` receives the bound port (useful with port 0). `limits`:
    max_message, max_head, max_headers, handshake_timeout (EchoServer's)."""
    server_obj = EchoServer(deflate=deflate, ssl_context=ssl_context, **limits)
    server = await asyncio.start_server(server_obj.handle, host, port,
                                        limit=_READ, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready.set_result(bound)
    async with server:
        await server.serve_forever()
