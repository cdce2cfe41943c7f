"""What each step of a case file does on the wire (docs/case-format.md, "Steps")."""

from __future__ import annotations

__all__ = ["SECOND_PING", "run_step", "run_steps"]

import collections
import hashlib
import time
from collections.abc import Callable, Sequence

from conformance.catalog.model import (
    Checkpoint,
    CloseNow,
    Echo,
    EchoSpec,
    FrameSpec,
    H3Fin,
    H3Goaway,
    H3Reset,
    H3Streams,
    SendClose,
    SendFrame,
    SendMessage,
    SendRaw,
    Step,
    Wait,
    WaitMessages,
)
from conformance.catalog.payload import PayloadSpec, corpus
from conformance.catalog.resources import Bomb, ExactLimit, Flood, Request
from conformance.engine import events as ev
from conformance.engine.connection import Role, State, StateError
from conformance.runner.context import Session
from conformance.runner.regen import take_step
from conformance.runner.trace import EchoFailure, StepsStopped, case_budget
from conformance.wire.close import parse_close, serialize_close
from conformance.wire.frames import Frame, Opcode


async def run_steps(s: Session, steps: Sequence[Step]) -> None:
    """Take the steps in order; where they end early, the trace says at which step and why.

    The suite's close frame and the frames that directly follow it (7.1.2-7.1.6, 15.4.1) go out in
    one write, so the peer reads them in one read, as it does Autobahn's back-to-back writes: no
    checkpoint can come between them (no ping may follow a close), and written apart, whether the
    peer read them apart would depend on scheduling (picows answers two close frames read together
    with 1002, read apart with 1000).
    """
    try:
        await _take_steps(s, steps)
    finally:
        await s.uncork()


async def _take_steps(s: Session, steps: Sequence[Step]) -> None:
    t = s.trace
    for i, step in enumerate(steps):
        s.phase = f"step:{step.key}"  # what the waits of this step count under (Trace.waited)
        if isinstance(step, SendClose):
            s.cork()
        elif not _written_with_close(step):
            await s.uncork()
        if t.eof or t.reset:
            t.steps_stopped = StepsStopped(i + 1, step.key, peer_closed=True)
            return
        try:
            go_on = await take_step(s, i, step, _do)
        except StateError as exc:
            t.steps_stopped = StepsStopped(i + 1, step.key, peer_closed=t.peer_closed, detail=str(exc))
            return
        if go_on is False:
            return


async def run_step(s: Session, index: int, step: Step) -> bool:
    """Step `index` (0-based) of the case alone, as `run_steps` takes it (a replay regenerates
    a step whose octets the wire log does not hold: runner/regen.py)."""
    return await take_step(s, index, step, _do)


def _written_with_close(step: Step) -> bool:
    """A step that goes out in the same write as a close frame before it: a frame or raw octets,
    unless chopped (a chop means pieces written apart)."""
    return isinstance(step, SendRaw) or (isinstance(step, SendFrame) and not step.frame.chop)


async def _do(s: Session, step: Step) -> bool:
    """One step on the wire; False when the steps end here (the peer is gone or closed)."""
    match step:
        case SendFrame(frame=spec):
            return await _send(s, spec)
        case SendMessage():
            return await _send_message(s, step)
        case SendRaw(payload=payload, chop=chop, delay=delay):
            return await s.write(payload.materialize(), chop=chop, delay=delay, label="raw octets")
        case SendClose():
            return await _send_close(s, step)
        case CloseNow():
            return await _close(s, step)
        case Wait(seconds=seconds):
            await s.pause(seconds)
            return True
        case Checkpoint(label=label):
            return await _checkpoint(s, label)
        case WaitMessages(count=n):
            return await _wait_messages(s, n)
        case Echo(spec=spec):
            return await _echo(s, spec)
        case Flood() | Bomb() | Request():  # the resource group (runner/resources.py)
            from conformance.runner.resources import run_resource_step

            return await run_resource_step(s, step)
        case H3Fin() | H3Reset() | H3Goaway() | H3Streams():  # RFC 9220: conformance/runner/h3_steps.py
            from conformance.runner.h3_steps import run_h3_step

            return await run_h3_step(s, step)
        case ExactLimit():  # the resource group's exact-limit cases (runner/exact_limit.py)
            from conformance.runner.exact_limit import run_exact_limit

            return await run_exact_limit(s, step)
        case _:  # the HTTP/2 steps (RFC 8441): conformance/runner/h2_steps.py
            from conformance.runner.h2_steps import run_h2_step

            return await run_h2_step(s, step)


