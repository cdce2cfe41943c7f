"""Cases as the runner sees them: typed, validated when constructed, immutable.

One class per step kind (the `Step` union, dispatched with `match`), typed handshake, response and
permessage-deflate specs. The keys a case file may use for a spec are its dataclass fields
(`keys()`), so the loader, the dumper and the schema cannot drift apart. A case can be built in
code (generators and fuzzers do) as well as loaded from a file; `catalog.dump` writes it back.
"""

from __future__ import annotations

__all__ = [
    "Case",
    "Checkpoint",
    "CloseExpect",
    "CloseNow",
    "DeflateSpec",
    "Echo",
    "H2EndStream",
    "H2Get",
    "H2Goaway",
    "H2Reset",
    "H2Settings",
    "H2Streams",
    "H2_STEP_TYPES",
    "H3_STEP_TYPES",
    "H3Fin",
    "H3Goaway",
    "H3Reset",
    "H3Streams",
    "EchoSpec",
    "Expect",
    "ExpectResponse",
    "FrameSpec",
    "HandshakeSpec",
    "HeaderEdits",
    "Observation",
    "OfferParams",
    "ResponseSpec",
    "SendClose",
    "SendFrame",
    "SendMessage",
    "STEP_TYPES",
    "SendRaw",
    "Step",
    "Wait",
    "WaitMessages",
    "spec_keys",
]

import dataclasses
from typing import ClassVar

from conformance.catalog.payload import PayloadSpec
from conformance.catalog.resources import Bomb, ExactLimit, Flood, Limits, Request
from conformance.wire.frames import Opcode

# A header edit: the name and the values it gets (an empty tuple removes the header).
HeaderEdits = tuple[tuple[str, tuple[str, ...]], ...]
# One permessage-deflate offer or acceptance policy: parameter -> value (True: sent without a
# value; a string or number is sent as written, so a case can send malformed values on purpose).
OfferParams = tuple[tuple[str, str | int | bool], ...]


def spec_keys(cls: type) -> frozenset[str]:
    """The keys a case file may give for `cls`: its fields, less the bookkeeping ones."""
    return frozenset(f.name for f in dataclasses.fields(cls) if f.name != "line")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _whole(value: int | None, name: str) -> None:
    _check(value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0),
           f"`{name}` must be a whole number >= 0")


# -- what the suite sends ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class FrameSpec:
    opcode: Opcode
    payload: PayloadSpec = PayloadSpec("literal")
    fin: bool = True
    rsv1: bool | None = None  # None: true when compressed, else false
    rsv2: bool = False
    rsv3: bool = False
    mask: bool | bytes | None = None  # None: as the role requires; 4 octets: that masking key
    length_form: int | None = None
    length: int | None = None
    compress: bool = False
    chop: int = 0
    delay: float = 0.0

    def __post_init__(self) -> None:
        _check(self.length_form in (None, 7, 16, 64), "length_form is 7, 16 or 64")
        _check(not isinstance(self.mask, bytes) or len(self.mask) == 4, "a fixed mask is 8 hex digits")
        _whole(self.length, "length")
        _whole(self.chop, "chop")
        _check(self.delay >= 0, "`delay` is a number of seconds >= 0")


@dataclasses.dataclass(frozen=True, slots=True)
class EchoSpec:
    payload: PayloadSpec
    count: int = 1
    opcode: Opcode = Opcode.TEXT
    fragment: int = 0
    chop: int = 0
    compress: bool = False
    window: int = 1

    def __post_init__(self) -> None:
        _check(self.opcode in (Opcode.TEXT, Opcode.BINARY), "echo sends text or binary")
        _check(self.count >= 1 and self.window >= 1, "`count` and `window` are at least 1")
        _whole(self.fragment, "fragment")
        _whole(self.chop, "chop")


@dataclasses.dataclass(frozen=True, slots=True)
class SendFrame:
    """`send` (and `send_ping`, `send_pong`): one frame exactly as described, legal or not."""

    key: ClassVar[str] = "send"
    frame: FrameSpec
    line: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class SendMessage:
    """`send_message`: a correct message through the engine."""

    key: ClassVar[str] = "send_message"
    payload: PayloadSpec = PayloadSpec("literal")
    opcode: Opcode = Opcode.TEXT
    fragment: int = 0
    compress: bool | None = None  # None: compressed when permessage-deflate was agreed
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(self.opcode in (Opcode.TEXT, Opcode.BINARY), "send_message sends text or binary")
        _whole(self.fragment, "fragment")


