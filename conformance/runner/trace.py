"""The facts of one case run, the bottom of the runner: what was sent and received, when, and
who closed. Nothing here judges; `judge.py` turns a `Trace` into verdict sentences.

The run's options and the per-case budget live here too, since every layer above needs them.
"""

from __future__ import annotations

__all__ = ["ECHO_DIGEST", "EchoFailure", "RedirectFacts", "RunOptions", "StepsStopped", "Trace", "TxFrames", "case_budget",
           "deflate_missing"]

import dataclasses
import hashlib
import time
from typing import Any

from conformance.catalog.model import Case
from conformance.engine import events as ev
from conformance.engine.rules import ProtocolError, Rule
from conformance.wire.frames import Opcode, parse_header
from conformance.wire.http import Response

# what `echoed_sha256` of a step is taken over (runner/regen.py): each echo's length (8 octets,
# big-endian) and SHA-256, in order; a record without this name has it over the echoes' octets
ECHO_DIGEST = "length and sha256 of each echo"
_WIRELOG_MAX = 1500
_HEX_MAX = 4096
_WIRELOG_HEX_TOTAL = 1 << 20  # octets shown in hex over the whole wire log of one case


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
    browser: bool = False  # the client under test is a browser (run --browser): WHATWG's rules bind it
    watch: Any = None  # a targets.watch.WatchedServer (--server-cmd): figures and restarts (runner/resources.py)
    adapter_log: Any = None  # a targets.inprocess.AdapterLog (--impl): what the adapter raised, per connection
    server_max_message: int | None = None  # the server's message limit, when stated (runner/exact_limit.py)


@dataclasses.dataclass(frozen=True)
class StepsStopped:
    """The steps ended before the last one: at step `index` (1-based), `key` its kind.
    `peer_closed`: the peer had closed or failed the connection by then; otherwise `detail` says
    why the suite could not take the step (the engine refused it)."""

    index: int
    key: str
    peer_closed: bool
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class EchoFailure:
    """An echo step that did not complete. `kind`: "not-negotiated" (compression was asked for but
    not agreed), "closed" (the peer closed), "no-echo" (none in time), "mismatch" (`detail`
    says how the echo differs)."""

    kind: str
    echoed: int = 0  # echoes that came back intact
    count: int = 0  # messages the step sends
    detail: str = ""


@dataclasses.dataclass
class RedirectFacts:
    """What a client did with a 3xx answer whose Location is the suite's second listener.
    `outcome`: "followed" (a handshake arrived there), "moved-on" (the client's next connection
    went to the suite's main listener instead) or "silent" (neither within the bound).
    `request` is the raw handshake that arrived at the Location."""

    location: str
    browser: bool
    outcome: str = "silent"
    request: str = ""
    waited: float = 0.0