async def _send(s: Session, spec: FrameSpec) -> bool:
    assert s.conn is not None
    data = spec.payload.materialize()
    compressed = False
    if spec.compress and s.deflate is not None:
        data = s.deflate.encode(data, spec.fin)
        compressed = True
    rsv1 = compressed if spec.rsv1 is None else spec.rsv1
    frame = Frame(spec.opcode, data, spec.fin, rsv1, spec.rsv2, spec.rsv3)
    mask = spec.mask
    if isinstance(mask, bytes) and s.conn.role is not Role.CLIENT:
        mask = False  # a fixed key applies when the suite's role masks; a server sends unmasked
    s.conn.send_frame(frame, mask=mask, length_form=spec.length_form,
                      declared_length=spec.length)
    label = f"{spec.opcode.name} fin={int(spec.fin)} rsv={int(rsv1)}{int(spec.rsv2)}{int(spec.rsv3)}"
    return await s.write(s.conn.data_to_send(), chop=spec.chop, delay=spec.delay, label=label)


async def _send_message(s: Session, m: SendMessage) -> bool:
    assert s.conn is not None
    if m.compress and s.deflate is None:
        s.trace.echo_failure = EchoFailure("not-negotiated")
        return False
    s.conn.send_message(m.payload.materialize(), fragment=m.fragment, text=m.opcode is Opcode.TEXT,
                        compress=m.compress)
    # the engine wrote whole frames: it refuses a message after its close frame (StateError)
    return await s.write(s.conn.data_to_send(), label=f"{m.opcode.name} message", whole_frames=True)


async def _send_close(s: Session, c: SendClose) -> bool:
    if c.payload is not None:
        data = c.payload.materialize()
    else:
        reason = c.reason.materialize() if c.reason is not None else b""
        data = serialize_close(c.code, reason) if c.code is not None else b""
    s.mark_close_sent(*_close_fields(data))  # a send_close starts the closing handshake; a raw `send` of opcode 8 does not
    return await _send(s, FrameSpec(Opcode.CLOSE, PayloadSpec("literal", data)))


async def _close(s: Session, c: CloseNow) -> bool:
    assert s.conn is not None
    reason = c.reason.materialize().decode("utf-8", "replace") if c.reason is not None else ""
    code = 1000 if c.code is None else c.code
    s.conn.close(code, reason)
    s.mark_close_sent(code, reason)
    return await s.flush()


SECOND_PING = ", second ping: has the peer acted on what it read?"  # its label's tail (replay.py reads it)


async def _checkpoint(s: Session, label: str) -> bool:
    """Has the peer failed the connection on what came before? Two pings in turn ask (below):
    a close frame or EOF first means it failed fast (the remaining steps are skipped), the
    second pong means it read everything and kept the connection open ({timeout: label}).

    Where no ping may be sent (inside a frame, after the suite's close) or the peer answers
    neither, the settle time is the upper bound and the result says it rests on a timeout.
    """
    t = s.trace
    if t.peer_closed:
        return False
    why = s.can_sync()
    if why:
        await s.wait_for(lambda: t.peer_closed, s.opts.settle)
        outcome = "closed" if t.peer_closed else "timeout"
    else:
        outcome = await _two_pings(s, label)
        why = "the peer answered the ping with neither a pong nor a close"
    if outcome == "closed":
        return False
    t.observations.append(("timeout", label))
    if outcome == "timeout":
        note = f"checkpoint {label}: {why}; still open after {s.opts.settle:g} s (a timing-dependent result)"
        t.timing_notes.append(note)
        t.log("tx", "event", text=note)
    else:
        t.log("tx", "event", text=f"checkpoint {label}: connection still open (the peer answered the ping)")
    return not t.peer_closed


async def _two_pings(s: Session, label: str) -> str:
    """The first pong proves the peer has read the frames before the checkpoint, but not that it
    has acted on them: a peer that reads a frame and the ping in one read may answer the ping
    before it checks the frame (websockets answers pings in its protocol layer and checks UTF-8
    in its connection layer), so its pong can come just before the close it sends for that
    frame. The second ping is written only after the first pong came back, so it reaches the
    peer in a later read than every frame before the checkpoint: a pong to it means the peer went
    on with the connection open after it had acted on all of them, however its reads were cut."""
    outcome = await s.sync(s.opts.settle, f"checkpoint {label}")
    if outcome != "pong" or (s.can_sync() and not s.trace.peer_closed):
        return outcome
    return await s.sync(s.opts.settle, f"checkpoint {label}{SECOND_PING}")


