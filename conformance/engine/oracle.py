"""The oracle: the one place that says what a conforming server must do after any input.

The reference engine, played as a server, reads what a client sends; the oracle turns its events
into what is required of the peer: the messages it delivers, the pongs it sends, whether and how
it ends the connection (the acceptable close codes, who closes, cleanly or not). Where the RFCs
leave a choice the engine runs in each allowed way (a `Model`) and the peer may match any of them.
The close codes a peer may use in good faith besides the one the RFC calls for are declared on the
rule itself (`Rule.also_accepted`). The generators, the fuzzers and the judge all ask this module.

Sans-IO: octets in, requirements out.
"""

from __future__ import annotations

__all__ = [
    "LENIENT_UTF8",
    "MODELS",
    "NO_CODE",
    "STRICT",
    "Expectation",
    "Model",
    "Oracle",
    "Required",
    "Sent",
    "accepted_close_codes",
    "expectation",
    "failure_codes",
    "models_for",
    "required",
]

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import conformance.engine.deflate as pmd
import conformance.engine.events as ev
from conformance.engine.connection import CLOSE_REASON_INVALID, Connection, Role
from conformance.engine.rules import Rule
from conformance.wire.frames import FrameHeader, Opcode, apply_mask, parse_header

NO_CODE = 1005  # stands for a close frame without a payload (never a code on the wire, §7.4.1)
_DEFAULT_CODE = 1002  # a failure whose rule names no code: a protocol error (§7.4.1)

Observation = tuple[str, bytes | str]  # ("text" | "binary" | "pong", octets) or ("timeout", label)


# -- the latitude the RFCs leave -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Model:
    """One conforming way to behave where the RFCs leave a choice.

    fail_fast: invalid UTF-8 fails the connection at the first octet that cannot be valid
        (RFC 6455 §8.1 makes this a SHOULD; checking when the message is complete conforms).
    reject_non_minimal: a length not written in the fewest octets fails the connection
        (§5.2 binds the sender only, so a receiver MAY accept it or reject it).
    check_boundary: compressed data that ends inside a deflate block fails the message
        (RFC 7692 §7.2.2); a receiver MAY instead inflate what it can.
    """

    fail_fast: bool = True
    reject_non_minimal: bool = False
    check_boundary: bool = True


STRICT = Model()  # the engine's default, and what the `ok` expectation of a case shows
LENIENT_UTF8 = Model(fail_fast=False)  # a departure from a SHOULD: the `non_strict` expectation
MODELS = [Model(f, r, b) for f in (True, False) for r in (False, True) for b in (True, False)]  # STRICT first


# -- close codes -----------------------------------------------------------------------------------

def accepted_close_codes(rule: Rule) -> frozenset[int]:
    """The close codes a conforming peer may fail the connection with for `rule`: the one the RFC
    calls for (1002 when the rule names none) and the rule's accepted alternatives. A close frame
    without a code is acceptable besides (RFC 6455 §7.1.7: the status code is optional)."""
    return frozenset({rule.close_code or _DEFAULT_CODE, *rule.also_accepted})


def failure_codes(failure: ev.Failure, wire: bytes = b"") -> frozenset[int]:
    """The codes a peer may close with (NO_CODE for none) when it fails the connection where the
    engine reported `failure` after reading `wire` (every octet the client sent). A close frame with an invalid code and a
    reason that is not UTF-8 breaks two rules, and the RFC does not say which one to report, so
    the codes for the reason are accepted too (§7.4.1, §5.5.1)."""
    codes = {failure.close_code or _DEFAULT_CODE, NO_CODE, *accepted_close_codes(failure.rule)}
    if failure.rule.id in ("close.code-invalid", "close.code-undefined") and _bad_close_reason(wire):
        codes |= accepted_close_codes(CLOSE_REASON_INVALID)
    return frozenset(codes)


def _frames(octets: bytes) -> Iterator[tuple[FrameHeader, bytes]]:
    """The whole frames in `octets`: each one's header and unmasked payload."""
    pos = 0
    while (h := parse_header(octets, pos)) is not None and pos + h.header_len + h.length <= len(octets):
        body = octets[pos + h.header_len : pos + h.header_len + h.length]
        yield h, apply_mask(body, h.mask) if h.mask else body
        pos += h.header_len + h.length


def _bad_close_reason(wire: bytes) -> bool:
    """The first close frame in `wire` has a reason that is not UTF-8."""
    for h, payload in _frames(wire):
        if h.opcode is Opcode.CLOSE:
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                return True
            return False
    return False


# -- what is required ------------------------------------------------------------------------------

@dataclasses.dataclass
class Required:
    """What a conforming server must have done after the octets sent so far, in one model.

    `close` is None while it must stay open; else the code the engine itself closes with (NO_CODE:
    an empty close frame) and `codes` every code a conforming server may close with (NO_CODE
    among them when an empty close frame will do). `closed_by` says who is seen to close first:
    "us" (we sent a close frame as a close, or the connection is still open at the end and we
    close it), "peer" (it fails the connection), "either" (we sent a close frame as raw octets,
    so the runner cannot know it closed first). `open_ended`: it accepted a message cut short
    inside a deflate block; what a server does after that is beyond the RFCs, so only what came
    before is required.
    """

    observations: list[Observation] = dataclasses.field(default_factory=list)
    close: int | None = None
    codes: frozenset[int] = frozenset()
    rule: str | None = None  # the rule the client broke, when the connection is failed
    failure: ev.Failure | None = None
    closed_by: str = "us"
    open_ended: bool = False
    steps_used: int = 0  # steps read before it stopped (checkpoints count)

    @property
    def messages(self) -> list[tuple[bool, bytes]]:
        """The messages delivered: (is text, octets)."""
        return [(kind == "text", bytes(d)) for kind, d in self.observations if kind in ("text", "binary")
                and isinstance(d, bytes)]

    @property
    def pongs(self) -> list[bytes]:
        return [d for kind, d in self.observations if kind == "pong" and isinstance(d, bytes)]

    @property
    def ended(self) -> bool:
        return self.close is not None or self.open_ended

    @property
    def clean(self) -> bool:
        """A closing handshake the runner sees complete: nothing failed, and it knows it sent a
        close frame if it did."""
        return self.failure is None and self.closed_by != "either"

    def close_codes(self) -> list[int]:
        """The codes a case's close expectation lists (an empty close frame is always accepted)."""
        return sorted(self.codes - {NO_CODE}) if self.close is not None else [1000]


