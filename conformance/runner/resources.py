"""The resource group on the wire: floods, deflate bombs, hostile requests, and the watch around a case.

Everything is generated lazily: a flood is written in batches of at most 64 KiB, a bomb is one
compressed unit repeated (its inflated size is never built), a request of many megabytes is cut
into `chunk`-sized pieces as it is written. What each step did and how the peer reacted goes into
`trace.measurements["attack"]`; `runner/watched.py` adds the server's figures (`server`) and the
liveness probe (`alive`); runner/limits.py judges them.
"""

from __future__ import annotations

__all__ = ["CASE_TARGET", "bomb_payload", "request_chunks", "run_resource_step"]

import asyncio
import contextlib
import contextvars
import time
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from conformance.catalog.resources import Bomb, Flood, Request
from conformance.engine.handshake import ClientHandshake
from conformance.errors import TargetError
from conformance.runner.trace import EchoFailure, StepsStopped
from conformance.targets.tcp import ServerTarget, open_connection
from conformance.targets.watch import probe_handshake
from conformance.wire.frames import Frame, Opcode
from conformance.wire.uri import WebSocketURI

if TYPE_CHECKING:
    from conformance.runner.context import Session as _Session

_BATCH = 1 << 16
_UNIT = 1 << 20  # inflated octets per compressed unit of a bomb
# the target of the case being run (set by runner/watched.py), for the steps that open a second connection
CASE_TARGET: contextvars.ContextVar[ServerTarget | None] = contextvars.ContextVar("resource_target", default=None)


# -- steps -------------------------------------------------------------------------------------------

async def run_resource_step(s: _Session, step: Flood | Bomb | Request) -> bool:
    """One resource step; False when the steps end here (the peer closed)."""
    match step:
        case Flood():
            return await _flood(s, step)
        case Bomb():
            return await _bomb(s, step)
        case Request():
            return await _request(s, step)



def _record(s: _Session, fact: dict[str, Any]) -> None:
    s.trace.measurements.setdefault("attack", []).append(fact)


async def _reaction(s: _Session, within: float, why: str) -> tuple[str, float]:
    """What the peer did after the attack: "closed", "pong" (it read everything and stayed open)
    or "timeout" (neither within `within` s), and after how long."""
    t0 = time.monotonic()
    if s.trace.peer_closed:
        return "closed", 0.0
    if s.can_sync():
        closed = await s.wait_for(lambda: s.trace.peer_closed, within)
        return ("closed" if closed else "timeout"), round(time.monotonic() - t0, 4)
    outcome = await s.sync(within, why)
    return outcome, round(time.monotonic() - t0, 4)


async def _flood(s: _Session, step: Flood) -> bool:
    assert s.conn is not None
    if not step.read:
        return await _unread_flood(s, step)
    t = s.trace
    frame = Frame(step.opcode, step.payload.materialize(), step.fin)
    t.log("tx", "event", text=f"flood: {step.count} {step.opcode.name} frames of {len(frame.data)} octets, "
          f"fin={int(step.fin)}, pace {step.pace:g} s")
    sent = octets = 0
    batch = bytearray()
    t0 = time.monotonic()
    was, t.logging = t.logging, False
    try:
        for i in range(step.count):
            s.conn.send_frame(frame)
            batch += s.conn.data_to_send()
            sent += 1
            if step.pace or len(batch) >= _BATCH or i + 1 == step.count:
                octets += len(batch)
                ok = await s.write(bytes(batch))
                batch.clear()
                if not ok or t.peer_closed:
                    break
                if step.pace:
                    await asyncio.sleep(step.pace)
    finally:
        t.logging = was
    seconds = round(time.monotonic() - t0, 4)
    reaction, after = await _reaction(s, step.within, "after the flood")
    _record(s, {"step": "flood", "frames": sent, "octets": octets, "seconds": seconds,
                "reaction": reaction, "reaction_s": after, "within": step.within})
    return not t.peer_closed


# -- a peer that never reads -------------------------------------------------------------------------