@dataclasses.dataclass(frozen=True, slots=True)
class SendRaw:
    """`send_raw`: these octets as they are; `chop` > 0 writes them in TCP writes of that many
    octets, `delay` seconds apart (as a frame's chop; a replayed recording keeps its writes)."""

    key: ClassVar[str] = "send_raw"
    payload: PayloadSpec
    line: int = dataclasses.field(default=0, compare=False)
    chop: int = 0
    delay: float = 0.0

    def __post_init__(self) -> None:
        _check(self.chop >= 0 and self.delay >= 0, "`chop` and `delay` are numbers >= 0")


@dataclasses.dataclass(frozen=True, slots=True)
class SendClose:
    """`send_close`: a close frame as described (`payload` for a malformed one); it starts the
    closing handshake."""

    key: ClassVar[str] = "send_close"
    code: int | None = None
    reason: PayloadSpec | None = None
    payload: PayloadSpec | None = None
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(self.code is None or (isinstance(self.code, int) and 0 <= self.code <= 0xFFFF),
               "`code` is a number 0-65535")
        _check(self.payload is None or (self.code is None and self.reason is None),
               "`payload` gives the whole close payload: no `code` or `reason` beside it")


@dataclasses.dataclass(frozen=True, slots=True)
class CloseNow:
    """`close`: start the closing handshake through the engine now."""

    key: ClassVar[str] = "close"
    code: int | None = None  # None: 1000
    reason: PayloadSpec | None = None
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(self.code is None or (isinstance(self.code, int) and 0 <= self.code <= 0xFFFF),
               "`code` is a number 0-65535")


@dataclasses.dataclass(frozen=True, slots=True)
class Wait:
    key: ClassVar[str] = "wait"
    seconds: float
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(self.seconds >= 0, "a number of seconds >= 0")


@dataclasses.dataclass(frozen=True, slots=True)
class Checkpoint:
    key: ClassVar[str] = "checkpoint"
    label: str
    line: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class WaitMessages:
    key: ClassVar[str] = "wait_messages"
    count: int
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(self.count >= 1, "a whole number >= 1")


@dataclasses.dataclass(frozen=True, slots=True)
class Echo:
    """`echo`: send messages and check every echo (performance and compression cases)."""

    key: ClassVar[str] = "echo"
    spec: EchoSpec
    line: int = dataclasses.field(default=0, compare=False)


# -- HTTP/2 streams (RFC 8441 §5): steps only a case with `transport: h2` takes -------------------

_H2_ERROR_CODES = range(0, 0x0E)  # RFC 9113 §7: NO_ERROR (0x0) to HTTP_1_1_REQUIRED (0xd)


@dataclasses.dataclass(frozen=True, slots=True)
class H2EndStream:
    """`h2_end_stream`: END_STREAM on the WebSocket stream, with no close frame before it."""

    key: ClassVar[str] = "h2_end_stream"
    line: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class H2Reset:
    """`h2_reset`: RST_STREAM on the WebSocket stream with this error code (8: CANCEL)."""

    key: ClassVar[str] = "h2_reset"
    code: int = 8
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(self.code in _H2_ERROR_CODES, "`code` is an HTTP/2 error code 0-13 (RFC 9113 §7)")


@dataclasses.dataclass(frozen=True, slots=True)
class H2Goaway:
    """`h2_goaway`: GOAWAY on the connection while the WebSocket stream is open."""

    key: ClassVar[str] = "h2_goaway"
    code: int = 0
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(self.code in _H2_ERROR_CODES, "`code` is an HTTP/2 error code 0-13 (RFC 9113 §7)")


@dataclasses.dataclass(frozen=True, slots=True)
class H2Streams:
    """`h2_streams`: open `count` more WebSocket streams on the same connection, send `payload`
    as a text message on each and record each echo (a text observation per stream, in order)."""

    key: ClassVar[str] = "h2_streams"
    count: int = 2
    payload: PayloadSpec = PayloadSpec("literal")
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(isinstance(self.count, int) and 1 <= self.count <= 100, "`count` is 1-100")