@dataclasses.dataclass
class Trace:
    """What happened during one case, as the judge needs it."""

    t0: float = dataclasses.field(default_factory=time.monotonic)
    testing: str = "server"  # which side is under test: "server" or "client"
    connected: bool = False
    local_port: int | None = None  # our end of the TCP connection (the --impl server logs by it)
    request: str = ""
    response: str = ""
    status: int | None = None
    response_head: Response | None = None  # the parsed response (server testing)
    handshake_error: ProtocolError | None = None
    handshake_note: str = ""  # what went wrong on the way to a response (no response, invalid HTTP ...)
    # after a response it must refuse: "closed", "sent-frames", "answered-probe" (a pong to the ping
    # glued to our answer: it took the answer as valid) or "kept-open"
    client_reaction: str = ""
    redirect: RedirectFacts | None = None  # a case whose answer redirects to the second listener
    opened: bool = False
    deflate_negotiated: bool | None = None  # None: not asked for
    observations: list[tuple[str, bytes | str]] = dataclasses.field(default_factory=list)
    sync_pongs: int = 0  # pongs to the suite's synchronisation pings (wire log only; not observations)
    timing_notes: list[str] = dataclasses.field(default_factory=list)  # results that rest on a timeout
    violations: list[tuple[Rule, str]] = dataclasses.field(default_factory=list)
    peer_failure: ev.Failure | None = None  # the peer broke a rule and we failed the connection
    close_received: ev.CloseReceived | None = None
    close_sent: tuple[int | None, str] | None = None  # the code and reason of our close frame
    close_sent_first: bool | None = None  # True: we sent the first close frame
    eof: bool = False  # the peer closed TCP
    eof_first: bool | None = None  # True: the peer closed TCP before we did
    close_sent_at: float | None = None  # monotonic time of the suite's first close frame
    eof_at: float | None = None  # monotonic time the peer's TCP close (EOF) was seen
    linger: float = 0.0  # testing a client: seconds the suite kept TCP open after the closing handshake
    reset: bool = False
    dropped_by_me: bool = False
    timed_out: str = ""
    echo_failure: EchoFailure | None = None
    steps_stopped: StepsStopped | None = None
    measurements: dict[str, Any] = dataclasses.field(default_factory=dict)
    wirelog: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    logging: bool = True
    observed_octets: int = 0  # payload octets kept in `observations`
    flooded: str = ""
    # a step whose octets the log leaves out (runner/regen.py): the seed of its masking keys (a
    # replay sets the recorded ones, by step index), and a digest of what it wrote and got echoed
    replay_seeds: dict[int, bytes] = dataclasses.field(default_factory=dict)
    tx_digest: Any = None  # a hashlib object while such a step runs: its own writes go in (`_own`)
    tx_octets: int = 0
    echo_digest: Any = None  # the same for the echoes it got back
    echoed: int = 0
    step_entries: int | None = None  # entries such a step may still add (the rest is counted, not kept)
    step_skipped: int = 0
    # seconds spent waiting, by phase (connect, handshake, step:KIND, close:..., teardown, watch):
    # on the peer (a pong, a close, EOF) or on a timer; `waited_timer` holds the part of each that
    # ended on its timer because the peer did nothing (a measurement, never judged)
    waited: dict[str, float] = dataclasses.field(default_factory=dict)
    waited_timer: dict[str, float] = dataclasses.field(default_factory=dict)
    _logged_hex: int = 0

    def add_wait(self, phase: str, seconds: float, *, timer: bool = False) -> None:
        """Account `seconds` of waiting to `phase`; `timer`: the wait ended on its timer."""
        if seconds <= 0:
            return
        self.waited[phase] = self.waited.get(phase, 0.0) + seconds
        if timer:
            self.waited_timer[phase] = self.waited_timer.get(phase, 0.0) + seconds

    def wait_figures(self) -> dict[str, Any]:
        """The waits as per-case measurements: `waited` and `waited_on_timer` (seconds by phase)."""
        out: dict[str, Any] = {}
        if self.waited:
            out["waited"] = {k: round(v, 4) for k, v in self.waited.items()}
        if self.waited_timer:
            out["waited_on_timer"] = {k: round(v, 4) for k, v in self.waited_timer.items()}
        return out

    def log(self, direction: str, kind: str, data: bytes = b"", text: str = "", **extra: Any) -> None:
        if self.tx_digest is not None and kind == "octets" and direction == "tx" and _own(text):
            self.tx_digest.update(data)
            self.tx_octets += len(data)
        if not self.logging or len(self.wirelog) >= _WIRELOG_MAX:
            return
        if self.step_entries is not None:
            if self.step_entries <= 0:
                self.step_skipped += 1
                return
            self.step_entries -= 1
        shown = data[: min(_HEX_MAX, max(0, _WIRELOG_HEX_TOTAL - self._logged_hex))]
        self._logged_hex += len(shown)
        entry = {"t": round(time.monotonic() - self.t0, 6), "dir": direction, "kind": kind,
                 "len": len(data), "hex": shown.hex(), "text": text, **extra}
        self.wirelog.append(entry)
        if len(self.wirelog) == _WIRELOG_MAX:
            self.wirelog.append({"t": entry["t"], "dir": "", "kind": "event", "len": 0, "hex": "",
                                 "text": f"wire log cut after {_WIRELOG_MAX} entries"})

    def note_echo(self, length: int, digest: bytes) -> None:
        """An echo that came back intact during a step whose octets the log leaves out: its
        length and its own SHA-256 go into the step's echo digest (ECHO_DIGEST). An intact echo
        is the message sent, and an echo step sends the same few messages round and round, so
        each distinct message is hashed once (runner/steps.py), not the gigabytes of 12 and 13."""
        if self.echo_digest is not None:
            self.echo_digest.update(length.to_bytes(8, "big"))
            self.echo_digest.update(digest)
            self.echoed += 1

    def digests_on(self, entries: int) -> None:
        """A step whose octets the log leaves out begins: digests on, at most `entries` log entries."""
        self.tx_digest, self.echo_digest = hashlib.sha256(), hashlib.sha256()
        self.tx_octets = self.echoed = self.step_skipped = 0
        self.step_entries = entries

    @property
    def peer_closed(self) -> bool:
        return (self.close_received is not None or self.eof or self.peer_failure is not None
                or bool(self.flooded))


def _own(label: str) -> bool:
    """A write of the step itself: not the engine answering the peer, not a synchronisation ping
    (its payload is random; its pong is waited for, not compared)."""
    return label != "engine" and not label.startswith("synchronisation ping")


class TxFrames:
    """Where the octets the suite has written stand in the frame sequence (a header parser on the
    sending side): a synchronisation ping may only go between two frames, and never after a close."""

    def __init__(self) -> None:
        self.head = bytearray()  # octets of a header not yet complete
        self.left = 0  # payload octets of the current frame still to come
        self.close_sent = False

    def feed(self, data: bytes, *, whole_frames: bool = False) -> None:
        """Follow `data` written after what was fed before. `whole_frames`: the writer knows that
        `data` is whole frames and none of them a close (a message the engine built): written
        between two frames, it ends between two frames, and no header is parsed; written inside a
        frame (after raw octets), it is parsed as any other octets."""
        if whole_frames and self.between_frames:
            return
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


def case_budget(case: Case, opts: RunOptions) -> float:
    """Seconds a case may take: its own budget (Autobahn's limits for big cases) or the run's default."""
    budget = case.timeout or opts.timeout
    return min(budget, opts.timeout_cap) if opts.timeout_cap else budget


def deflate_missing(case: Case, trace: Trace) -> bool:
    """The case needs permessage-deflate and the peer did not agree to it: the case is
    UNIMPLEMENTED, so its steps (compressed frames the peer never agreed to) are not sent."""
    return case.deflate is not None and case.deflate.required and not trace.deflate_negotiated
