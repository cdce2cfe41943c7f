"""Exact replay of a recorded case run: the octets the suite sent then, in the same writes and
order, paced by the same peer events; what the target answers now goes to a fresh `Trace`.

The wire log of a run (trace.py) holds every write of the suite with its label. A `Recording`
sorts them:

- the opening handshake request, sent as recorded (its Sec-WebSocket-Key included, so the answer
  is checked against that key);
- the scripted writes (the steps, the synchronisation pings, the suite's own close): each is sent
  as recorded, after the wait the run made before it: for the pong to a ping (or a close), for
  the close the case expects, and for as many messages as the target had sent by then (a
  `wait_messages` step leaves no mark in the log, so every write waits for the messages that had
  come before it). `--wait` is only the upper bound, and once the target is found to answer with
  fewer messages than then, later writes stop waiting for messages (a target that answers
  differently must not make the replay run out of its budget). Never a recorded wall-clock gap;
- the engine's answers to the peer (pongs to its pings, the close reply, the close that fails the
  connection): they are answers to what the target does *now*, so the live engine makes them,
  masked with the recorded keys in order; a target that answers as it did then gets the same
  octets, byte for byte.

A synchronisation ping keeps its recorded payload, so its pong is recognised as before and the
checkpoint's observation is recorded as a run records it. The result is judged by the one judge.

A step whose octets the log does not hold (echo, flood, bomb, hostile request, exact-limit probe,
and a message whose write the log cut: runner/regen.py) is taken again by the step's own code,
with the masking keys of the recorded seed, after the same wait for messages; its markers then and
now say whether it wrote the same octets and got the same echoes.
"""

from __future__ import annotations

__all__ = ["Chunk", "NotReplayable", "Recording", "close_marks", "recording_from_wirelog", "regen_facts",
           "replay_case", "replay_recording"]

import asyncio
import dataclasses
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

from conformance.catalog.model import Case, HandshakeSpec, SendFrame, SendMessage, Step
from conformance.catalog.payload import PayloadSpec
from conformance.engine.connection import Connection, Role, State, StateError
from conformance.runner.context import Session
from conformance.runner.handshake import do_handshake
from conformance.runner.judge import match_observations
from conformance.runner.regen import REGEN, REGEN_END, needs_seed
from conformance.runner.resources import CASE_TARGET
from conformance.runner.session import guarded
from conformance.runner.steps import SECOND_PING, run_step
from conformance.runner.trace import RunOptions, StepsStopped, Trace, case_budget
from conformance.targets.tcp import ServerTarget, open_connection
from conformance.wire.close import parse_close
from conformance.wire.frames import Frame, Opcode, apply_mask, parse_header


