"""Messages of exactly the server's own limit, compressed (group 30.9, docs/resources.md).

The limit is the largest uncompressed message the server accepts. The user may state it
(`--server-max-message N`); otherwise it is probed once per run and server: a message of 4 KiB,
8 KiB, ... until one is refused (or `upper` is accepted: no limit to test), then a bisection
between the largest accepted and the smallest refused size, each attempt on a new connection
(at most 64). An attempt sends one binary message of zeros and reads only the first frame of the
answer: a data frame means accepted (the echo begins), a close frame or the end of the connection
means refused; then the connection is dropped. The suite holds one 64 KiB write of it: the
masked payload of zeros is the masking key repeated.

Then a compressed message that inflates to the limit + `offset` must get what the uncompressed
one of that size got (offset <= 0: accepted, > 0: refused). A limit checked on the compressed
size accepts +1 and +2; one off by one in the inflating path accepts +1 or refuses the limit itself.
"""

from __future__ import annotations

__all__ = ["LimitProbe", "attempt", "find_limit", "limit_of", "run_exact_limit"]

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from conformance.catalog.resources import ExactLimit
from conformance.engine.handshake import ClientHandshake
from conformance.engine.rules import ProtocolError
from conformance.errors import TargetError, WireError
from conformance.runner.resources import CASE_TARGET, bomb_payload
from conformance.runner.trace import StepsStopped
from conformance.targets.streams import HeadIncomplete, read_http_head
from conformance.targets.tcp import ServerTarget, open_connection
from conformance.wire.frames import Frame, Opcode, parse_header, serialize_frame, serialize_header
from conformance.wire.http import parse_response

if TYPE_CHECKING:
    from conformance.runner.context import Session as _Session

_BATCH = 1 << 16
_FIRST = 4096
_MAX_ATTEMPTS = 64
_OFFER = "permessage-deflate; client_max_window_bits"


@dataclasses.dataclass(frozen=True)
class LimitProbe:
    """What the probe found: `limit` the largest size accepted (None: none found up to `upper`, or
    the probe could not finish: `detail` says why); `attempts` (size, reaction) in order; `octets`
    the suite sent; `stated` when the user gave the limit."""

    limit: int | None
    attempts: tuple[tuple[int, str], ...] = ()
    octets: int = 0
    seconds: float = 0.0
    stated: bool = False
    detail: str = ""


# -- one attempt -------------------------------------------------------------------------------------

async def attempt(target: ServerTarget, size: int, within: float, compressed: bytes | None = None) -> tuple[str, int]:
    """(reaction, octets sent) for one binary message of `size` zero octets on a new connection,
    sent as it is or, with `compressed`, as that permessage-deflate payload. Reactions: "accepted",
    "refused <code>" (a close frame), "closed" (EOF), "reset", "none" (nothing within `within`),
    "not-negotiated" (permessage-deflate was not agreed), or "handshake: <why>"."""
    reader, writer = await open_connection(target, 5.0)
    try:
        hs = ClientHandshake(target.uri, extensions=_OFFER if compressed is not None else None)
        writer.write(hs.request().serialize())
        await writer.drain()
        try:
            response, _, leftover = await read_http_head(reader, parse_response, within)
            result = hs.check_response(response)
        except (HeadIncomplete, ProtocolError, WireError) as exc:
            return f"handshake: {exc}", 0
        if compressed is not None and not any(n.lower() == "permessage-deflate" for n, _ in result.extensions):
            return "not-negotiated", 0
        answer = asyncio.create_task(_first_frame(reader, leftover))
        try:
            octets = await _send(writer, size, compressed, answer)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(answer), within)
            return (answer.result() if answer.done() else "none"), octets
        finally:
            answer.cancel()
            await asyncio.wait([answer], timeout=1)
    finally:
        writer.transport.abort()


async def _send(writer: asyncio.StreamWriter, size: int, compressed: bytes | None,
                answer: asyncio.Task[str]) -> int:
    """Write the message; stop early once the server has answered (a refusal needs no more)."""
    key = os.urandom(4)
    if compressed is not None:
        data = serialize_frame(Frame(Opcode.BINARY, compressed, True, True), mask=key)
        pieces: Iterable[bytes] = (data[i : i + _BATCH] for i in range(0, len(data), _BATCH))
    else:
        pieces = _zeros(size, key)
    octets = 0
    try:
        for piece in pieces:
            if answer.done():
                break
            writer.write(piece)
            await writer.drain()
            octets += len(piece)
    except (ConnectionError, OSError):
        pass  # the server dropped the connection: its reaction says how
    return octets