async def _wait_messages(s: Session, n: int) -> bool:
    """Until N messages were observed in all, or the peer closed; `--wait` is the upper bound."""
    t = s.trace
    if not await s.wait_for(
            lambda: t.peer_closed or sum(k in ("text", "binary") for k, _ in t.observations) >= n,
            s.opts.wait):
        t.log("tx", "event", text=f"wait_messages: fewer than {n} messages within {s.opts.wait:g} s; going on")
    return True


async def _echo(s: Session, spec: EchoSpec) -> bool:
    """Send `count` messages, `window` in flight, and check every echo (type, length, every octet).

    The reader checks each echo as it is parsed (`_EchoRun.on_echo`) and, when the socket has room,
    sends the next message itself: a round trip of a small message then costs the suite one wake-up,
    not two (9.7.x and 9.8.x are 1000 of them each). This task sends the first window, what the
    reader leaves to it (a chopped message, one that must wait for the socket), and bounds each
    echo's wait."""
    assert s.conn is not None
    t = s.trace
    if spec.compress and s.deflate is None and (s.case.deflate is None or s.case.deflate.required):
        t.echo_failure = EchoFailure("not-negotiated")
        return False
    spec.payload.materialize(0)  # builds a corpus once, outside the measured time
    count = spec.count if s.opts.max_echo is None else min(spec.count, s.opts.max_echo)
    if count < spec.count:
        t.measurements["count_capped"] = f"{count} of {spec.count} messages (--max-echo)"
    run = _EchoRun(s, spec, count)
    t.logging = False
    s.conn.frame_events = False  # the wire log is off: no per-frame events, the engine's fast path
    bound = max(s.opts.wait, case_budget(s.case, s.opts))  # for each echo: a large one may take long
    s.echo_sink = run.on_echo
    start = time.monotonic()
    try:
        while run.failure is None and run.received < count:
            while run.may_send():
                if (t.peer_closed or s.conn.state is not State.OPEN  # as when the reader would send
                        or not await _send_next(s, run)):
                    run.fail(EchoFailure("closed", run.received, count))
                    break
                run.progress_at = time.monotonic()
            else:
                run.task_sends = False
                if await s.wait_for(lambda: run.ended or run.task_sends or t.peer_closed,
                                    bound - (time.monotonic() - run.progress_at),
                                    progressed=run.progress_since(run.received)):
                    if not run.ended and not run.task_sends:  # the peer closed first
                        run.fail(EchoFailure("closed", run.received, count))
                elif not run.ended and time.monotonic() - run.progress_at >= bound:  # none came in time
                    run.fail(EchoFailure("closed" if t.peer_closed else "no-echo", run.received, count))
        if run.failure is not None:
            t.echo_failure = run.failure
            return False
        return True
    finally:
        s.echo_sink = None
        t.logging = True
        s.conn.frame_events = True
        s.conn.known_text = None
        elapsed = max(time.monotonic() - start, 1e-9)
        t.measurements.update({
            "messages": run.received, "octets": run.octets, "seconds": round(elapsed, 4),
            "messages_per_s": round(run.received / elapsed, 1),
            "mb_per_s": round(run.octets / elapsed / 1e6, 2)})


async def _send_next(s: Session, run: _EchoRun) -> bool:
    """The step's task sends the next message; False when the peer is gone. The octets written
    are this function's alone: none is held while the echo of a 16 MiB message comes back."""
    answers, data = run.next_message()
    if answers and not await s.write(answers, label="engine"):
        return False
    return await s.write(data, chop=run.spec.chop, whole_frames=True)


_DIRECT_MAX = 1 << 16  # the reader sends the next message itself up to this size (larger ones: the task)