@dataclasses.dataclass(frozen=True, slots=True)
class H2Settings:
    """`h2_settings`: a SETTINGS frame from the suite with these (identifier, value) pairs, sent
    while the WebSocket stream is open; the step ends when the peer acknowledges it."""

    key: ClassVar[str] = "h2_settings"
    values: tuple[tuple[int, int], ...] = ()
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(bool(self.values) and all(0 < k < 1 << 16 and 0 <= v < 1 << 32 for k, v in self.values),
               "`h2_settings` maps setting identifiers (1-65535) to values (0-2^32-1)")


@dataclasses.dataclass(frozen=True, slots=True)
class H2Get:
    """`h2_get`: a plain GET for `path` on a new stream of the connection, beside the WebSocket;
    its answer (or reset) goes to the wire log, the WebSocket stream goes on."""

    key: ClassVar[str] = "h2_get"
    path: str = "/"
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(self.path.startswith("/"), "`h2_get` takes a path starting with /")


# -- HTTP/3 streams (RFC 9220 §3): steps only a case with `transport: h3` takes -------------------

_H3_ERROR_CODES = range(0x100, 0x111)  # RFC 9114 §8.1: H3_NO_ERROR (0x100) to H3_VERSION_FALLBACK (0x110)


@dataclasses.dataclass(frozen=True, slots=True)
class H3Fin:
    """`h3_fin`: FIN on the WebSocket's request stream, with no close frame before it."""

    key: ClassVar[str] = "h3_fin"
    line: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class H3Reset:
    """`h3_reset`: RESET_STREAM and STOP_SENDING on the request stream with this HTTP/3 error code
    (0x10c: H3_REQUEST_CANCELLED, RFC 9220 §3's counterpart of a TCP reset)."""

    key: ClassVar[str] = "h3_reset"
    code: int = 0x10C
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(self.code in _H3_ERROR_CODES, "`code` is an HTTP/3 error code 0x100-0x110 (RFC 9114 §8.1)")


@dataclasses.dataclass(frozen=True, slots=True)
class H3Goaway:
    """`h3_goaway`: GOAWAY on the client's control stream (push ID 0) while the WebSocket is open."""

    key: ClassVar[str] = "h3_goaway"
    line: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class H3Streams:
    """`h3_streams`: as `h2_streams`, over HTTP/3: `count` more WebSocket request streams at once."""

    key: ClassVar[str] = "h3_streams"
    count: int = 2
    payload: PayloadSpec = PayloadSpec("literal")
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(isinstance(self.count, int) and 1 <= self.count <= 100, "`count` is 1-100")


Step = (SendFrame | SendMessage | SendRaw | SendClose | CloseNow | Wait | Checkpoint | WaitMessages | Echo
        | Flood | Bomb | Request | ExactLimit  # the resource group's (catalog/resources.py)
        | H2EndStream | H2Reset | H2Goaway | H2Streams | H2Settings | H2Get | H3Fin | H3Reset | H3Goaway | H3Streams)
STEP_TYPES: tuple[type[Step], ...] = (SendFrame, SendMessage, SendRaw, SendClose, CloseNow, Wait, Checkpoint,
                                      WaitMessages, Echo, Flood, Bomb, Request, ExactLimit,
                                      H2EndStream, H2Reset, H2Goaway, H2Streams, H2Settings, H2Get,
                                      H3Fin, H3Reset, H3Goaway, H3Streams)
H2_STEP_TYPES: tuple[type[Step], ...] = (H2EndStream, H2Reset, H2Goaway, H2Streams, H2Settings, H2Get)
H3_STEP_TYPES: tuple[type[Step], ...] = (H3Fin, H3Reset, H3Goaway, H3Streams)