async def _unread_flood(s: _Session, step: Flood) -> bool:
    """The flood with the suite's reading stopped: the server's answers (echoes, pongs) can only
    pile up in its own buffers. A careful server stops reading when it cannot write (back-pressure:
    the suite's writes stall) or closes; one that reads on buffers its answers, which the watch sees
    as memory. Another client is served meanwhile, or the server hung on the stuck connection."""
    assert s.conn is not None and s.writer is not None
    t = s.trace
    if not await _stop_reading(s):
        t.steps_stopped = StepsStopped(s.case.steps.index(step) + 1, step.key, peer_closed=False,
                                       detail="this transport cannot stop reading")
        return False
    frame = Frame(step.opcode, step.payload.materialize(), step.fin)
    t.log("tx", "event", text=f"flood without reading: {step.count} {step.opcode.name} frames of "
          f"{len(frame.data)} octets; the suite reads nothing from here on")
    t0 = time.monotonic()
    was, t.logging = t.logging, False
    try:
        sent, total, reaction = await _write_unread(s, frame, step)
    finally:
        t.logging = was
    seconds = round(time.monotonic() - t0, 4)
    octets = max(0, total - s.writer.transport.get_write_buffer_size())  # what left the suite
    fact: dict[str, Any] = {"step": "flood", "read": False, "frames": sent, "octets": octets,
                            "seconds": seconds, "reaction": reaction, "within": step.within}
    target = CASE_TARGET.get()
    if target is not None and reaction != "closed":  # others are served while this connection is stuck
        live = await probe_handshake(target, 3.0)
        fact["probe_during"] = {"ok": live.ok, "seconds": live.seconds, "detail": live.detail}
    _record(s, fact)
    _drop(s, reaction)
    return False


async def _stop_reading(s: _Session) -> bool:
    """Stop the background reader and the transport's reading: what the server sends stays in the
    kernel's buffers (a window that closes), never in the suite's memory."""
    transport = getattr(s.writer, "transport", None)
    if transport is None or not hasattr(transport, "pause_reading"):
        return False
    if s.task is not None:
        s.task.cancel()
        await asyncio.wait([s.task])
    transport.pause_reading()
    return True


async def _write_unread(s: _Session, frame: Frame, step: Flood) -> tuple[int, int, str]:
    """(frames written, octets written, reaction): "stalled" when a write made no progress for `within` s (the
    server stopped reading: back-pressure), "closed" when the connection failed, "read" when the
    server took everything."""
    assert s.conn is not None and s.writer is not None
    sent = total = 0
    batch = bytearray()
    for i in range(step.count):
        s.conn.send_frame(frame)
        batch += s.conn.data_to_send()
        sent += 1
        if len(batch) < _BATCH and i + 1 < step.count:
            continue
        total += len(batch)
        try:
            s.writer.write(bytes(batch))
            batch.clear()
            await asyncio.wait_for(s.writer.drain(), step.within)
        except TimeoutError:
            return sent, total, "stalled"
        except (ConnectionError, OSError):
            s.trace.reset = True
            return sent, total, "closed"
    return sent, total, "read"


def _drop(s: _Session, reaction: str) -> None:
    """End the connection the suite stopped reading: a reset (nothing it holds can be read any more)."""
    assert s.writer is not None
    t = s.trace
    t.log("tx", "event", text=f"the flood ended ({reaction}); the suite resets the connection it never read")
    t.dropped_by_me = True
    if t.eof_first is None:
        t.eof_first = False
    t.eof = True  # the connection is over: nothing more to read or to wait for
    s.writer.transport.abort()


def bomb_payload(inflated: int) -> bytes:
    """A permessage-deflate payload (RFC 7692 §7.2.1: the trailing 00 00 ff ff removed) that
    inflates to `inflated` zero octets: one fully flushed unit of 1 MiB, repeated, then the rest.
    A full flush leaves the compressor as it started, so every unit is the same octets."""
    whole, rest = divmod(inflated, _UNIT)
    unit = _deflate(_UNIT) if whole else b""
    tail = _deflate(rest) if rest else b""
    data = unit * whole + tail
    return data[:-4] if data.endswith(b"\x00\x00\xff\xff") else data


def _deflate(n: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -9)  # window 2^9 fits any negotiated window (9-15)
    return c.compress(bytes(n)) + c.flush(zlib.Z_FULL_FLUSH)


async def _bomb(s: _Session, step: Bomb) -> bool:
    assert s.conn is not None
    t = s.trace
    if s.deflate is None:
        t.echo_failure = EchoFailure("not-negotiated")  # the bomb needs permessage-deflate
        return False
    data = await asyncio.to_thread(bomb_payload, step.inflated)
    size = step.fragment or len(data)
    pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    t.log("tx", "event", text=f"bomb: {len(data)} compressed octets that inflate to {step.inflated}, "
          f"in {len(pieces)} frames")
    t0 = time.monotonic()
    was, t.logging = t.logging, False
    octets = 0
    try:
        for i, piece in enumerate(pieces):
            first, last = i == 0, i + 1 == len(pieces)
            s.conn.send_frame(Frame(step.opcode if first else Opcode.CONT, piece, last, first))
            out = s.conn.data_to_send()
            octets += len(out)
            if not await s.write(out) or t.peer_closed:
                break
    finally:
        t.logging = was
    seconds = round(time.monotonic() - t0, 4)
    reaction, after = await _reaction(s, step.within, "after the bomb")
    _record(s, {"step": "bomb", "inflated": step.inflated, "octets": octets, "frames": len(pieces),
                "seconds": seconds, "reaction": reaction, "reaction_s": after, "within": step.within})
    return not t.peer_closed