@dataclasses.dataclass(frozen=True)
class Sent:
    """One step of the client: octets, sent as a close frame (`closing`) or as they are; or, with
    `checkpoint`, nothing sent and the connection must still be open there."""

    octets: bytes = b""
    closing: bool = False
    checkpoint: str | None = None


class Oracle:
    """The engine playing a conforming server in one model, fed step by step."""

    def __init__(self, agreed: Any = None, model: Model = STRICT) -> None:
        self.codec = pmd.negotiated_codec(agreed, "server", None) if agreed is not None else None
        if self.codec is not None:
            self.codec.check_boundary = model.check_boundary
        self.engine = Connection(Role.SERVER, max_message=None, deflate=self.codec, auto_pong=False,
                                 utf8_fail_fast=model.fail_fast, reject_non_minimal=model.reject_non_minimal)
        self.required = Required()
        self._wire = bytearray()  # what the client sent, however it was cut

    def send(self, step: Sent | bytes) -> bool:
        """Read one step; True when the connection has ended (later steps are never read)."""
        if isinstance(step, bytes):
            step = Sent(step)
        r = self.required
        if r.ended:
            return True
        r.steps_used += 1
        if step.checkpoint is not None:
            r.observations.append(("timeout", step.checkpoint))
            return False
        self._wire += step.octets
        self.engine.receive_data(step.octets)
        for e in self.engine.events():
            if self._react(e, step):
                return True
        if self.codec is not None and self.codec.cut_short:
            r.open_ended = True
        elif step.closing:  # whatever the engine made of it, the runner has closed
            r.close, r.codes = NO_CODE, frozenset({1000, NO_CODE})
        return r.ended

    def _react(self, e: ev.Event, step: Sent) -> bool:
        r = self.required
        if isinstance(e, ev.Message):
            r.observations.append(("text" if e.opcode is Opcode.TEXT else "binary", bytes(e.data)))
        elif isinstance(e, ev.Ping):
            r.observations.append(("pong", bytes(e.data)))
        elif isinstance(e, ev.Failure):
            r.close, r.rule, r.failure = e.close_code or _DEFAULT_CODE, e.rule.id, e
            r.codes = failure_codes(e, bytes(self._wire))
            r.closed_by = "us" if step.closing else "peer"
            return True
        elif isinstance(e, ev.CloseReceived):
            r.close = NO_CODE if e.code is None else e.code
            r.codes = frozenset({1000, r.close})
            r.closed_by = "us" if step.closing else "either"
            return True
        return False


def required(steps: Sequence[Sent | bytes], agreed: Any = None, model: Model = STRICT) -> Required:
    """What a conforming server must do with `steps`, in `model`."""
    o = Oracle(agreed, model)
    for step in steps:
        if o.send(step):
            break
    return o.required


def models_for(steps: Sequence[Sent | bytes], agreed: Any = None) -> list[Model]:
    """STRICT and the other models that can react differently to `steps`: the deflate block
    boundary matters only with deflate agreed, the length rule only when a frame's length is not
    in its shortest form (each model costs one more run of the engine)."""
    boundary = agreed is not None
    lengths = any(not h.minimal_length for s in steps for h, _ in _frames(s if isinstance(s, bytes) else s.octets))
    return [m for m in MODELS if (boundary or m.check_boundary) and (lengths or not m.reject_non_minimal)]


# -- a case's expectation --------------------------------------------------------------------------

@dataclasses.dataclass
class Expectation:
    """What a case expects of a conforming server, over every model: `ok` is the strict reaction,
    `non_strict` a late UTF-8 check's (when it differs), `informational` another allowed model's
    (when it differs from both); then the close: who, which codes (none is accepted too), clean."""

    strict: Required
    ok: list[Observation]
    non_strict: list[Observation] | None
    informational: list[Observation] | None
    closed_by: str
    close_codes: list[int]
    clean: bool
    steps_used: int


def expectation(steps: Sequence[Sent | bytes], agreed: Any = None) -> Expectation:
    """What a conforming server must do with `steps`, merged over the models that apply: the
    close codes of any of them, "either" side and not clean when they close differently."""
    runs = {m: required(steps, agreed, m) for m in models_for(steps, agreed)}
    strict = runs[STRICT]
    by, clean = strict.closed_by, strict.clean
    codes: set[int] = set()
    for r in runs.values():
        codes.update(r.close_codes())
        if (r.closed_by, r.clean) != (strict.closed_by, strict.clean):
            by, clean = "either", False
    lenient = runs.get(LENIENT_UTF8)
    non_strict = lenient.observations if lenient and lenient.observations != strict.observations else None
    other = [r.observations for m, r in runs.items() if m.fail_fast and m != STRICT
             and r.observations not in (strict.observations, non_strict)]
    return Expectation(strict, strict.observations, non_strict, other[0] if other else None, by,
                       sorted(codes), clean, max(r.steps_used for r in runs.values()))
