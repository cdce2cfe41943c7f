"""The reference echo server over HTTP/2 (RFC 8441): `conformance echo-server --http2`.

It advertises SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (§3), accepts an extended CONNECT with
`:protocol websocket` (§4) by answering `:status 200` (§5), and echoes every message on the
stream with the engine, as the HTTP/1.1 reference does. After the closing handshake it ends its
stream (END_STREAM, the counterpart of TCP's FIN) and keeps reading until the client ends its own.
Many WebSocket streams share one connection; each is served on its own.
"""

from __future__ import annotations

__all__ = ["MALFORMED", "H2EchoServer", "check_connect", "serve_h2_echo"]

import asyncio
import contextlib
import ssl

import h2.errors

from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State
from conformance.engine.deflate import OfferSelector, negotiated_codec
from conformance.targets.h2 import H2Link, H2Stream
from conformance.wire.extheader import ExtensionHeaderError, parse_extensions, serialize_extensions
from conformance.wire.frames import Opcode

_READ = 1 << 16
_CLOSE_TIMEOUT = 5.0
_LINGER = 2.0
Headers = list[tuple[bytes, bytes]]


MALFORMED = -1  # check_connect: reset the stream with PROTOCOL_ERROR (RFC 9113 §8.1.1)
# connection-specific fields, which make an HTTP/2 request malformed (RFC 9113 §8.2.2)
_CONNECTION_SPECIFIC = {"connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade"}
_REQUEST_PSEUDO = {":method", ":scheme", ":path", ":authority", ":protocol"}


def check_connect(headers: Headers) -> tuple[int, str]:
    """(0, "") for an acceptable WebSocket extended CONNECT, else the refusal status (or
    MALFORMED) and why."""
    malformed = _malformed(headers)
    if malformed:
        return MALFORMED, malformed
    h: dict[str, str] = {}
    for k, v in headers:
        h.setdefault(k.decode("latin-1"), v.decode("latin-1"))
    if h.get(":method") != "CONNECT" or ":protocol" not in h:
        return 400, "this server only serves WebSocket over extended CONNECT (RFC 8441 §4)"
    if h[":protocol"] != "websocket":
        return 501, f"protocol {h[':protocol']!r} is not served here (RFC 8441 §4)"
    missing = [p for p in (":scheme", ":path", ":authority") if not h.get(p)]
    if missing:
        return MALFORMED, f"an extended CONNECT carries {', '.join(missing)} (RFC 8441 §4, RFC 9113 §8.5)"
    if h.get("sec-websocket-version") != "13":
        return 400, "Sec-WebSocket-Version must be 13 (RFC 6455 §4.2.1, RFC 8441 §5)"
    return 0, ""


def _malformed(headers: Headers) -> str:
    """Why the field block is malformed (RFC 9113 §8.2-§8.3), or ""."""
    seen: set[bytes] = set()
    regular = False
    for k, v in headers:
        name = k.decode("latin-1")
        if name != name.lower():
            return f"field name {name!r} is not lower case (RFC 9113 §8.2.1)"
        if any(c in v for c in b"\r\n\0"):
            return f"the value of {name} holds CR, LF or NUL (RFC 9113 §8.2.1)"
        if name.startswith(":"):
            if regular or name not in _REQUEST_PSEUDO or k in seen:
                return f"pseudo-header field {name} is misplaced, unknown or repeated (RFC 9113 §8.3)"
            seen.add(k)
        else:
            regular = True
            if name in _CONNECTION_SPECIFIC or (name == "te" and v.lower() != b"trailers"):
                return f"{name} is a connection-specific field (RFC 9113 §8.2.2)"
    return ""