# -- hostile requests --------------------------------------------------------------------------------

def request_chunks(uri: WebSocketURI, step: Request) -> Iterator[bytes]:
    """The request `step` describes, in pieces of `chunk` octets (64 KiB when 0). Incomplete
    requests end without the blank line; the caller trickles more header octets after them."""
    size = step.chunk or _BATCH
    buf = bytearray()
    for part in _request_parts(uri, step):
        buf += part
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


def _request_parts(uri: WebSocketURI, step: Request) -> Iterator[bytes]:
    req = ClientHandshake(uri).request()
    head = req.serialize()
    line, rest = head.split(b"\r\n", 1)
    method, path, version = line.split(b" ")
    yield method + b" " + path
    if step.path_size > len(path):
        yield from _repeat(b"a", step.path_size - len(path))
    yield b" " + version + b"\r\n" + rest[:-2]  # every header, without the blank line
    value = step.value.encode("latin-1")
    for i in range(step.headers):
        name = f"{step.name}-{i + 1}" if step.numbered else step.name
        yield name.encode() + b": "
        yield from _repeat(value, step.size)
        yield b"\r\n"
    if step.complete:
        yield b"\r\n"


def _repeat(unit: bytes, n: int) -> Iterator[bytes]:
    block = unit * (_BATCH // len(unit) + 1)
    while n > 0:
        piece = block[: min(n, _BATCH)]
        n -= len(piece)
        yield piece


async def _request(s: _Session, step: Request) -> bool:
    target = CASE_TARGET.get()
    if target is None:
        s.trace.steps_stopped = StepsStopped(s.case.steps.index(step) + 1, step.key, peer_closed=False,
                                             detail="a request step needs the run's target, to open a second connection")
        return False
    fact: dict[str, Any] = {"step": "request", "headers": step.headers, "size": step.size, "within": step.within}
    try:
        await _hostile(target, step, fact)
    except TargetError as exc:
        fact.update(answer="unreachable", detail=str(exc))
    _record(s, fact)
    return not s.trace.peer_closed


async def _hostile(target: ServerTarget, step: Request, fact: dict[str, Any]) -> None:
    reader, writer = await open_connection(target, 5.0)
    t0 = time.monotonic()
    answer = asyncio.create_task(_status(reader))
    octets = 0
    try:
        deadline = t0 + step.within
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            async with asyncio.timeout(step.within):
                for piece in _trickle(target.uri, step):
                    if answer.done():
                        break
                    writer.write(piece)
                    await writer.drain()
                    octets += len(piece)
                    if step.pace:
                        await asyncio.sleep(step.pace)
                        await _probe_once(target, step, fact, t0)
        fact["octets"] = octets
        fact["send_s"] = round(time.monotonic() - t0, 4)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(answer), max(0.0, deadline - time.monotonic()))
        got = answer.result() if answer.done() else None
        fact["answer"] = got if got is not None else "none"
        fact["answer_s"] = round(time.monotonic() - t0, 4)
    finally:
        answer.cancel()
        await asyncio.wait([answer], timeout=1)  # never raises: the case's own cancellation stays intact
        writer.transport.abort()


def _trickle(uri: WebSocketURI, step: Request) -> Iterator[bytes]:
    yield from request_chunks(uri, step)
    if not step.complete:  # slowloris: the head never ends
        size = step.chunk or 1
        while True:
            yield from (b"X-Slow: a\r\n"[i : i + size] for i in range(0, 11, size))


async def _probe_once(target: ServerTarget, step: Request, fact: dict[str, Any], t0: float) -> None:
    """While a slow request is under way, one other client must still be served (a hang otherwise)."""
    if "probe_during" in fact or time.monotonic() - t0 < min(1.0, step.within / 2):
        return
    fact["probe_during"] = {"ok": None}
    live = await probe_handshake(target, 3.0)
    fact["probe_during"] = {"ok": live.ok, "seconds": live.seconds, "detail": live.detail}


async def _status(reader: asyncio.StreamReader) -> int | str:
    """The status of the server's answer; "closed" if it sent FIN without a status line, "reset" if
    the connection was reset. Both count as a refusal: a server that closes with part of the request
    unread resets the connection, which can destroy a 4xx it sent just before, and whether it had
    read everything (FIN) or not (reset) is a matter of timing."""
    buf = b""
    while b"\r\n" not in buf and len(buf) < 8192:
        try:
            chunk = await reader.read(4096)
        except (ConnectionError, OSError):
            return "reset"
        if not chunk:
            return "closed"
        buf += chunk
    parts = buf.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) >= 2 and parts[1].isdigit():
        return int(parts[1])
    return "closed"
