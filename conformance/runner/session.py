"""Run one case against a server: the suite is the client, the engine writes and reads the wire.

Everything the peer does is recorded in a `Trace` (observations, close frames, TCP close, rule
violations, the wire log); `judge.py` turns the trace into verdicts. A case never outlives its
budget: on timeout the trace so far is judged.
"""

from __future__ import annotations

__all__ = ["RunOptions", "Trace", "TxFrames", "case_budget", "deflate_missing", "execute_case"]

import asyncio
import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

from conformance.catalog.model import Case
from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State
from conformance.engine.rules import ProtocolError, Rule
from conformance.errors import TargetError
from conformance.targets.tcp import ServerTarget, open_connection
from conformance.wire.frames import Frame, Opcode, parse_header

_WIRELOG_MAX = 1500
_HEX_MAX = 4096
_WIRELOG_HEX_TOTAL = 1 << 20  # octets shown in hex over the whole wire log of one case
_READ = 1 << 16


@dataclasses.dataclass
class RunOptions:
    agent: str = "server"
    timeout: float = 10.0  # whole case
    wait: float = 2.0  # for an expected reaction (an echo, the peer's close)
    settle: float = 1.0  # checkpoint: the upper bound for a peer that neither pongs nor closes
    close_grace: float = 1.0  # after the closing handshake: time for the server to close TCP
    timeout_cap: float | None = None  # an explicit --timeout also caps the budgets cases set themselves
    max_message: int = 64 * 1024 * 1024  # most octets the suite holds from one connection (a message,
    # the frame being read, and the messages recorded so far); a peer that makes it hold more is stopped
    max_echo: int | None = None  # caps the message count of echo steps (Autobahn's volume cases send 1000)


@dataclasses.dataclass
class Trace:
    """What happened during one case, as the judge needs it."""

    t0: float = dataclasses.field(default_factory=time.monotonic)
    testing: str = "server"  # which side is under test: "server" or "client"
    connected: bool = False
    request: str = ""
    response: str = ""
    status: int | None = None
    response_headers: Any = None
    handshake_error: ProtocolError | None = None
    handshake_note: str = ""
    opened: bool = False
    deflate_negotiated: bool | None = None  # None: not asked for
    observations: list[tuple[str, bytes | str]] = dataclasses.field(default_factory=list)
    peer_pings: int = 0  # pings the peer sent (answered by the engine; not observations)
    sync_pongs: int = 0  # pongs to the suite's synchronisation pings (wire log only; not observations)
    timing_notes: list[str] = dataclasses.field(default_factory=list)  # results that rest on a timeout
    violations: list[tuple[Rule, str]] = dataclasses.field(default_factory=list)
    peer_failure: ev.Failure | None = None  # the peer broke a rule and we failed the connection
    close_received: ev.CloseReceived | None = None
    close_sent_first: bool | None = None  # True: we sent the first close frame
    eof: bool = False  # the peer closed TCP
    eof_first: bool | None = None  # True: the peer closed TCP before we did
    reset: bool = False
    dropped_by_me: bool = False
    timed_out: str = ""
    echo_error: str = ""
    steps_stopped: str = ""
    measurements: dict[str, Any] = dataclasses.field(default_factory=dict)
    wirelog: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    logging: bool = True
    received_octets: int = 0
    observed_octets: int = 0  # payload octets kept in `observations`
    flooded: str = ""
    _logged_hex: int = 0

    def log(self, direction: str, kind: str, data: bytes = b"", text: str = "", **extra: Any) -> None:
        if not self.logging or len(self.wirelog) >= _WIRELOG_MAX:
            return
        shown = data[: min(_HEX_MAX, max(0, _WIRELOG_HEX_TOTAL - self._logged_hex))]
        self._logged_hex += len(shown)
        entry = {"t": round(time.monotonic() - self.t0, 6), "dir": direction, "kind": kind,
                 "len": len(data), "hex": shown.hex(), "text": text, **extra}
        self.wirelog.append(entry)
        if len(self.wirelog) == _WIRELOG_MAX:
            self.wirelog.append({"t": entry["t"], "dir": "", "kind": "event", "len": 0, "hex": "",
                                 "text": f"wire log cut after {_WIRELOG_MAX} entries"})

    @property
    def peer_closed(self) -> bool:
        return (self.close_received is not None or self.eof or self.peer_failure is not None
                or bool(self.flooded))