class _EchoRun:
    """One echo step's messages in flight: what was sent, what came back, who sends next."""

    def __init__(self, s: Session, spec: EchoSpec, count: int) -> None:
        self.s = s
        self.spec = spec
        self.count = count
        self.text = spec.opcode is Opcode.TEXT
        # a slice of a text corpus is whole code points (catalog/payload.py): its echo needs no
        # second UTF-8 decode, it is compared octet for octet
        self.known_text = self.text and spec.payload.kind == "corpus" and spec.payload.corpus != "binary"
        self.messages = _Messages(spec.payload)
        self.pending: collections.deque[tuple[bytes, int]] = collections.deque()  # in flight, with origins
        self.sent = self.received = self.octets = 0
        self.failure: EchoFailure | None = None
        self.ended = False  # every echo came back, or one failed: the reader takes no more
        self.task_sends = True  # the reader left the next message to the task
        # the reader may send: whole messages, written at once, of a size a wake-up is worth
        self.direct = not spec.chop and spec.payload.length <= _DIRECT_MAX
        self.progress_at = time.monotonic()  # the last echo or send: each echo's wait starts there

    def progress_since(self, received: int) -> Callable[[], bool]:
        """Whether an echo came since `received` had: a wait that ended on its timer then was a
        wait on the peer's echoes, which the reader took as they came."""
        return lambda: self.received != received

    def may_send(self) -> bool:
        return not self.ended and self.sent < self.count and len(self.pending) < self.spec.window

    def next_message(self) -> tuple[bytes, bytes]:
        """The next message, sent to the engine: what the engine had queued before it (a pong to
        the peer's ping: written apart, as the engine's, so that it is not counted as the step's
        own octets), and the message's octets."""
        s = self.s
        assert s.conn is not None
        answers = s.conn.data_to_send()
        data, origin = self.messages.take()
        if self.known_text:
            s.conn.known_text = data
        s.conn.send_message(data, fragment=self.spec.fragment, text=self.text)
        self.pending.append((data, origin))
        self.sent += 1
        self.octets += len(data)
        return answers, s.conn.data_to_send()

    def fail(self, failure: EchoFailure) -> None:
        if self.failure is None:
            self.failure = failure
        self.end()

    def end(self) -> None:
        self.ended = True
        self.s.echo_sink = None  # what comes after the step's echoes is observed as usual

    def on_echo(self, msg: ev.Message) -> None:
        """A message the peer sent during the step (from the reader): the next echo."""
        s = self.s
        if not self.pending:
            self.fail(EchoFailure("mismatch", self.received, self.count,
                                  "a message came while none was in flight (it echoes nothing sent)"))
            return
        data, origin = self.pending.popleft()
        problem = _echo_mismatch(msg, self.text, data)
        if problem:
            self.fail(EchoFailure("mismatch", self.received, self.count, problem))
            return
        if s.trace.echo_digest is not None:
            s.trace.note_echo(len(data), self.messages.digest(origin))
        self.received += 1
        self.progress_at = time.monotonic()
        if self.received == self.count:
            self.end()
            return
        if not self.task_sends:
            assert s.conn is not None
            while self.may_send():
                if not (self.direct and s.conn.state is State.OPEN and s.can_write_now()):
                    self.task_sends = True
                    return
                answers, data = self.next_message()
                if answers:
                    s.write_now(answers, label="engine")
                s.write_now(data)


class _Messages:
    """The messages of an echo step in turn. The step sends a few messages round and round (a
    slice of a 1 MiB corpus goes round it; any other payload is one message), so each distinct
    one is made once (a slice is a copy) and hashed once for the echo digest, by its origin:
    where it starts in the corpus. At most one round of the corpus, or `count` messages, is held."""

    def __init__(self, payload: PayloadSpec) -> None:
        self.payload = payload
        self.offset = 0
        self._period = len(corpus(payload.corpus)) if payload.kind == "corpus" else 1
        self._made: dict[int, bytes] = {}
        self._digests: dict[int, bytes] = {}

    def take(self) -> tuple[bytes, int]:
        """The next message and its origin."""
        origin = self.offset % self._period
        data = self._made.get(origin)
        if data is None:
            data = self._made[origin] = self.payload.materialize(self.offset)
        if self.payload.rolling:
            # by the nominal size: a text slice is cut to whole code points, and the next one
            # still starts where the corpus repeats, so repeated messages are the same octets
            # (and a codec may reuse their compressed form)
            self.offset += self.payload.size or 1
        return data, origin

    def digest(self, origin: int) -> bytes:
        """The SHA-256 of the message of this origin."""
        digest = self._digests.get(origin)
        if digest is None:
            digest = self._digests[origin] = hashlib.sha256(self._made[origin]).digest()
        return digest


def _echo_mismatch(msg: ev.Message, text: bool, sent: bytes) -> str:
    if (msg.opcode is Opcode.TEXT) != text:
        return f"came back as {msg.opcode.name}, sent as {'TEXT' if text else 'BINARY'}"
    if len(msg.data) != len(sent):
        return f"{len(msg.data)} octets came back, {len(sent)} were sent"
    if msg.data != sent:
        return f"the content differs from what was sent (first at octet {_first_difference(msg.data, sent)})"
    return ""


def _close_fields(payload: bytes) -> tuple[int | None, str]:
    """The code and reason of a close payload the suite sends (a case may make it invalid)."""
    code, reason = parse_close(payload)
    return code, reason.decode("utf-8", "replace")


def _first_difference(a: bytes, b: bytes) -> int:
    """Where two octet strings of the same length first differ (halving: C compares, no Python loop)."""
    lo, hi = 0, len(a)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] != b[lo:mid]:
            hi = mid
        else:
            lo = mid
    return lo
