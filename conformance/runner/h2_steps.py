"""The HTTP/2 steps of a case (RFC 8441 §5): END_STREAM without a close frame, RST_STREAM,
GOAWAY with the stream open, more WebSocket streams on the same connection, a SETTINGS frame from
the suite, and a plain GET beside the WebSocket.

Each synchronises on what the peer does: its END_STREAM or reset, the ACK of an HTTP/2 PING
(proof that the peer has processed every frame before it), or the echo on each extra stream.
"""

from __future__ import annotations

__all__ = ["run_h2_step"]

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING

from conformance.catalog.model import H2EndStream, H2Get, H2Goaway, H2Reset, H2Settings, H2Streams, Step
from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, StateError
from conformance.engine.h2rules import FRAMES_AFTER_RESET
from conformance.runner.h2_handshake import check_settings
from conformance.targets.h2 import H2Link, H2Stream
from conformance.wire.frames import Opcode

if TYPE_CHECKING:
    from conformance.runner.context import Session

_DATA, _HEADERS, _PING, _GOAWAY = 0x0, 0x1, 0x6, 0x7
_AFTER_RESET_PINGS = 4


async def run_h2_step(s: Session, step: Step) -> bool:
    stream = s.writer
    if not isinstance(stream, H2Stream):  # the steps stop here, saying why
        raise StateError(f"{step.key} needs an HTTP/2 stream (run with --http2)")
    match step:
        case H2EndStream():
            return await _end_stream(s, stream)
        case H2Reset(code=code):
            return await _reset(s, stream, code)
        case H2Goaway(code=code):
            return await _goaway(s, stream, code)
        case H2Streams():
            return await _more_streams(s, stream, step)
        case H2Settings(values=values):
            return await _settings(s, stream, dict(values))
        case H2Get(path=path):
            return await _get(s, stream, path)
    raise AssertionError(f"not an HTTP/2 step: {step!r}")


async def _end_stream(s: Session, stream: H2Stream) -> bool:
    """END_STREAM with no close frame: the counterpart of a TCP FIN without a closing handshake."""
    closing = s.trace.close_sent is not None
    s.trace.log("tx", "event", text=f"END_STREAM on stream {stream.id}"
                f"{' after our close frame' if closing else ' (no close frame)'}")
    s.trace.dropped_by_me = not closing  # after our close frame it is the half-close of §7.1.1's order
    stream.write_eof()
    await stream.drain()
    await s.wait_for(lambda: s.trace.eof or s.trace.reset, s.opts.wait)
    return False


async def _reset(s: Session, stream: H2Stream, code: int) -> bool:
    """RST_STREAM, then PINGs: frames on the stream after the first ACK were sent by a peer that
    had already processed the reset (RFC 9113 §6.4 forbids them)."""
    t, link = s.trace, stream.link
    t.log("tx", "event", text=f"RST_STREAM {code} on stream {stream.id}")
    t.dropped_by_me = True  # the suite ends the stream, as a reset ends TCP
    link.reset_stream(stream, code, end_reading=False)  # the session goes on reading until the PINGs are done
    try:
        return await _after_reset(s, stream, link)
    finally:
        link.end_reading(stream)


async def _after_reset(s: Session, stream: H2Stream, link: H2Link) -> bool:
    t = s.trace
    first = os.urandom(8)
    if not await link.ping(first, s.opts.wait):
        t.timing_notes.append(f"the peer did not acknowledge a PING within {s.opts.wait:g} s after the reset")
        return False
    # more PINGs, one after the other: each makes the peer go round its loop at least once more,
    # so that whatever it does in reaction to the reset is sent before the last ACK
    last = first
    for _ in range(_AFTER_RESET_PINGS):
        last = os.urandom(8)
        if not await link.ping(last, s.opts.wait):
            t.timing_notes.append(f"the peer did not acknowledge a PING within {s.opts.wait:g} s")
            break
    # the frames between the first and the last ACK, wherever TCP put them (one read may hold several)
    start, end = _ack_index(link, first), _ack_index(link, last)
    late = [f for f in link.frames[start + 1:end] if f[2] == stream.id and f[0] in (_DATA, _HEADERS)]
    if late:
        kinds = ", ".join("DATA" if f[0] == _DATA else "HEADERS" for f in late)
        t.violations.append((FRAMES_AFTER_RESET, f"after processing RST_STREAM on stream {stream.id} the peer "
                             f"sent {kinds} on it"))
        t.log("rx", "event", text=f"{len(late)} frame(s) on stream {stream.id} after it was reset")
    return False


def _ack_index(link: H2Link, data: bytes) -> int:
    """Where the ACK of the PING carrying `data` stands in the frames received (len() if absent)."""
    for i, (ftype, flags, _sid, body) in enumerate(link.frames):
        if ftype == _PING and flags & 0x1 and body == data:
            return i
    return len(link.frames)