# -- the opening handshake -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class ResponseSpec:
    """For client cases: how the suite bends its handshake response (`handshake.response`)."""

    raw: PayloadSpec | None = None  # these octets instead of a response
    status: int | None = None
    reason: str | None = None
    headers: HeaderEdits = ()
    http_version: str | None = None  # the status line's version ("HTTP/1.0")
    extra_headers: tuple[tuple[str, str], ...] = ()  # appended as they are, duplicates allowed
    accept: str | None = None  # a wrong Sec-WebSocket-Accept derived from the key (ACCEPT_FORMS)
    before: PayloadSpec | None = None  # octets sent ahead of the response (an interim 1xx answer)
    trailer: PayloadSpec | None = None  # octets glued to the end of the response (frames), one write
    chop: int = 0  # write the response in pieces of this many octets, draining after each
    delay: float = 0.0  # seconds between the pieces
    # a path on the suite's second listener (another loopback port: another origin): the answer's
    # Location points there, and the runner records whether the client follows (runner/redirect.py)
    redirect: str | None = None

    ACCEPT_FORMS: ClassVar[tuple[str, ...]] = (
        "other-key", "key", "no-guid", "truncated", "extended", "lowercase", "hex", "unpadded",
        "duplicate", "joined", "empty")

    def __post_init__(self) -> None:
        _check(self.status is None or 100 <= self.status <= 999, "`status` is a three-digit HTTP status")
        _check(self.accept is None or self.accept in self.ACCEPT_FORMS,
               f"`accept` is one of {', '.join(self.ACCEPT_FORMS)}")
        _whole(self.chop, "chop")
        _check(isinstance(self.delay, (int, float)) and 0 <= self.delay <= 5, "`delay` is 0-5 seconds")
        _check(self.redirect is None or self.redirect.startswith("/"), "`redirect` is a path starting with /")


@dataclasses.dataclass(frozen=True, slots=True)
class HandshakeSpec:
    """How the opening handshake differs from the default one."""

    raw: PayloadSpec | None = None  # these octets instead of a request
    method: str | None = None
    path: str | None = None
    http_version: str | None = None
    headers: HeaderEdits = ()  # replace (or, with no values, remove) these headers
    extra_headers: tuple[tuple[str, str], ...] = ()  # added after the others, duplicates allowed
    subprotocols: tuple[str, ...] = ()
    response: ResponseSpec | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ExpectResponse:
    """For handshake cases: the statuses, headers and subprotocol the server's answer may have.

    A status is a number or a class such as "4xx" (RFC 6455 §4.2.1 asks for "an appropriate error
    code (such as 400 Bad Request)", so a refusal is usually any 4xx)."""

    status: tuple[int | str, ...] = (101,)
    headers: tuple[tuple[str, str | None], ...] = ()  # None: the header must be absent
    refusal_headers: tuple[tuple[str, str | None], ...] = ()  # also checked when the answer is not 101
    subprotocol: tuple[str | None, ...] | None = None  # None: not checked; a None entry: no subprotocol

    def __post_init__(self) -> None:
        _check(bool(self.status) and all(
            (isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599)
            or (isinstance(s, str) and len(s) == 3 and s[0] in "12345" and s[1:] == "xx") for s in self.status),
            "`status` lists HTTP statuses (100-599) or classes like \"4xx\"")

    def allows(self, status: int) -> bool:
        return any(status == s if isinstance(s, int) else str(status)[0] == s[0] for s in self.status)

    def headers_for(self, status: int) -> tuple[tuple[str, str | None], ...]:
        """What the answer must carry: `headers`, plus `refusal_headers` for a refusal (§4.4: the
        versions the server speaks)."""
        return self.headers + (self.refusal_headers if status != 101 else ())


@dataclasses.dataclass(frozen=True, slots=True)
class DeflateSpec:
    """permessage-deflate: what the suite offers (as a client) or accepts (as a server)."""

    offers: tuple[OfferParams, ...] = ()
    accept: tuple[OfferParams, ...] | None = None  # None: the engine's default policy
    required: bool = True  # without agreement the case is UNIMPLEMENTED

    def offer_maps(self) -> list[dict[str, str | int | bool]]:
        return [dict(o) for o in self.offers]

    def accept_maps(self) -> list[dict[str, str | int | bool]] | None:
        return None if self.accept is None else [dict(o) for o in self.accept]


# -- what is expected --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """`text`/`binary`/`ping`/`pong` with a payload, or `timeout` with a label."""

    kind: str
    payload: PayloadSpec | None = None
    label: str = ""

    def __post_init__(self) -> None:
        _check(self.kind in ("text", "binary", "ping", "pong", "timeout"), f"unknown observation {self.kind!r}")
        _check((self.kind == "timeout") == (self.payload is None), "a timeout has a label, the others a payload")

    def matches(self, kind: str, data: bytes | str) -> bool:
        if kind != self.kind:
            return False
        if self.kind == "timeout":
            return data == self.label
        assert self.payload is not None
        return self.payload.length == len(data) and self.payload.materialize() == data

    def to_json(self) -> list[str]:
        if self.kind == "timeout":
            return ["timeout", self.label]
        assert self.payload is not None
        return [self.kind, self.payload.describe()]


