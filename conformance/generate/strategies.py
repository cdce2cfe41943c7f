"""Hypothesis strategies for what a client does, and the engine's verdict on what must happen.

Strategies are plural nouns. An `Exchange` is one connection: an opening handshake (correct, or
bent the way a server must refuse or tolerate), maybe a permessage-deflate offer (valid, or
malformed so that it must be declined), then steps: raw frames, correct messages (compressed when
deflate was agreed), checkpoints and a final close frame. `predict` asks the reference engine,
playing the server, what a conforming echo server does with it.

Everything shrinks towards the plain case: no handshake change, no offer, fewer steps, shorter
payloads, text, FIN set, no reserved bits, masking on, no close frame. A shrunk counterexample
shows only what matters.
"""

from __future__ import annotations

__all__ = [
    "HANDSHAKE_VARIANTS",
    "MALFORMED_OFFERS",
    "VALID_OFFERS",
    "Checkpoint",
    "Close",
    "Exchange",
    "GeneratedFrame",
    "Message",
    "Observation",
    "Prediction",
    "closes",
    "conversations",
    "exchanges",
    "extension_offers",
    "frames",
    "handshake_variants",
    "messages",
    "predict",
    "utf8_texts",
]

import dataclasses
from typing import Any

from hypothesis import strategies as st

from conformance.engine.connection import Connection, Role
from conformance.engine.handshake import ClientHandshake, ServerHandshake
from conformance.engine.oracle import Sent, expectation
from conformance.engine.rules import HandshakeError
from conformance.wire.frames import Frame, Opcode, serialize_frame
from conformance.wire.http import parse_request
from conformance.wire.uri import parse_uri

_ZERO_MASK = b"\x00\x00\x00\x00"


@dataclasses.dataclass(frozen=True)
class GeneratedFrame:
    """One frame written exactly as described, legal or not."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    masked: bool = True

    def to_bytes(self) -> bytes:
        frame = Frame(Opcode(self.opcode), self.payload, self.fin, self.rsv1, self.rsv2, self.rsv3)
        return serialize_frame(frame, mask=_ZERO_MASK if self.masked else None)


@dataclasses.dataclass(frozen=True)
class Message:
    """A correct whole message: `pattern` repeated to `size` octets, in frames of `fragment`
    octets (0: one frame); compressed by the runner when permessage-deflate was agreed."""

    text: bool
    pattern: bytes
    size: int
    fragment: int = 0

    @property
    def data(self) -> bytes:
        return (self.pattern * (self.size // len(self.pattern) + 1))[: self.size]


@dataclasses.dataclass(frozen=True)
class Close:
    """A close frame: a code and reason, an empty payload (code None), or one stray octet."""

    code: int | None
    reason: bytes = b""
    one_octet: bool = False

    @property
    def payload(self) -> bytes:
        if self.one_octet:
            return b"\x03"
        if self.code is None:
            return b""
        return self.code.to_bytes(2, "big") + self.reason


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Wait the settle time; an open connection here is recorded as {timeout: label}."""

    label: str


Step = GeneratedFrame | Message | Close | Checkpoint


@dataclasses.dataclass(frozen=True)
class Exchange:
    """One connection: how the request is bent, what is offered, then the steps."""

    steps: tuple[Step, ...] = ()
    handshake: dict[str, Any] | None = None  # a case's `handshake` mapping
    offer: dict[str, Any] | None = None  # a valid permessage-deflate offer (a case's deflate.offers[0])
    raw_offer: str | None = None  # a malformed Sec-WebSocket-Extensions value, to be declined


# -- the opening handshake -------------------------------------------------------------------------

# Requests a server must refuse (RFC 6455 §4.2.1, §4.4) and unusual ones it must accept (§4.2.1
# and RFC 9110 §7.6.1: token lists, case-insensitive names and values). The engine decides which is which.
HANDSHAKE_VARIANTS: list[dict[str, Any]] = [
    {"method": "POST"},
    {"http_version": "HTTP/1.0"},
    {"headers": {"Sec-WebSocket-Key": None}},
    {"headers": {"Sec-WebSocket-Key": "not base64 at all!"}},
    {"headers": {"Sec-WebSocket-Key": "AQIDBAUGBwgJCgsMDQ4P"}},
    {"headers": {"Sec-WebSocket-Version": "8"}},
    {"headers": {"Sec-WebSocket-Version": "14"}},
    {"headers": {"Sec-WebSocket-Version": None}},
    {"headers": {"Upgrade": None}},
    {"headers": {"Upgrade": "h2c"}},
    {"headers": {"Connection": None}},
    {"headers": {"Connection": "keep-alive"}},
    {"headers": {"Host": None}},
    {"headers": {"Connection": "keep-alive, Upgrade"}},
    {"headers": {"Upgrade": "WebSocket", "Connection": "UPGRADE"}},
    {"path": "/?a=1&b=%20"},
]