class NotReplayable(ValueError):
    """The report cannot be replayed exactly; the message says why (what the log lacks)."""


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One scripted write of the original run, and what preceded it there.

    `kind`: "step" (octets of a step), "sync" (a synchronisation ping; `label` names it, e.g.
    "checkpoint A" or "before closing"), "close" (the suite's own closing handshake at the end),
    "settle" (a checkpoint where no ping could go: no octets, the settle time for a close),
    "regen" (step `step` of the case, 0-based, taken again with masking keys from `seed`: its
    octets are not in the log). `messages`: the whole messages the original target had sent
    before it. `asked_again`: a checkpoint's first ping that the run followed with its second
    (runner/steps.py `_two_pings`): the checkpoint is recorded once, at the second."""

    kind: str
    data: bytes = b""
    label: str = ""
    chop: int = 0
    delay: float = 0.0
    messages: int = 0
    asked_again: bool = False
    step: int = -1
    seed: bytes = b""


@dataclasses.dataclass(frozen=True)
class Recording:
    request: bytes
    chunks: tuple[Chunk, ...]
    answer_keys: tuple[bytes, ...]  # masking keys of the engine's own answers, in order
    max_echo: int | None = None  # the run's --max-echo, when an echo step was taken again


_SYNC = re.compile(r"synchronisation ping \((.*)\)")
_SETTLE = re.compile(r"checkpoint (.*?): the suite (?:has sent a close frame|is in the middle of a frame)")


def recording_from_wirelog(wirelog: Any, case: Case | None = None) -> Recording:
    """The writes of a wire log (the per-case JSON's `wirelog`), sorted for replay; NotReplayable
    when the log lacks part of the exchange."""
    if case is not None:
        _check_steps(case)
    entries = _entries(wirelog, case)
    first = next((i for i, e in enumerate(entries) if e["dir"] == "tx" and e["kind"] == "octets"), None)
    if entries and str(entries[0].get("text", "")).startswith("extended CONNECT on stream"):
        raise NotReplayable("a run over HTTP/2 or HTTP/3 (extended CONNECT, RFC 8441 / RFC 9220): replay sends "
                            "the recorded octets over HTTP/1.1 only; run the case again with `run --http2` or `--http3`")
    if first is None:
        said = next((str(e.get("text")) for e in entries if e.get("text")), "")
        raise NotReplayable("the suite wrote nothing in that run (no connection)" + (f": {said}" if said else "")
                            + "; there is nothing to replay")
    if entries[first].get("cut"):
        raise NotReplayable(entries[first]["cut"])
    if entries[first].get("text") != "opening handshake request":
        raise NotReplayable("the wire log does not start with an HTTP/1.1 opening handshake request "
                            "(replay covers server runs over HTTP/1.1)")
    request = _octets(entries[first])
    chunks: list[Chunk] = []
    keys: list[bytes] = []
    state = _Counts()
    regions = _regen_regions(entries, case)
    max_echo: int | None = None
    for i, e in enumerate(entries[first + 1:], first + 1):
        state.see(e)
        if i in regions:
            mark, whole = regions[i]
            if whole:
                continue  # a message the log holds whole: its octets are replayed as recorded
            step, seed = _marked_step(mark, case)
            chunks.append(Chunk("regen", label=f"step {step + 1} ({mark.get('key')})", messages=state.messages,
                                step=step, seed=seed))
            max_echo = mark.get("max_echo") if isinstance(mark.get("max_echo"), int) else max_echo
            state.skip = True
            continue
        if state.skip:
            state.skip = not (e["kind"] == "event" and REGEN_END in e)
            continue
        if e.get("cut"):
            raise NotReplayable(e["cut"])
        if e["dir"] == "tx" and e["kind"] == "event" and (m := _SETTLE.match(e.get("text", ""))):
            chunks.append(Chunk("settle", label=f"checkpoint {m.group(1)}", messages=state.messages))
        if e["dir"] != "tx" or e["kind"] != "octets":
            continue
        data, label = _octets(e), str(e.get("text", ""))
        kind = _kind(label, data, state)
        if kind == "answer":
            keys += _mask_keys(data)
            continue
        sync = _SYNC.fullmatch(label)
        name = sync.group(1) if sync else label
        if sync and name.endswith(SECOND_PING) and chunks and chunks[-1].kind == "sync":
            chunks[-1] = dataclasses.replace(chunks[-1], asked_again=True)
        chunks.append(Chunk(kind, data, name, int(e.get("chop") or 0), float(e.get("delay") or 0), state.messages))
        state.closing = False
    return Recording(request, tuple(chunks), tuple(keys), max_echo)


def _regen_regions(entries: list[dict[str, Any]], case: Case | None) -> dict[int, tuple[dict[str, Any], bool]]:
    """The markers of the steps taken with a seed (runner/regen.py), by entry index: the marker,
    and whether the log holds the step whole (a message whose writes were not cut)."""
    out: dict[int, tuple[dict[str, Any], bool]] = {}
    open_at: int | None = None
    for i, e in enumerate(entries):
        if e["kind"] != "event":
            continue
        if isinstance(e.get(REGEN), dict):
            open_at = i
        elif REGEN_END in e and open_at is not None:
            mark = entries[open_at][REGEN]
            whole = mark.get("key") == SendMessage.key and not any(x.get("cut") for x in entries[open_at:i])
            out[open_at] = (mark, whole)
            open_at = None
    if open_at is not None:
        raise NotReplayable("the wire log ends inside a step whose octets it does not hold (no end marker)")
    if case is not None and not out:
        unlogged = sorted({st.key for st in case.steps if needs_seed(st) and st.key != SendMessage.key})
        if unlogged:
            raise NotReplayable(f"case {case.id} has {', '.join(unlogged)} steps, whose octets the wire log does "
                                "not hold, and the report has no seed to make them again (it was written by an "
                                "older version of the suite)")
    return out


def _marked_step(mark: dict[str, Any], case: Case | None) -> tuple[int, bytes]:
    """The step index and seed of a marker, checked against the case."""
    step, seed = mark.get("step"), mark.get("seed")
    try:
        key = bytes.fromhex(seed) if isinstance(seed, str) else b""
    except ValueError:
        key = b""
    if not isinstance(step, int) or len(key) != 16:
        raise NotReplayable("a seed marker of the wire log has no step number or no 16-octet seed (hex)")
    if case is not None and not (0 <= step < len(case.steps) and needs_seed(case.steps[step])):
        raise NotReplayable(f"the wire log makes step {step + 1} again from a seed, which is no such step "
                            f"of case {case.id} (the case changed since the run?)")
    return step, key


def regen_facts(wirelog: Any) -> dict[int, dict[str, Any]]:
    """The end markers of a wire log by step index: what each step taken with a seed did."""
    if not isinstance(wirelog, list):
        return {}
    return {int(e[REGEN_END]["step"]): e[REGEN_END] for e in wirelog
            if isinstance(e, dict) and isinstance(e.get(REGEN_END), dict)}


@dataclasses.dataclass
class _Counts:
    """What the original target had done by a point of the log."""

    messages: int = 0
    peer_closed: bool = False  # a close frame came, or the suite failed the connection
    closing: bool = False  # the suite's own close is next (the end of the case)
    skip: bool = False  # inside a step taken again from its seed: its entries are not writes to send

    def see(self, e: dict[str, Any]) -> None:
        text = str(e.get("text", ""))
        if e["dir"] == "rx" and e["kind"] == "frame":
            self.messages += bool(e.get("fin")) and e.get("opcode") in (0, 1, 2)
            self.peer_closed = self.peer_closed or e.get("opcode") == Opcode.CLOSE
        elif e["dir"] == "rx" and e["kind"] == "event" and text.startswith("peer broke "):
            self.peer_closed = True
        elif e["dir"] == "tx" and e["kind"] == "event" and text.startswith("starting the closing handshake"):
            self.closing = True


def _kind(label: str, data: bytes, state: _Counts) -> str:
    if _SYNC.fullmatch(label):
        return "sync"
    if label != "engine":
        return "step"
    if state.closing:
        return "close"
    frames = [h for h, _ in _frames_in(data)]
    if frames and all(h.opcode is Opcode.PONG or (h.opcode is Opcode.CLOSE and state.peer_closed) for h in frames):
        return "answer"  # the engine answering the peer: made live in the replay
    return "step"  # the `close` step's frame


def _entries(wirelog: Any, case: Case | None) -> list[dict[str, Any]]:
    """The log's entries, each write whole (a write the log cut is rebuilt from its step)."""
    if not isinstance(wirelog, list) or not wirelog:
        raise NotReplayable("the report has no wire log")
    out = []
    for i, e in enumerate(wirelog):
        out.append(_whole(e, i, case))
    return out


def _whole(e: Any, i: int, case: Case | None) -> dict[str, Any]:
    """One entry, checked; a write cut in the log (the log keeps 4 KiB of each) is rebuilt when it
    is one frame of a `send` step: its header (masking key included) is in the kept octets, its
    payload is the step's, and the rebuilt octets must begin with the kept ones."""
    if not isinstance(e, dict) or not {"dir", "kind"} <= set(e):
        raise NotReplayable(f"wire log entry {i} is not a wire log entry (no dir and kind)")
    if e["kind"] == "event" and str(e.get("text", "")).startswith("wire log cut after"):
        raise NotReplayable("the wire log was cut (too many entries), so it does not hold the whole exchange")
    if e["dir"] != "tx" or e["kind"] != "octets":
        return e
    data = _octets(e, i)
    if len(data) == e.get("len"):
        return e
    rebuilt = _rebuild(data, e.get("len"), case)
    if rebuilt is None:  # refused unless a step taken again from its seed made it (runner/regen.py)
        return {**e, "cut": f"wire log entry {i} kept {len(data)} of its {e.get('len')} octets "
                "(large writes are cut in the log), so the exchange cannot be replayed exactly"}
    return {**e, "hex": rebuilt.hex()}


def _rebuild(kept: bytes, length: Any, case: Case | None) -> bytes | None:
    h = parse_header(kept)
    if case is None or h is None or h.header_len + h.length != length:
        return None
    for st in case.steps:
        if not isinstance(st, SendFrame) or st.frame.compress or st.frame.payload.length != h.length:
            continue
        payload = st.frame.payload.materialize()
        whole = kept[: h.header_len] + (apply_mask(payload, h.mask) if h.mask is not None else payload)
        if whole.startswith(kept):
            return whole
    return None


def _octets(e: dict[str, Any], i: int | None = None) -> bytes:
    try:
        return bytes.fromhex(str(e.get("hex") or ""))
    except ValueError:
        raise NotReplayable(f"wire log entry {i}: `hex` is not hex octets") from None


def _check_steps(case: Case) -> None:
    if case.transport:
        raise NotReplayable(f"case {case.id} runs over {case.transport}; replay sends its octets over HTTP/1.1 only")


def _frames_in(data: bytes) -> Iterator[tuple[Any, bytes]]:
    """Complete frames in `data` with their unmasked payloads (stops at an incomplete one)."""
    pos = 0
    while (h := parse_header(data, pos)) is not None and pos + h.header_len + h.length <= len(data):
        payload = data[pos + h.header_len : pos + h.header_len + h.length]
        yield h, apply_mask(payload, h.mask) if h.mask is not None else payload
        pos += h.header_len + h.length


def _mask_keys(data: bytes) -> list[bytes]:
    return [h.mask for h, _ in _frames_in(data) if h.mask is not None]


# -- the replay ---------------------------------------------------------------------------------


class _AnsweringConnection(Connection):
    """The engine, masking its own frames with the recorded keys in order (random ones after).
    Inside a step taken again from its seed, the step's frames take the seeded keys and the
    engine's answers fresh ones, as in the run (the log did not record those answers)."""

    def __init__(self, keys: Sequence[bytes], **kw: Any) -> None:
        super().__init__(Role.CLIENT, **kw)
        self._keys = iter(keys)

    def _mask_key(self, opcode: Opcode) -> bytes:
        if self.mask_keys is not None:
            return super()._mask_key(opcode)
        return next(self._keys, None) or os.urandom(4)


class _ReplaySession(Session):
    def __init__(self, case: Case, opts: RunOptions, rec: Recording) -> None:
        super().__init__(case, opts, Trace())
        self.rec = rec
        self.paced = True  # False once the target sent fewer messages than then: writes stop waiting for them
        self.sent = bytearray()  # scripted octets not yet parsed into frames

    def start(self, role: Role, leftover: bytes) -> None:
        self.conn = _AnsweringConnection(self.rec.answer_keys, deflate=self.deflate, frame_events=True,
                                         max_message=self.opts.max_message)
        self.task = asyncio.create_task(self.read_loop())
        if leftover:
            self.conn.receive_data(leftover)
            self.drain_events()

    def messages_in(self) -> int:
        return sum(kind in ("text", "binary") for kind, _ in self.trace.observations)


def replay_case(case: Case, rec: Recording) -> Case:
    """`case` with the recorded request as its handshake (the expectations stay the case's)."""
    hs = case.handshake or HandshakeSpec()
    return dataclasses.replace(case, handshake=dataclasses.replace(hs, raw=PayloadSpec("literal", rec.request)))


async def replay_recording(case: Case, rec: Recording, target: ServerTarget, opts: RunOptions) -> Trace:
    """Send the recording to `target` and observe the answer; never raises for what the target does."""
    if any(c.kind == "regen" for c in rec.chunks):
        opts = dataclasses.replace(opts, max_echo=rec.max_echo)  # the echo steps send as many messages as then
    s = _ReplaySession(replay_case(case, rec), opts, rec)
    trace = s.trace
    budget = case_budget(case, opts) + opts.wait  # a run's budget, and the one wait that found the target changed
    trace.measurements["limits"] = {"budget": case_budget(case, opts), "wait": opts.wait, "settle": opts.settle}

    async def body() -> None:
        CASE_TARGET.set(target)  # for the steps that open connections of their own (hostile requests, probes)
        s.reader, s.writer = await open_connection(target, min(budget, opts.wait * 2))
        trace.connected = True
        leftover = await do_handshake(s, target)
        if not trace.opened:
            return
        s.start(Role.CLIENT, leftover)
        marks = close_marks(case.steps)
        steps_ended = False
        for chunk in rec.chunks:
            if steps_ended and not _after_steps(chunk):
                continue
            if trace.eof or trace.reset:
                break
            if not await _send_chunk(s, chunk, marks):
                if chunk.kind != "regen":
                    break
                steps_ended = True  # the step ended the steps, as in a run: the session's own end follows
        await _finish(s)

    return await guarded(s, budget, body)


def _after_steps(chunk: Chunk) -> bool:
    """A write of the session's end (after the steps): the sync before closing, the suite's close."""
    return chunk.kind == "close" or (chunk.kind == "sync" and not chunk.label.startswith("checkpoint "))


def close_marks(steps: Sequence[Step]) -> list[bool]:
    """For each step that sends a close frame, in order: does it start the closing handshake?
    (`send_close` and `close` do; a `send` of opcode close is only a frame, as in a run.)"""
    out = []
    for st in steps:
        if st.key in ("send_close", "close"):
            out.append(True)
        elif isinstance(st, SendFrame) and st.frame.opcode is Opcode.CLOSE:
            out.append(False)
    return out


async def _send_chunk(s: _ReplaySession, chunk: Chunk, marks: list[bool]) -> bool:
    """One scripted write, once the target has done what it had done before it; False when the
    writes end here (the peer closed where the run stopped its steps)."""
    t, opts = s.trace, s.opts
    if chunk.kind == "close":
        return await _send_close(s, chunk)
    await _messages_then(s, chunk)
    if chunk.kind == "settle":
        return _settled(s, chunk.label, await s.wait_for(lambda: t.peer_closed, opts.settle))
    if chunk.kind == "regen":
        return await _regen(s, chunk)
    if chunk.kind == "sync":
        return await _sync(s, chunk)
    if not await s.write(chunk.data, chop=chunk.chop, delay=chunk.delay, label=chunk.label):
        return False
    _tell_engine(s, chunk.data, marks)
    return True


async def _messages_then(s: _ReplaySession, chunk: Chunk) -> None:
    """Wait until the target has sent as many messages as it had before this write then."""
    t = s.trace
    if not s.paced or await s.wait_for(lambda: s.messages_in() >= chunk.messages or t.peer_closed, s.opts.wait):
        return
    s.paced = False
    t.log("tx", "event", text=f"the target sent {s.messages_in()} messages where it had sent {chunk.messages} "
          "by this write then; later writes no longer wait for messages")


async def _send_close(s: _ReplaySession, chunk: Chunk) -> bool:
    """The suite's own close at the end, after the wait a run makes before it (session._finish)."""
    t, case = s.trace, s.case
    if case.close.by == "us":
        await s.wait_for(lambda: t.peer_closed or match_observations(case, t.observations) is not None, s.opts.wait)
    else:
        await s.wait_for(lambda: t.peer_closed, s.opts.wait)
    assert s.conn is not None
    if s.conn.state is not State.OPEN or t.eof or t.reset:
        return False  # the peer closed first: the engine has answered, as in a run
    t.log("tx", "event", text="starting the closing handshake (as recorded)")
    if not await s.write(chunk.data, label="engine"):
        return False
    _tell_engine(s, chunk.data, [])
    return True


async def _regen(s: _ReplaySession, chunk: Chunk) -> bool:
    """The step the log does not hold, taken again by its own code with the recorded seed."""
    t = s.trace
    step = s.case.steps[chunk.step]  # checked against the case when the recording was read
    t.replay_seeds[chunk.step] = chunk.seed
    try:
        return await run_step(s, chunk.step, step)
    except StateError as exc:
        t.steps_stopped = StepsStopped(chunk.step + 1, step.key, peer_closed=t.peer_closed, detail=str(exc))
        return False


def _tell_engine(s: _ReplaySession, data: bytes, marks: list[bool]) -> None:
    """A close frame among the scripted octets: the engine and the trace learn it was sent, as
    when the runner sends one (the octets themselves are already written)."""
    assert s.conn is not None
    s.sent += data
    pos = 0
    for h, payload in _frames_in(bytes(s.sent)):
        pos += h.header_len + h.length
        if h.opcode is not Opcode.CLOSE:
            continue
        if s.conn.close_sent is None and s.conn.state is not State.CLOSED:
            s.conn.send_frame(Frame(Opcode.CLOSE, payload), mask=False)
            s.conn.data_to_send()  # already on the wire, as recorded
        if marks.pop(0) if marks else True:
            code, reason = parse_close(payload)
            s.mark_close_sent(code, reason.decode("utf-8", "replace"))
    del s.sent[:pos]


async def _sync(s: _ReplaySession, chunk: Chunk) -> bool:
    """A synchronisation ping with its recorded payload: wait for its pong (or a close), as the
    run did (runner/steps.py `_checkpoint`, session.py `_settle_any`)."""
    t = s.trace
    if t.peer_closed:
        return False
    (_, payload), = list(_frames_in(chunk.data))[:1] or [(None, b"")]
    s.sync_ping, s.sync_result = payload, ""
    checkpoint = chunk.label.startswith("checkpoint ")
    bound = s.opts.settle if checkpoint else s.opts.wait
    try:
        if not await s.write(chunk.data, label=f"synchronisation ping ({chunk.label})"):
            return False
        await s.wait_for(lambda: bool(s.sync_result), bound)
        outcome = s.sync_result or "timeout"
    finally:
        s.sync_ping = None
    if not checkpoint:
        if outcome == "timeout":
            t.timing_notes.append(f"the peer answered neither the final ping nor closed within {bound:g} s")
        return True
    if outcome == "closed":
        return False
    if outcome == "pong" and chunk.asked_again:  # the second ping decides, as in the run
        return True
    label = chunk.label.removeprefix("checkpoint ").removesuffix(SECOND_PING)
    t.observations.append(("timeout", label))
    if outcome == "timeout":
        note = (f"checkpoint {label}: the peer answered the ping with neither a pong nor a close; still open "
                f"after {bound:g} s (a timing-dependent result)")
        t.timing_notes.append(note)
        t.log("tx", "event", text=note)
    return not t.peer_closed


def _settled(s: _ReplaySession, label: str, closed: bool) -> bool:
    """A checkpoint where no ping could go: still open after the settle time, or closed."""
    t = s.trace
    if closed:
        return False
    name = label.removeprefix("checkpoint ")
    t.observations.append(("timeout", name))
    note = f"{label}: no ping could be sent here; still open after {s.opts.settle:g} s (a timing-dependent result)"
    t.timing_notes.append(note)
    t.log("tx", "event", text=note)
    return True


async def _finish(s: _ReplaySession) -> None:
    """After the recording: as a run ends (session._finish, the client's half). A case whose
    recording has no close of the suite's (the peer closed then) gets one now if the peer does
    not close: it is the one write that is not recorded."""
    t, opts = s.trace, s.opts
    assert s.conn is not None
    if s.conn.state is State.OPEN and not t.eof and not t.reset:
        await s.wait_for(lambda: t.peer_closed, opts.wait)
        if s.conn.state is State.OPEN and not t.eof and not t.reset:
            s.conn.close(1000)
            s.mark_close_sent(1000)
            t.log("tx", "event", text="starting the closing handshake (1000; not in the recording)")
            await s.flush()
    await s.wait_for(lambda: t.eof or (t.close_received is not None), opts.wait)
    await s.wait_for(lambda: t.eof, max(opts.close_grace, opts.wait))  # as session._close does