async def _goaway(s: Session, stream: H2Stream, code: int) -> bool:
    """GOAWAY naming no server stream (the client's GOAWAY concerns streams the server opens);
    the WebSocket stream, opened by the client, goes on (RFC 9113 §6.8)."""
    link = stream.link
    s.trace.log("tx", "event", text=f"GOAWAY {code} with stream {stream.id} open")
    link.write_raw_frame(_GOAWAY, 0, 0, (0).to_bytes(4, "big") + code.to_bytes(4, "big"))
    await link.drain()
    return not (s.trace.eof or s.trace.reset)


async def _more_streams(s: Session, stream: H2Stream, step: H2Streams) -> bool:
    """`count` more WebSocket streams at once on this connection, a message echoed on each."""
    link, t = stream.link, s.trace
    payload = step.payload.materialize()
    check_settings(s, link)  # RFC 8441 §3: still 1, so new extended CONNECTs may be sent
    t.log("tx", "event", text=f"opening {step.count} more WebSocket streams on the connection")
    results = await asyncio.gather(*(_one_stream(link, stream.request, payload, s.opts.wait * 2)
                                     for _ in range(step.count)))
    for got in results:
        t.observations.append(got)
        t.observed_octets += len(got[1])
    return True


async def _one_stream(link: H2Link, request: list[tuple[bytes, bytes]], payload: bytes,
                      timeout: float) -> tuple[str, bytes | str]:
    """Open, send `payload` as text, wait for the echo, close; the observation made."""
    try:
        async with asyncio.timeout(timeout):
            st = link.open_stream(request)
            await st.headers_ready.wait()
            status = dict(st.headers).get(b":status", b"")
            if not status.startswith(b"2"):
                return ("refused", f"stream {st.id}: :status {status.decode('latin-1') or 'none'}")
            conn = Connection(Role.CLIENT)
            conn.send_message(payload.decode("utf-8"), text=True)
            st.write(conn.data_to_send())
            await st.drain()
            echo = await _first_message(conn, st)
            conn.close(1000)
            st.write(conn.data_to_send())
            await st.drain()
            st.write_eof()
            return echo
    except (TimeoutError, ConnectionError, OSError, UnicodeDecodeError) as exc:
        return ("failed", f"{type(exc).__name__}: {exc}")


async def _first_message(conn: Connection, st: H2Stream) -> tuple[str, bytes | str]:
    while True:
        for e in conn.events():
            if isinstance(e, ev.Message):
                return ("text" if e.opcode is Opcode.TEXT else "binary", e.data)
            if isinstance(e, (ev.CloseReceived, ev.Failure)):
                return ("closed", str(e))
        data = await st.read()
        if not data:
            return ("closed", "END_STREAM before the echo")
        conn.receive_data(data)


async def _settings(s: Session, stream: H2Stream, values: dict[int, int]) -> bool:
    """A SETTINGS frame, then a PING: its ACK comes once the peer has processed the SETTINGS
    (RFC 9113 §6.5.3: the values apply on receipt, frame by frame)."""
    link, t = stream.link, s.trace
    shown = ", ".join(f"{k}={v}" for k, v in values.items())
    try:
        link.conn.update_settings(values)
    except Exception as exc:  # h2's own checks of a value: the case asks for something HTTP/2 forbids
        raise StateError(f"h2_settings {{{shown}}}: {exc}") from None
    link.flush()
    t.log("tx", "event", text=f"SETTINGS {shown} on the connection")
    if not await link.ping(os.urandom(8), s.opts.wait):
        t.timing_notes.append(f"the peer did not acknowledge a PING within {s.opts.wait:g} s after the SETTINGS")
    return not (s.trace.eof or s.trace.reset or link.closed.is_set())


async def _get(s: Session, stream: H2Stream, path: str) -> bool:
    """A plain GET on a new stream; what it gets is logged; the WebSocket stream goes on."""
    link, t = stream.link, s.trace
    fields = dict(stream.request)
    request = [(b":method", b"GET"), (b":scheme", fields.get(b":scheme", b"http")), (b":path", path.encode()),
               (b":authority", fields.get(b":authority", b"127.0.0.1"))]
    get = link.open_stream(request, end_stream=True)
    t.log("tx", "event", text=f"GET {path} on stream {get.id}, beside the WebSocket on stream {stream.id}")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(get.headers_ready.wait(), s.opts.wait)
    status = dict(get.headers).get(b":status")
    answer = (f":status {status.decode('latin-1')}" if status else
              f"a reset ({get.reset_code})" if get.reset_code is not None else "no answer")
    t.log("rx", "event", text=f"stream {get.id}: {answer}")
    return not (s.trace.eof or s.trace.reset or link.closed.is_set())
