"""The live connection of one case: the engine, the socket, the background reader and the
synchronisation on what the peer does (a pong, a close, EOF). Facts go to the `Trace`."""

from __future__ import annotations

__all__ = ["Session", "abort", "teardown"]

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from conformance.catalog.model import Case
from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State
from conformance.runner.trace import RunOptions, Trace, TxFrames
from conformance.targets.streams import Reader, Writer
from conformance.wire.frames import Frame, Opcode

_READ = 1 << 16


class Session:
    """The live connection of one case: engine, socket, background reader."""

    def __init__(self, case: Case, opts: RunOptions, trace: Trace) -> None:
        self.case = case
        self.opts = opts
        self.trace = trace
        self.conn: Connection | None = None
        self.reader: Reader | None = None
        self.writer: Writer | None = None
        self.changed = asyncio.Event()
        self._conds: list[Callable[[], bool]] = []  # what the tasks in `wait_for` wait for
        # an echo step's reader-side half (runner/steps.py `_EchoRun`): every message goes to it
        self.echo_sink: Callable[[ev.Message], None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.deflate: Any = None
        self.tx = TxFrames()
        self.sync_ping: bytes | None = None  # payload of the synchronisation ping awaiting its answer
        self.sync_result = ""  # "pong" or "closed": whichever the peer did first
        self._syncs = 0
        self._corked: list[bytes] | None = None  # octets held for one write (cork / uncork)
        self.phase = "open"  # what the waits of the moment are for, as `Trace.waited` counts them

    def start(self, role: Role, leftover: bytes) -> None:
        """After the handshake: the engine observes the peer, the reader runs, and the octets
        that arrived with the handshake are fed first."""
        self.conn = Connection(role, deflate=self.deflate, frame_events=True, max_message=self.opts.max_message)
        self.task = asyncio.create_task(self.read_loop())
        if leftover:
            self.conn.receive_data(leftover)
            self.drain_events()

    # -- I/O ---------------------------------------------------------------------------------

    async def write(self, data: bytes, *, chop: int = 0, delay: float = 0.0, label: str = "",
                    whole_frames: bool = False) -> bool:
        """Write octets; False when the peer is gone. `whole_frames`: `data` is whole frames, none
        of them a close (TxFrames.feed then need not parse their headers).

        In chops (as Autobahn does), each piece is written, drained and the event loop yielded
        (for `delay` seconds, or just once), so a fast peer reads the pieces apart; no verdict
        may depend on whether it does.
        """
        if not data or self.writer is None:
            return True
        # the pieces go into the log too, so that `conformance replay` writes the same ones
        self.trace.log("tx", "octets", data, label, **({"chop": chop, "delay": delay} if chop else {}))
        if self.conn is not None:
            self.tx.feed(data, whole_frames=whole_frames)
        if self._corked is not None and not chop:
            self._corked.append(data)
            return True
        return await self._put(data, chop, delay)

    def can_write_now(self) -> bool:
        """Whether `write_now` may write: a TCP or TLS stream whose earlier octets all went to the
        kernel, nothing corked. Otherwise writing must wait for the socket (`write`)."""
        writer = self.writer
        return (self._corked is None and isinstance(writer, asyncio.StreamWriter)
                and not writer.transport.is_closing() and writer.transport.get_write_buffer_size() == 0)

    def write_now(self, data: bytes, label: str = "") -> None:
        """Write whole frames (none a close) without waiting, from the reader: the caller checked
        `can_write_now`, and the socket takes them at once or buffers them (the next `write` waits)."""
        assert self.writer is not None
        self.trace.log("tx", "octets", data, label)
        self.tx.feed(data, whole_frames=True)
        self.writer.write(data)

    def cork(self) -> None:
        """Hold what is written from now on until `uncork`, which writes it all in one write."""
        if self._corked is None:
            self._corked = []

    async def uncork(self) -> bool:
        """Write what `cork` held, in one write (one TCP segment on loopback: the peer reads it in
        one read); False when the peer is gone."""
        held, self._corked = self._corked, None
        if not held:
            return True
        if len(held) > 1:
            self.trace.log("tx", "event", text=f"the {len(held)} writes above go out in one write")
        return await self._put(b"".join(held), 0, 0.0)

    async def _put(self, data: bytes, chop: int, delay: float) -> bool:
        assert self.writer is not None
        pieces = [data[i : i + chop] for i in range(0, len(data), chop)] if chop else [data]
        try:
            for i, piece in enumerate(pieces):
                self.writer.write(piece)
                start = time.monotonic()
                try:
                    await self.writer.drain()  # blocks only while the peer does not read: its reads end it
                finally:
                    if asyncio.current_task() is not self.task:  # the reader's replies overlap the case's waits
                        self.trace.add_wait("write", time.monotonic() - start)
                if chop and i + 1 < len(pieces):
                    await self.pause(delay)
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
            held = self.trace.observed_octets + len(self.conn._buf)
            if held > self.opts.max_message:
                self.trace.flooded = (f"the peer made the suite hold more than {self.opts.max_message} octets "
                                      "(the memory limit); the suite stopped reading")
                self.trace.log("rx", "event", text=self.trace.flooded)
                self.synced("closed")
                self.changed.set()
                if self.writer is not None:
                    abort(self.writer)
                return
            self.conn.receive_data(data)
            self.drain_events()
            await self.flush()
            self.wake()

    def wake(self) -> None:
        """Something the peer did may end a wait: wake the waiting tasks if what one of them
        waits for now holds. A task whose condition is still false would only go back to
        waiting, so a message that ends no wait (an echo the reader itself answered) costs no
        task switch."""
        conds = self._conds
        if not conds or any(cond() for cond in conds):
            self.changed.set()

    def on_eof(self) -> None:
        assert self.conn is not None
        t = self.trace
        self.synced("closed")
        if not t.eof:
            t.eof = True
            t.eof_at = time.monotonic()
            if t.eof_first is None:
                t.eof_first = not t.dropped_by_me
            t.log("rx", "event", text="TCP connection closed by the peer" if not t.dropped_by_me
                  else "TCP connection closed")
        self.conn.receive_data(b"")
        self.drain_events()
        self.changed.set()  # EOF: every wait looks again

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
                if self.echo_sink is not None:
                    self.echo_sink(e)
                else:
                    kind = "text" if e.opcode is Opcode.TEXT else "binary"
                    t.observations.append((kind, e.data))
                    t.observed_octets += len(e.data)
            elif isinstance(e, ev.Ping):
                # a peer may ping at any time (§5.5.2; keepalives): the engine answers it and the
                # wire log shows it, but it is no observation a case is judged on
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

    async def wait_for(self, cond: Callable[[], bool], timeout: float,
                       progressed: Callable[[], bool] | None = None) -> bool:
        """Wait until `cond()` holds or `timeout` passes; True if it holds. The time it took goes
        to `trace.waited` under the current phase (and to `waited_timer` when the timer ended it,
        unless `progressed()` says the peer did what was waited for meanwhile, as the echoes the
        reader answers itself)."""
        if cond():
            return True
        start = time.monotonic()
        held = False
        try:
            held = await self._wait_until(cond, start + timeout)
        finally:  # the case's budget may end it from outside: that is a timer too
            timer = not held and not (progressed is not None and progressed())
            self.trace.add_wait(self.phase, time.monotonic() - start, timer=timer)
        return held

    async def _wait_until(self, cond: Callable[[], bool], deadline: float) -> bool:
        self._conds.append(cond)
        try:
            while not cond():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.clear()
                try:
                    async with asyncio.timeout(left):  # no task per wait, as asyncio.wait_for makes
                        await self.changed.wait()
                except TimeoutError:
                    return cond()
            return True
        finally:
            self._conds.remove(cond)

    async def pause(self, seconds: float) -> None:
        """A pause the case asks for (a `wait` step, the delay between chops): a timer by design,
        counted as such under "pause"."""
        await asyncio.sleep(seconds)
        self.trace.add_wait("pause", seconds, timer=True)

    def mark_close_sent(self, code: int | None, reason: str = "") -> None:
        """The suite sent a close frame (the start of the closing handshake, or its answer)."""
        if self.trace.close_sent is None:
            self.trace.close_sent = (code, reason)
            self.trace.close_sent_at = time.monotonic()
        if self.trace.close_sent_first is None:
            self.trace.close_sent_first = True


def abort(writer: Writer) -> None:
    """Drop the connection at once (a reset): for a peer that floods or ignores the close."""
    writer.transport.abort()


async def teardown(s: Session) -> None:
    """The end of a case: the suite closes its side (if the peer has not) and stops reading."""
    t = s.trace
    if s.writer is not None:
        if not t.eof:
            t.dropped_by_me = True
            if t.eof_first is None:
                t.eof_first = False
        start = time.monotonic()
        try:
            s.writer.close()  # over TLS: close_notify, then TCP closes on the peer's close_notify
            await asyncio.wait_for(s.writer.wait_closed(), 0.5)
        except TimeoutError:
            # a peer that neither reads nor answers close_notify would keep the socket (and, over
            # TLS, asyncio's 30 s shutdown timer) alive past the case: drop it now
            abort(s.writer)
            t.add_wait("teardown", time.monotonic() - start, timer=True)
        except (ConnectionError, OSError):
            pass  # already gone
        else:
            t.add_wait("teardown", time.monotonic() - start)
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