# What a refusal may answer, per rule: the RFC names 400 in general, 426 for versions; servers
# commonly answer 405 to other methods and 505 to other HTTP versions.
_REFUSAL_STATUS: dict[str, list[int]] = {
    "handshake.method": [400, 405],
    "handshake.http-version": [400, 426, 505],
    "handshake.version": [400, 426],
    "handshake.upgrade": [400, 426],
    "handshake.connection": [400, 426],
}

# permessage-deflate offers (RFC 7692 §7.1) that read; the server may accept or decline them.
VALID_OFFERS: list[dict[str, Any]] = [
    {},
    {"server_no_context_takeover": True},
    {"client_no_context_takeover": True},
    {"server_max_window_bits": 9},
    {"client_max_window_bits": True},
    {"server_no_context_takeover": True, "client_max_window_bits": True},
]

# Offers that do not read (RFC 7692 §5.1, §7.1): the server must decline them, not fail.
MALFORMED_OFFERS: list[str] = [
    "permessage-deflate; unknown_param",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=abc",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; client_max_window_bits=7",
    "x-unknown-extension; param=1",
]


def handshake_variants() -> st.SearchStrategy[dict[str, Any] | None]:
    """None (the correct request) most of the time; shrinks towards it."""
    return st.sampled_from([None, None, None, None, *HANDSHAKE_VARIANTS])


def extension_offers() -> st.SearchStrategy[tuple[dict[str, Any] | None, str | None]]:
    """(valid offer, malformed offer): at most one of the two; shrinks towards no offer."""
    return st.sampled_from([(None, None)] * 4 + [(o, None) for o in VALID_OFFERS]
                           + [(None, r) for r in MALFORMED_OFFERS])


# -- what follows the handshake ---------------------------------------------------------------------

@st.composite
def utf8_texts(draw: st.DrawFn, max_size: int = 40) -> bytes:
    """UTF-8 text, sometimes broken at a chosen octet (shrinks towards valid ASCII)."""
    raw = draw(st.text(max_size=max_size)).encode("utf-8")
    if draw(st.booleans()):
        return raw
    at = draw(st.integers(0, len(raw)))
    bad = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xce"]))
    return raw[:at] + bad + raw[at:]


@st.composite
def frames(draw: st.DrawFn) -> GeneratedFrame:
    """One frame: mostly well-formed, sometimes with a flaw a conforming server must reject.

    Data frames are often fragments (FIN clear), so that continuations, interleaved control frames
    and broken UTF-8 inside unfinished messages come up; a control frame without FIN is a flaw.
    """
    opcode = draw(st.sampled_from([1, 1, 2, 0, 0, 9, 10, 3, 11]))
    if opcode == 1:
        payload = draw(utf8_texts())
    elif opcode in (9, 10):  # around the 125-octet limit of control frames (RFC 6455 §5.5)
        payload = draw(st.binary(max_size=16) | st.binary(min_size=124, max_size=127))
    else:
        payload = draw(st.binary(max_size=64))
    # a control frame without FIN (§5.5) is drawn twice as often as the other flaws: it is its only
    # fragment-related flaw, where a data frame is a fragment half of the time anyway
    flaws = ["fin", "fin", "rsv1", "rsv2", "rsv3", "unmasked"] if opcode >= 8 else ["rsv1", "rsv2", "rsv3", "unmasked"]
    flaw = draw(st.sampled_from(["none"] * 6 + flaws))
    fin = flaw != "fin" if opcode >= 8 else not draw(st.booleans())
    return GeneratedFrame(opcode, payload, fin=fin, rsv1=flaw == "rsv1", rsv2=flaw == "rsv2",
                          rsv3=flaw == "rsv3", masked=flaw != "unmasked")


