"""The reference echo client: drives a `conformance serve` (or Autobahn fuzzingserver) run.

It asks for the case count, connects once per case to /runCase, echoes every message with the
same type, follows every rule of the engine (it fails the connection when the server breaks one,
and rejects bad handshake responses), waits for the server to close TCP after the closing
handshake, and asks for the reports at the end.
"""

from __future__ import annotations

__all__ = ["run_echo_client"]

import asyncio
import contextlib
import ssl
from typing import Any

from conformance.engine import deflate as d
from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State
from conformance.engine.handshake import ClientHandshake
from conformance.engine.rules import ProtocolError
from conformance.errors import WireError
from conformance.targets.streams import HeadIncomplete, Reader, open_stream, read_http_head
from conformance.wire.frames import Opcode
from conformance.wire.http import parse_response
from conformance.wire.uri import WebSocketURI, parse_uri

_READ = 1 << 16
_OFFER = [{"client_max_window_bits": True}]


async def run_echo_client(url: str, agent: str, timeout: float = 30.0,
                          ssl_context: ssl.SSLContext | None = None) -> int:
    """Run every case the server offers; returns the number of cases run. A wss:// `url` is
    reached over TLS with `ssl_context` (the trust it needs: a CA file, or no verification)."""
    base = url.rstrip("/")
    count = await _case_count(base, timeout, ssl_context)
    for n in range(1, count + 1):
        with contextlib.suppress(ConnectionError, OSError, TimeoutError, WireError, ProtocolError):
            uri = parse_uri(f"{base}/runCase?case={n}&agent={agent}")
            await asyncio.wait_for(_run_case(uri, ssl_context), timeout)
    with contextlib.suppress(ConnectionError, OSError, TimeoutError, WireError, ProtocolError):
        await _fetch_text(f"{base}/updateReports?agent={agent}", timeout, ssl_context, need_text=False)
    return count


async def _case_count(base: str, timeout: float, ssl_context: ssl.SSLContext | None) -> int:
    """The count from /getCaseCount; ConnectionError (with the reason) when there is none."""
    url = f"{base}/getCaseCount"
    try:
        text = await _fetch_text(url, timeout, ssl_context)
    except (WireError, ProtocolError) as exc:
        raise ConnectionError(f"{url}: {exc}") from None
    try:
        return int(text)
    except ValueError:
        raise ConnectionError(f"{url} answered {text[:40]!r}, not a case count") from None


async def _open(uri: WebSocketURI, deflate: bool, ssl_context: ssl.SSLContext | None
                ) -> tuple[Reader, asyncio.StreamWriter, Connection]:
    tls = (ssl_context or ssl.create_default_context()) if uri.secure else None
    reader, writer = await open_stream(uri.host, uri.port, limit=_READ, ssl=tls)  # keeps frames sent before a reset
    offer = d.client_offer(_OFFER) if deflate else None
    shake = ClientHandshake(uri, extensions=offer)
    writer.write(shake.request().serialize())
    try:
        response, _, leftover = await read_http_head(reader, parse_response, None)
    except HeadIncomplete as exc:
        writer.close()
        if exc.kind == "invalid":
            raise WireError(exc.detail) from None
        raise ConnectionError(f"no complete handshake response ({exc.kind})") from None
    try:
        result = shake.check_response(response)
        codec = _negotiate(result) if deflate else None
    except ProtocolError:
        writer.close()  # §4.1: a client fails the connection on a bad response
        raise
    conn = Connection(Role.CLIENT, deflate=codec)
    if leftover:
        conn.receive_data(leftover)
    return reader, writer, conn


def _negotiate(result: object) -> Any:
    answered = [p for name, p in getattr(result, "extensions", []) if name == "permessage-deflate"]
    if not answered:
        return None
    offered = [d.parse_offer([(k, None if v is True else str(v)) for k, v in o.items()]) for o in _OFFER]
    params = d.client_accept(answered[0], offered)
    return d.negotiated_codec(params, "client", None)


async def _run_case(uri: WebSocketURI, ssl_context: ssl.SSLContext | None) -> None:
    reader, writer, conn = await _open(uri, True, ssl_context)
    try:
        await _echo(reader, writer, conn)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1)


async def _echo(reader: Reader, writer: asyncio.StreamWriter, conn: Connection) -> None:
    while True:
        for e in conn.events():
            if isinstance(e, ev.Message) and conn.state is State.OPEN:
                conn.send_message(e.text if e.opcode is Opcode.TEXT and e.text is not None else e.data,
                                  text=e.opcode is Opcode.TEXT)
        out = conn.data_to_send()
        if out:
            writer.write(out)
            await writer.drain()
        if conn.state is State.CLOSED:
            # §7.1.1: the server closes TCP first; wait for it a while, then close ourselves.
            with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                while await asyncio.wait_for(reader.read(_READ), 2.0):
                    pass
            return
        data = await reader.read(_READ)
        conn.receive_data(data)
        if not data:
            return


async def _fetch_text(url: str, timeout: float, ssl_context: ssl.SSLContext | None, *,
                      need_text: bool = True) -> str:
    """Connect, read the first text message, answer the close.

    Once the message is in, however the server ends the connection (its close frame, EOF, or a
    reset as Autobahn's fuzzingserver does, even before our close reply) is a normal end; an
    end before the message raises ConnectionError.
    """
    async def go() -> str:
        reader, writer, conn = await _open(parse_uri(url), False, ssl_context)
        got: list[str] = []
        try:
            await _converse(reader, writer, conn, got)
        except (ConnectionError, OSError) as exc:
            if need_text and not got:
                raise ConnectionError(f"the connection ended before the server sent a message: {exc}") from None
        finally:
            writer.close()
        if need_text and not got:
            raise ConnectionError("the server closed the connection without sending a message")
        return got[0] if got else ""

    return await asyncio.wait_for(go(), timeout)


async def _converse(reader: Reader, writer: asyncio.StreamWriter, conn: Connection,
                    got: list[str]) -> None:
    """Collect text messages into `got` and answer the server until the connection ends."""
    while True:
        for e in conn.events():
            if isinstance(e, ev.Message) and e.text is not None:
                got.append(e.text)
        out = conn.data_to_send()
        if out:
            writer.write(out)
            await writer.drain()
        if conn.state is State.CLOSED:
            return
        data = await reader.read(_READ)
        conn.receive_data(data)
        if not data:
            for e in conn.events():
                if isinstance(e, ev.Message) and e.text is not None:
                    got.append(e.text)
            return