class TxFrames:
    """Where the octets the suite has written stand in the frame sequence (a header parser on the
    sending side): a synchronisation ping may only go between two frames, and never after a close."""

    def __init__(self) -> None:
        self.head = bytearray()  # octets of a header not yet complete
        self.left = 0  # payload octets of the current frame still to come
        self.close_sent = False

    def feed(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            if self.left:
                step = min(self.left, len(data) - pos)
                self.left -= step
                pos += step
                continue
            had = len(self.head)
            self.head += data[pos : pos + 14 - had]  # 14: the longest header
            header = parse_header(self.head)
            if header is None:
                return  # all of `data` went into the incomplete header
            pos += header.header_len - had
            self.head.clear()
            self.left = header.length
            self.close_sent = self.close_sent or header.opcode is Opcode.CLOSE

    @property
    def between_frames(self) -> bool:
        return not self.left and not self.head


class _Session:
    """The live connection of one case: engine, socket, background reader."""

    def __init__(self, case: Case, opts: RunOptions, trace: Trace) -> None:
        self.case = case
        self.opts = opts
        self.trace = trace
        self.conn: Connection | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.changed = asyncio.Event()
        self.echo_queue: asyncio.Queue[ev.Message] | None = None
        self.task: asyncio.Task[None] | None = None
        self.deflate: Any = None
        self.tx = TxFrames()
        self.sync_ping: bytes | None = None  # payload of the synchronisation ping awaiting its answer
        self.sync_result = ""  # "pong" or "closed": whichever the peer did first
        self._syncs = 0

    def start(self, role: Role, leftover: bytes) -> None:
        """After the handshake: the engine observes the peer, the reader runs, and the octets
        that arrived with the handshake are fed first."""
        self.conn = Connection(role, deflate=self.deflate, frame_events=True, max_message=self.opts.max_message)
        self.task = asyncio.create_task(self.read_loop())
        if leftover:
            self.conn.receive_data(leftover)
            self.drain_events()

    # -- I/O ---------------------------------------------------------------------------------

    async def write(self, data: bytes, *, chop: int = 0, delay: float = 0.0, label: str = "") -> bool:
        """Write octets; False when the peer is gone.

        In chops (as Autobahn does), each piece is written, drained and the event loop yielded
        (for `delay` seconds, or just once), so a fast peer reads the pieces apart; no verdict
        may depend on whether it does.
        """
        if not data or self.writer is None:
            return True
        self.trace.log("tx", "octets", data, label)
        if self.conn is not None:
            self.tx.feed(data)
        pieces = [data[i : i + chop] for i in range(0, len(data), chop)] if chop else [data]
        try:
            for i, piece in enumerate(pieces):
                self.writer.write(piece)
                await self.writer.drain()
                if chop and i + 1 < len(pieces):
                    await asyncio.sleep(delay)
        except (ConnectionError, OSError):
            self.trace.reset = True
            return False
        return True

    async def flush(self) -> bool:
        assert self.conn is not None
        return await self.write(self.conn.data_to_send(), label="engine")

    async def read_loop(self) -> None:
        assert self.reader is not None and self.conn is not None
        while True:
            try:
                data = await self.reader.read(_READ)
            except (ConnectionError, OSError):
                self.trace.reset = True
                data = b""
            if not data:
                self.on_eof()
                return
            self.trace.received_octets += len(data)
            held = self.trace.observed_octets + len(self.conn._buf)
            if held > self.opts.max_message:
                self.trace.flooded = (f"the peer made the suite hold more than {self.opts.max_message} octets "
                                      "(the memory limit); the suite stopped reading")
                self.trace.log("rx", "event", text=self.trace.flooded)
                self.synced("closed")
                self.changed.set()
                if self.writer is not None:
                    self.writer.transport.abort()
                return
            self.conn.receive_data(data)
            self.drain_events()
            await self.flush()
            self.changed.set()

    def on_eof(self) -> None:
        assert self.conn is not None
        t = self.trace
        self.synced("closed")
        if not t.eof:
            t.eof = True
            if t.eof_first is None:
                t.eof_first = not t.dropped_by_me
            t.log("rx", "event", text="TCP connection closed by the peer" if not t.dropped_by_me
                  else "TCP connection closed")
        self.conn.receive_data(b"")
        self.drain_events()
        self.changed.set()

    def drain_events(self) -> None:
        assert self.conn is not None
        t = self.trace
        for e in self.conn.events():
            if isinstance(e, ev.FrameReceived):
                f = e.frame
                t.log("rx", "frame", f.data, _frame_text(f), opcode=int(f.opcode), fin=f.fin,
                      rsv=[f.rsv1, f.rsv2, f.rsv3], masked=e.header.mask is not None,
                      payload_len=len(f.data))
            elif isinstance(e, ev.Message):
                if self.echo_queue is not None:
                    self.echo_queue.put_nowait(e)
                else:
                    kind = "text" if e.opcode is Opcode.TEXT else "binary"
                    t.observations.append((kind, e.data))
                    t.observed_octets += len(e.data)
            elif isinstance(e, ev.Ping):
                # a peer may ping at any time (§5.5.2; keepalives): the engine answers it and the
                # wire log shows it, but it is no observation a case is judged on
                t.peer_pings += 1
                t.observed_octets += len(e.data)
            elif isinstance(e, ev.Pong):
                self.on_pong(e.data)
            elif isinstance(e, ev.CloseReceived):
                self.synced("closed")
                t.close_received = e
                if t.close_sent_first is None:
                    t.close_sent_first = False
            elif isinstance(e, ev.Failure):
                self.synced("closed")
                t.peer_failure = e
                t.log("rx", "event", text=f"peer broke {e.rule.id} ({e.rule.section}): {e.detail}")
                if t.close_sent_first is None:
                    t.close_sent_first = True
            elif isinstance(e, ev.Violation):
                t.violations.append((e.rule, e.detail))

    def on_pong(self, data: bytes) -> None:
        t = self.trace
        if self.sync_ping is not None and data == self.sync_ping:
            t.sync_pongs += 1
            t.log("rx", "event", text="the pong to the synchronisation ping: the peer has read everything "
                  "sent before it (not an observation)")
            self.synced("pong")
            return
        t.observations.append(("pong", data))
        t.observed_octets += len(data)

    def synced(self, result: str) -> None:
        """The first answer to a pending synchronisation ping: its pong, or the peer closing."""
        if self.sync_ping is not None and not self.sync_result:
            self.sync_result = result

    def can_sync(self) -> str:
        """Why no synchronisation ping can be sent now ("" if one can)."""
        assert self.conn is not None
        if self.tx.close_sent or self.conn.close_sent is not None or self.conn.state is not State.OPEN:
            return "the suite has sent a close frame, and no ping may follow it"
        if not self.tx.between_frames:
            return "the suite is in the middle of a frame, so a ping cannot be sent"
        return ""

    async def sync(self, timeout: float, why: str) -> str:
        """Send a ping with a unique payload and wait for what the peer does first (RFC 6455
        §5.5.2-§5.5.3: a pong answers a ping with its payload, so it proves the peer has read
        everything before the ping): "pong", "closed", or "timeout" after `timeout`.
        The caller checks `can_sync()` first."""
        assert self.conn is not None
        if self.trace.peer_closed:
            return "closed"
        self._syncs += 1
        payload = f"sync {self._syncs} {os.urandom(6).hex()}".encode()
        self.sync_ping, self.sync_result = payload, ""
        try:
            self.conn.ping(payload)
            if not await self.write(self.conn.data_to_send(), label=f"synchronisation ping ({why})"):
                return "closed"
            await self.wait_for(lambda: bool(self.sync_result), timeout)
            return self.sync_result or "timeout"
        finally:
            self.sync_ping = None

    async def wait_for(self, cond: Callable[[], bool], timeout: float) -> bool:
        """Wait until `cond()` holds or `timeout` passes; True if it holds."""
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return cond()
        return True

    def mark_close_sent(self) -> None:
        if self.trace.close_sent_first is None:
            self.trace.close_sent_first = True


def case_budget(case: Case, opts: RunOptions) -> float:
    """Seconds a case may take: its own budget (Autobahn's limits for big cases) or the run's default."""
    budget = case.timeout or opts.timeout
    return min(budget, opts.timeout_cap) if opts.timeout_cap else budget


def deflate_missing(case: Case, trace: Trace) -> bool:
    """The case needs permessage-deflate and the peer did not agree to it: the case is
    UNIMPLEMENTED, so its steps (compressed frames the peer never agreed to) are not sent."""
    return case.deflate is not None and case.deflate.required and not trace.deflate_negotiated


async def execute_case(case: Case, target: ServerTarget, opts: RunOptions) -> Trace:
    """Run `case` against `target`; never raises for anything the target does."""
    from conformance.runner.steps import run_steps

    trace = Trace()
    s = _Session(case, opts, trace)
    budget = case_budget(case, opts)
    try:
        async with asyncio.timeout(budget):
            leftover = await _open(s, target, min(budget, opts.wait * 2))
            if not trace.opened:
                return trace
            s.start(Role.CLIENT, leftover)
            if not deflate_missing(case, trace):
                await run_steps(s, case.steps)
            await _finish(s)
    except TimeoutError:
        trace.timed_out = f"the case did not finish within its budget of {budget:g} s"
        trace.log("tx", "event", text=trace.timed_out)
    except TargetError as exc:
        trace.handshake_note = str(exc)
        trace.log("tx", "event", text=str(exc))
    except (ConnectionError, OSError) as exc:
        trace.reset = True
        trace.log("rx", "event", text=f"connection error: {exc}")
    finally:
        await _teardown(s)
    return trace


async def _open(s: _Session, target: ServerTarget, timeout: float) -> bytes:
    """Connect and run the opening handshake: the HTTP/1.1 upgrade, or over HTTP/2 the extended
    CONNECT (runner/h2_handshake.py); returns octets that followed the handshake."""
    from conformance.runner.handshake import do_handshake
    from conformance.targets.h2 import H2Target

    if isinstance(target, H2Target):
        from conformance.runner.h2_handshake import open_h2

        await open_h2(s, target, timeout)
        return b""
    s.reader, s.writer = await open_connection(target, timeout)
    s.trace.connected = True
    return await do_handshake(s, target)


async def _finish(s: _Session) -> None:
    """Close as the case expects: we start the closing handshake, or we wait for the peer's."""
    t, case, opts = s.trace, s.case, s.opts
    assert s.conn is not None
    if case.expect.any and not t.peer_closed:
        await _settle_any(s)
    elif case.close.by == "us":
        await s.wait_for(lambda: t.peer_closed or _matches_any(case, t), opts.wait)
    else:
        await s.wait_for(lambda: t.peer_closed, opts.wait)
    conn = s.conn
    if conn.state is State.OPEN and not t.eof:
        conn.close(1000)
        s.mark_close_sent()
        t.log("tx", "event", text="starting the closing handshake (1000)")
        await s.flush()
    await s.wait_for(lambda: t.eof or (t.close_received is not None), opts.wait)
    # RFC 6455 §7.1.1: the server closes TCP first; give it a moment.
    await s.wait_for(lambda: t.eof, opts.close_grace)


async def _settle_any(s: _Session) -> None:
    """"Anything goes": nothing to wait for but the peer having read all the steps, which the
    pong to a ping proves; after the suite's close, its close reply (or EOF) does."""
    t = s.trace
    if s.can_sync():
        await s.wait_for(lambda: t.peer_closed, s.opts.wait)
        return
    if await s.sync(s.opts.wait, "before closing") == "timeout":
        t.timing_notes.append(f"the peer answered neither the final ping nor closed within {s.opts.wait:g} s")


def _matches_any(case: Case, t: Trace) -> bool:
    from conformance.runner.judge import match_observations

    return match_observations(case, t.observations) is not None


async def _teardown(s: _Session) -> None:
    t = s.trace
    if s.writer is not None:
        if not t.eof:
            t.dropped_by_me = True
            if t.eof_first is None:
                t.eof_first = False
        try:
            s.writer.close()  # over TLS: close_notify, then TCP closes on the peer's close_notify
            await asyncio.wait_for(s.writer.wait_closed(), 0.5)
        except TimeoutError:
            # a peer that neither reads nor answers close_notify would keep the socket (and, over
            # TLS, asyncio's 30 s shutdown timer) alive past the case: drop it now
            s.writer.transport.abort()
        except (ConnectionError, OSError):
            pass  # already gone
    if s.task is not None:
        s.task.cancel()
        try:
            await s.task
        except (asyncio.CancelledError, Exception):
            pass


def _frame_text(f: Frame) -> str:
    name = f.opcode.name
    if f.opcode is Opcode.CLOSE and len(f.data) >= 2:
        code = int.from_bytes(f.data[:2], "big")
        return f"CLOSE {code} {f.data[2:].decode('utf-8', 'replace')!r}"
    if len(f.data) <= 64:
        return f"{name} {f.data.decode('utf-8', 'replace')!r}"
    return f"{name} {len(f.data)} octets"