class H2EchoServer:
    """Echoes every message back with the same type; permessage-deflate when `deflate`."""

    malformed_code = int(h2.errors.ErrorCodes.PROTOCOL_ERROR)  # the stream error of a malformed request

    def __init__(self, *, deflate: bool = False, max_message: int = 64 * 1024 * 1024) -> None:
        self.deflate = deflate
        self.max_message = max_message
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = self.make_link(reader, writer)
        try:
            link.start()
            await self.serve_streams(link)
        finally:
            link.close_soon()
            await link.wait_closed()

    async def serve_streams(self, link: H2Link) -> None:
        """Serve each request stream of `link` on its own until the connection ends (an HTTP/3
        link too: conformance/targets/h3_server.py)."""
        tasks: set[asyncio.Task[None]] = set()
        try:
            while (stream := await link.incoming.get()) is not None:
                task = asyncio.create_task(self._serve_stream(link, stream))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in list(tasks):
                task.cancel()

    def make_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> H2Link:
        """The server's side of one connection: it advertises SETTINGS_ENABLE_CONNECT_PROTOCOL = 1."""
        return H2Link(reader, writer, client=False, connect_protocol=1, validate_inbound=False, survive_goaway=True)

    async def _serve_stream(self, link: H2Link, stream: H2Stream) -> None:
        status, why = check_connect(stream.headers)
        if status == MALFORMED:
            link.reset_stream(stream, self.malformed_code)
            return
        if status:
            extra = [(b"sec-websocket-version", b"13")] if "Version" in why else []
            link.respond(stream, [(b":status", str(status).encode()), *extra], end_stream=True)
            return
        selector = OfferSelector() if self.deflate else None
        answer: Headers = [(b":status", b"200")]
        agreed = self._extensions(stream.headers, selector)
        if agreed:
            answer.append((b"sec-websocket-extensions", agreed.encode("latin-1")))
        link.respond(stream, answer)
        codec = None
        if selector is not None and selector.agreed is not None:
            codec = negotiated_codec(selector.agreed, "server", self.max_message)
        conn = Connection(Role.SERVER, deflate=codec, max_message=self.max_message)
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await _echo_loop(conn, stream)

    @staticmethod
    def _extensions(headers: Headers, selector: OfferSelector | None) -> str:
        if selector is None:
            return ""
        values = [v.decode("latin-1") for k, v in headers if k.lower() == b"sec-websocket-extensions"]
        try:
            chosen = selector(parse_extensions(values))
        except ExtensionHeaderError:
            return ""  # a malformed offer is declined, never an error
        return serialize_extensions(chosen) if chosen else ""


async def _echo_loop(conn: Connection, stream: H2Stream) -> None:
    while True:
        _answer(conn)
        out = conn.data_to_send()
        if out:
            stream.write(out)
            await stream.drain()
        if conn.state is State.CLOSED:
            await _lingering_end(stream)  # the server ends first, as it closes TCP first (§7.1.1)
            return
        timeout = _CLOSE_TIMEOUT if conn.state is State.CLOSING else None
        data = await asyncio.wait_for(stream.read(_READ), timeout)
        conn.receive_data(data)
        if not data:  # END_STREAM without a close frame: end ours too
            _answer(conn)
            stream.write_eof()
            await stream.drain()
            return


def _answer(conn: Connection) -> None:
    for e in conn.events():
        if isinstance(e, ev.Message) and conn.state is State.OPEN:
            if e.opcode is Opcode.TEXT:
                conn.send_message(e.text if e.text is not None else e.data, text=True)
            else:
                conn.send_message(e.data, text=False)


async def _lingering_end(stream: H2Stream) -> None:
    """END_STREAM, then read and drop what the client still sends until it ends its stream."""
    stream.write_eof()
    with contextlib.suppress(TimeoutError, ConnectionError, OSError):
        await stream.drain()
        async with asyncio.timeout(_LINGER):
            while await stream.read(_READ):
                pass


async def serve_h2_echo(
    host: str, port: int, *, deflate: bool = False, ssl_context: ssl.SSLContext | None = None,
    ready: asyncio.Future[int] | None = None,
) -> None:
    """Serve until cancelled; `ready` receives the bound port (useful with port 0)."""
    server_obj = H2EchoServer(deflate=deflate)
    server = await asyncio.start_server(server_obj.handle, host, port, ssl=ssl_context,
                                        limit=_READ, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready.set_result(bound)
    async with server:
        await server.serve_forever()