# A few patterns, so that two messages often repeat each other (which is what exposes a server
# that keeps its compression context against server_no_context_takeover), and sizes on both
# sides of the 16-bit length boundary.
_PATTERNS = [b"Hello", b"compressible words, compressible words; ", b'{"id": 7, "tags": ["a", "b"]} ']
_SIZES = [5, 0, 40, 300, 2000, 65535, 65536, 131072]


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """A correct message of text or binary, whole or in fragments."""
    size = draw(st.sampled_from(_SIZES))
    fragment = draw(st.sampled_from([0, 0, 0, 7, 1000]))
    if fragment and size > 2000:
        fragment = max(fragment, size // 4)  # a few fragments, not thousands
    return Message(text=not draw(st.booleans()), pattern=draw(st.sampled_from(_PATTERNS)), size=size, fragment=fragment)


_CLOSE_CODES = [1000, None, 1001, 1003, 1007, 1011, 3000, 4999,  # valid (or empty)
                0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]  # never valid on the wire (§7.4)


@st.composite
def closes(draw: st.DrawFn) -> Close:
    """A close frame: mostly a code and a short reason (sometimes invalid UTF-8), or malformed."""
    if draw(st.integers(0, 9)) == 9:
        return Close(None, one_octet=True)
    code = draw(st.sampled_from(_CLOSE_CODES))
    return Close(code, b"" if code is None else draw(utf8_texts(max_size=20)))


def conversations(max_steps: int = 5) -> st.SearchStrategy[tuple[Step, ...]]:
    """What a client does after the handshake: 1 to max_steps frames, messages and checkpoints,
    sometimes ending with a close frame."""
    if max_steps < 1:
        raise ValueError("a conversation has at least one step")
    step = st.one_of(frames(), frames(), messages(), st.just(Checkpoint("")))

    @st.composite
    def build(draw: st.DrawFn) -> tuple[Step, ...]:
        steps: list[Step] = draw(st.lists(step, min_size=1, max_size=max_steps))
        close = draw(st.none() | closes())
        if close is not None:
            steps.append(close)
        n = 0
        for i, s in enumerate(steps):  # checkpoints are labelled A, B, ... in order
            if isinstance(s, Checkpoint):
                steps[i] = Checkpoint(chr(ord("A") + n))
                n += 1
        return tuple(steps)

    return build()


@st.composite
def exchanges(draw: st.DrawFn, max_steps: int = 5) -> Exchange:
    """A whole connection; a refused request has no steps."""
    handshake = draw(handshake_variants())
    if handshake is not None and _refusal(handshake) is not None:
        return Exchange(handshake=handshake)
    offer, raw_offer = draw(extension_offers())
    steps = draw(conversations(max_steps))
    if offer is not None:
        # with deflate possibly agreed, a raw RSV1 frame means "compressed": only the server's
        # answer decides that, so such frames are left out rather than predicted wrongly.
        steps = tuple(dataclasses.replace(s, rsv1=False) if isinstance(s, GeneratedFrame) else s for s in steps)
    return Exchange(steps, handshake, offer, raw_offer)


# -- the engine's prediction -------------------------------------------------------------------------

Observation = tuple[str, bytes | str]


@dataclasses.dataclass
class Prediction:
    """What a conforming echo server does with an exchange.

    `status` is set when it must refuse the request (the acceptable statuses). Otherwise it echoes
    and pongs (`observations`, with {timeout: label} for checkpoints reached while still open),
    then the connection ends: closed by `closed_by` ("us" after our close or the end of the steps,
    "peer" when it fails the connection; "either" when a late UTF-8 check changes who closes),
    with a code in `close_codes`, clean or not. `lenient` is what a server that checks UTF-8 only
    at the end of a message shows instead, when that differs (allowed: fail-fast is a SHOULD);
    `informational` what another model the RFCs allow shows (a MAY), when that differs from both.
    The oracle (conformance.engine.oracle) decides all of it.
    """

    observations: list[Observation]
    fail_code: int | None
    rule: str | None
    closed_by: str = "us"
    close_codes: list[int] = dataclasses.field(default_factory=lambda: [1000])
    clean: bool = True
    lenient: list[Observation] | None = None
    informational: list[Observation] | None = None
    status: list[int] | None = None
    steps_used: int = 0  # steps after the connection ends (in either model) are never sent


def _refusal(handshake: dict[str, Any]) -> HandshakeError | None:
    """The engine's objection to the request the runner builds for `handshake`, if any."""
    from conformance.catalog.load import parse_handshake
    from conformance.runner.handshake import request_bytes

    req = request_bytes(ClientHandshake(parse_uri("ws://127.0.0.1:9/")).request(), parse_handshake(handshake))
    parsed = parse_request(req)
    assert parsed is not None, "the runner builds whole requests"
    try:
        ServerHandshake().check_request(parsed[0])
    except HandshakeError as exc:
        return exc
    return None


def _sent(steps: tuple[Step, ...]) -> list[Sent]:
    """The steps as the octets the runner sends; our close frame is sent as a close."""
    writer = Connection(Role.CLIENT)  # serializes correct messages
    out = []
    for step in steps:
        if isinstance(step, Checkpoint):
            out.append(Sent(checkpoint=step.label))
        elif isinstance(step, GeneratedFrame):
            out.append(Sent(step.to_bytes()))
        elif isinstance(step, Message):
            writer.send_message(step.data, fragment=step.fragment, text=step.text)
            out.append(Sent(writer.data_to_send()))
        else:
            out.append(Sent(serialize_frame(Frame(Opcode.CLOSE, step.payload), mask=_ZERO_MASK), closing=True))
    return out


def predict(x: Exchange | tuple[Step, ...] | list[GeneratedFrame]) -> Prediction:
    """Ask the oracle (the reference engine, playing the server) what must happen."""
    if not isinstance(x, Exchange):
        x = Exchange(tuple(x))
    if x.handshake is not None:
        refused = _refusal(x.handshake)
        if refused is not None:
            statuses = _REFUSAL_STATUS.get(refused.rule.id, [400])
            return Prediction([], None, refused.rule.id, close_codes=[], clean=False, status=statuses)
    want = expectation(_sent(x.steps))
    f = want.strict.failure
    return Prediction(want.ok, f.close_code if f else None, f.rule.id if f else None, want.closed_by,
                      want.close_codes, want.clean, want.non_strict, want.informational, steps_used=want.steps_used)