@dataclasses.dataclass(frozen=True, slots=True)
class Expect:
    ok: tuple[Observation, ...] = ()
    non_strict: tuple[Observation, ...] | None = None
    informational: tuple[Observation, ...] | None = None
    any: str | None = None  # e.g. "informational": every outcome gets that verdict

    def __post_init__(self) -> None:
        _check(self.any in (None, "informational", "ok", "non_strict"), "one of informational, ok, non_strict")

    def alternatives(self) -> list[tuple[str, tuple[Observation, ...]]]:
        out = [("OK", self.ok)]
        if self.non_strict is not None:
            out.append(("NON-STRICT", self.non_strict))
        if self.informational is not None:
            out.append(("INFORMATIONAL", self.informational))
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class CloseExpect:
    by: str = "us"  # us | peer | either
    codes: tuple[int, ...] = (1000,)
    clean: bool = True
    wrong_side_fatal: bool = False  # the wrong side closing also fails the behaviour (UTF-8 cases)
    wrong_code_fatal: bool = False  # a wrong close code also fails the behaviour (close cases)
    informational: bool = False  # whatever happens, the close verdict is INFORMATIONAL
    # testing a client: after the closing handshake the suite keeps TCP open this many seconds at
    # most, and records when the client closes it (RFC 6455 §7.1.1; 0: the suite closes at once)
    linger: float = 0.0

    def __post_init__(self) -> None:
        _check(self.by in ("us", "peer", "either"), "us, peer or either")
        _check(isinstance(self.linger, (int, float)) and 0 <= self.linger <= 10, "`linger` is 0-10 seconds")


_LEVELS = ("MUST", "SHOULD", "MAY", "informational")
_ROLES = ("server", "client", "both")
_TRANSPORTS = ("", "h2", "h3")


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    title: str
    rfc: tuple[str, ...]
    description: str = ""
    expectation: str = ""
    level: str = "MUST"
    group: str = ""  # default: the first part of the id
    source: str = dataclasses.field(default="", compare=False)  # file:line the case came from
    rule: str | None = None
    role: str = "both"
    timeout: float | None = None
    exclusive: bool = False
    # the peer may refuse the case's large message by its size limit (RFC 6455 §10.4): a clean
    # close with 1009 or 1008 is then INFORMATIONAL, not a failure (volume cases only)
    size_limited: bool = False
    handshake: HandshakeSpec | None = None
    expect_response: ExpectResponse | None = None
    deflate: DeflateSpec | None = None
    expect_client: str | None = None  # "reject": the client must refuse the handshake response
    transport: str = ""  # "h2": only over HTTP/2 (RFC 8441), `run --http2`; "h3": HTTP/3, `--http3`; "": any
    steps: tuple[Step, ...] = ()
    expect: Expect = Expect()
    close: CloseExpect = CloseExpect()
    resources: Limits | None = None  # the resource group's expectation (catalog/resources.py)

    def __post_init__(self) -> None:
        _check(bool(self.rfc), "list at least one RFC section, e.g. 'RFC 6455 §5.2'")
        _check(self.level in _LEVELS, f"must be one of {', '.join(_LEVELS)}")
        _check(self.role in _ROLES, f"must be one of {', '.join(_ROLES)}")
        _check(self.expect_client in (None, "reject"), "`expect_client` is `reject` when given")
        _check(self.transport in _TRANSPORTS, f"`transport` is one of {', '.join(map(repr, _TRANSPORTS))}")
        _check(self.transport == "h2" or not any(isinstance(st, H2_STEP_TYPES) for st in self.steps),
               "HTTP/2 steps (h2_*) need `transport: h2`")
        _check(self.transport == "h3" or not any(isinstance(st, H3_STEP_TYPES) for st in self.steps),
               "HTTP/3 steps (h3_*) need `transport: h3`")
        _check(self.timeout is None or self.timeout > 0, "a positive number of seconds")
        if not self.group:
            object.__setattr__(self, "group", self.id.split(".")[0])

    @property
    def subgroup(self) -> str:
        parts = self.id.split(".")
        return ".".join(parts[:2]) if len(parts) > 2 else parts[0]

    def sort_key(self) -> tuple[int | str, ...]:
        return tuple(int(p) if p.isdigit() else p for p in self.id.split("."))