def _zeros(size: int, key: bytes) -> Iterator[bytes]:
    """A masked binary frame of `size` zero octets, in writes of 64 KiB: zeros masked are the key."""
    yield serialize_header(opcode=Opcode.BINARY, length=size, mask=key)
    block = key * (_BATCH // 4)
    while size > 0:
        piece = block[: min(size, _BATCH)]
        size -= len(piece)
        yield piece


async def _first_frame(reader: asyncio.StreamReader, buf: bytes) -> str:
    """The server's answer: its first data frame (accepted) or close frame (refused), skipping
    pings and pongs; the octets of a data frame's payload are never read."""
    data = bytearray(buf)
    while True:
        header = parse_header(data)
        if header is not None and header.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            return "accepted"
        if header is not None and len(data) >= header.header_len + header.length:
            payload = bytes(data[header.header_len : header.header_len + header.length])
            if header.opcode is Opcode.CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else "none"
                return f"refused {code}"
            del data[: header.header_len + header.length]
            continue
        try:
            chunk = await reader.read(_BATCH)
        except (ConnectionError, OSError):
            return "reset"
        if not chunk:
            return "closed"
        data += chunk


def _accepted(reaction: str) -> bool | None:
    """True accepted, False refused, None neither (no answer, no handshake)."""
    if reaction == "accepted":
        return True
    if reaction.startswith("refused") or reaction in ("closed", "reset"):
        return False
    return None


# -- the probe ---------------------------------------------------------------------------------------

async def find_limit(target: ServerTarget, upper: int, within: float) -> LimitProbe:
    """The largest uncompressed message the server accepts, by doubling then bisection."""
    t0 = time.monotonic()
    tried: list[tuple[int, str]] = []
    octets = 0

    async def accepts(size: int) -> bool | None:
        nonlocal octets
        reaction, sent = await attempt(target, size, within)
        tried.append((size, reaction))
        octets += sent
        return _accepted(reaction)

    def done(limit: int | None, detail: str = "") -> LimitProbe:
        return LimitProbe(limit, tuple(tried), octets, round(time.monotonic() - t0, 3), detail=detail)

    lo, hi, size = 0, None, min(_FIRST, upper)
    while hi is None:
        got = await accepts(size)
        if got is None:
            return done(None, f"no verdict on {size} octets: {tried[-1][1]}")
        if not got:
            hi = size
        elif size >= upper:
            return done(None, f"every size up to {upper} octets was accepted: no limit to test")
        else:
            lo, size = size, min(size * 2, upper)
    while hi - lo > 1:
        if len(tried) >= _MAX_ATTEMPTS:
            return done(None, f"no exact limit within {_MAX_ATTEMPTS} connections (between {lo} and {hi})")
        mid = (lo + hi) // 2
        got = await accepts(mid)
        if got is None:
            return done(None, f"no verdict on {mid} octets: {tried[-1][1]}")
        lo, hi = (mid, hi) if got else (lo, mid)
    return done(lo or None, "" if lo else "even a message of 1 octet was refused")


_probes: dict[tuple[str, int], LimitProbe] = {}
_locks: dict[tuple[int, str, int], asyncio.Lock] = {}


async def limit_of(target: ServerTarget, step: ExactLimit, stated: int | None) -> tuple[LimitProbe, bool]:
    """The server's limit, probed once per run (the cases of 30.9 share it); True when this call probed."""
    if stated is not None:
        return LimitProbe(stated, stated=True), False
    key = (target.url, step.upper)
    lock = _locks.setdefault((id(asyncio.get_running_loop()), *key), asyncio.Lock())
    async with lock:
        if key in _probes:
            return _probes[key], False
        probe = await find_limit(target, step.upper, step.within)
        if probe.limit is not None or probe.detail.startswith("every size"):
            _probes[key] = probe  # a probe cut short (no answer) is tried again by the next case
        return probe, True


# -- the step ----------------------------------------------------------------------------------------

async def run_exact_limit(s: _Session, step: ExactLimit) -> bool:
    target = CASE_TARGET.get()
    if target is None:
        s.trace.steps_stopped = StepsStopped(s.case.steps.index(step) + 1, step.key, peer_closed=False,
                                             detail="an exact_limit step needs the run's target, to open connections")
        return False
    fact: dict[str, Any] = {"step": "exact_limit", "offset": step.offset, "within": step.within}
    try:
        await _judge_size(target, step, fact, s.opts.server_max_message)
    except TargetError as exc:
        fact.update(answer="unreachable", detail=str(exc))
    s.trace.measurements.setdefault("attack", []).append(fact)
    return not s.trace.peer_closed


async def _judge_size(target: ServerTarget, step: ExactLimit, fact: dict[str, Any], stated: int | None) -> None:
    probe, probed = await limit_of(target, step, stated)
    fact.update(limit=probe.limit, stated=probe.stated, probe_detail=probe.detail,
                probe_attempts=len(probe.attempts), probe_seconds=probe.seconds)
    if probed:  # the octets count towards this case's memory bound
        fact.update(octets=probe.octets, attempts=[list(a) for a in probe.attempts])
    if probe.limit is None:
        return
    size = probe.limit + step.offset
    if size < 1:
        fact["probe_detail"] = f"the limit {probe.limit} + {step.offset} leaves no message to send"
        return
    fact.update(size=size, expected="accepted" if step.offset <= 0 else "refused")
    payload = await asyncio.to_thread(bomb_payload, size)
    t0 = time.monotonic()
    reaction, sent = await attempt(target, size, step.within, payload)
    fact.update(reaction=reaction, reaction_s=round(time.monotonic() - t0, 4), compressed=len(payload))
    fact["octets"] = fact.get("octets", 0) + sent
    got = _accepted(reaction)
    fact["answer"] = reaction if got is None else "accepted" if got else "refused"
