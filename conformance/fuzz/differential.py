"""The differential oracle for in-process libraries: one input, fed to a library adapter and to the
reference engine, and the verdict on whether the library reacted as a conforming server must.

An input is one flags octet and then the octets a client sends after the opening handshake:

    flags bit 0      offer plain permessage-deflate in the handshake (the library decides)
    flags bits 1-2   how the octets are cut before they reach the library: 0 all at once,
                     1 frame by frame, 2 octet by octet (pieces of 7 beyond 128 octets),
                     3 in pieces of 7 octets (127 beyond 1024 octets)

Only whole frames are used (a trailing partial frame is dropped), so every input ends at a frame
boundary and exports as a replayable case. The required reaction is the engine's, played as a
server with the parameters the library agreed to, as conformance.engine.oracle says: where the
RFCs leave room it runs in each allowed way (the oracle's models) and the library must match one of
them. It must match in

- the messages it delivers, in order (type and octets);
- the pongs it sends (§5.5.2, §5.5.3);
- how it ends: no close frame while the connection must stay open, or a close frame whose code is
  one the oracle accepts: the failure's code or an alternative declared on the rule (§7.4.1), or,
  answering a close, the peer's code, 1000 or none (§5.5.1).

A crash (any exception escaping the adapter) and output that is not valid server framing are
findings too. A hang is left to the fuzzer's time limit.
"""

from __future__ import annotations

__all__ = [
    "MASK",
    "Finding",
    "Reaction",
    "client_frame",
    "compare",
    "engine_reaction",
    "library_reaction",
    "mismatch",
    "read_output",
    "split_frames",
    "whole_frames",
    "check_adapter",
    "request",
]

import dataclasses
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from conformance.engine import deflate as pmd
from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role
from conformance.engine.handshake import ClientHandshake
from conformance.engine.oracle import NO_CODE, STRICT, Model, Required, models_for, required
from conformance.errors import UsageError
from conformance.wire.extheader import parse_extensions
from conformance.wire.frames import FrameHeader, Opcode, apply_mask, parse_header, serialize_header
from conformance.wire.http import parse_response
from conformance.wire.uri import parse_uri

DEFLATE = 0x01
CHUNKING = 0x06
_REQUEST_CACHE: dict[bool, bytes] = {}

_NO_CODE = NO_CODE  # a close frame without a payload (never sent on the wire as a code)
MASK = b"\x37\xfa\x21\x3d"  # the masking key of generated client frames


def request(deflate: bool) -> bytes:
    """The opening handshake the fuzzer sends (fixed, so runs are reproducible)."""
    if deflate not in _REQUEST_CACHE:
        hs = ClientHandshake(parse_uri("ws://127.0.0.1/"), extensions="permessage-deflate" if deflate else None)
        hs.key = "dGhlIHNhbXBsZSBub25jZQ=="
        _REQUEST_CACHE[deflate] = hs.request().serialize()
    return _REQUEST_CACHE[deflate]


def whole_frames(wire: bytes) -> Iterator[tuple[FrameHeader, bytes]]:
    """The whole frames at the start of `wire`: each one's header and octets; a partial last frame
    is left out."""
    pos = 0
    while (h := parse_header(wire, pos)) is not None and pos + h.header_len + h.length <= len(wire):
        end = pos + h.header_len + h.length
        yield h, wire[pos:end]
        pos = end


def split_frames(wire: bytes) -> list[bytes]:
    """The whole frames at the start of `wire`, as their octets; a partial last frame is dropped."""
    return [octets for _, octets in whole_frames(wire)]


@dataclasses.dataclass
class Reaction:
    """What the library did with the octets: messages delivered, pongs sent, and how it ended."""

    messages: list[tuple[bool, bytes]] = dataclasses.field(default_factory=list)
    pongs: list[bytes] = dataclasses.field(default_factory=list)
    close: int | None = None  # the code of the close frame it sent (1005: empty), None: none sent


@dataclasses.dataclass
class Finding:
    kind: str  # crash, invalid-output, handshake, messages, pongs, ending
    detail: str
    signature: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class _Crash(Exception):
    pass


def _cuts(frames: list[bytes], mode: int) -> list[bytes]:
    wire = b"".join(frames)
    if mode == 0:
        return [wire] if wire else []
    if mode == 1:
        return frames
    size = (1 if len(wire) <= 128 else 7) if mode == 2 else (7 if len(wire) <= 1024 else 127)
    return [wire[i : i + size] for i in range(0, len(wire), size)]


def library_reaction(factory: Callable[[], Any], frames: list[bytes], flags: int) -> tuple[Reaction, Any]:
    """Run the library; (its reaction, the agreed deflate parameters or None)."""
    try:
        lib = factory()
        lib.receive(request(bool(flags & DEFLATE)))
        got = list(lib.messages())
        head = lib.data_to_send()
    except Exception as exc:
        raise _Crash(_where(exc, "the opening handshake")) from None
    used, agreed = _accepted(head)
    out = bytearray(head[used:])
    r = Reaction(messages=got)
    for chunk in _cuts(frames, (flags & CHUNKING) >> 1):
        try:
            lib.receive(chunk)
            r.messages.extend(lib.messages())
            done = lib.should_close()
        except Exception as exc:
            raise _Crash(_where(exc, f"receiving {chunk[:40].hex()}")) from None
        if done:
            break
    try:  # what it wrote, collected once: only the whole output is judged
        out += lib.data_to_send()
    except Exception as exc:
        raise _Crash(_where(exc, "collecting its output")) from None
    read_output(bytes(out), r)
    return r, agreed


_ACCEPTED: dict[bytes, tuple[int, Any]] = {}


def _accepted(head: bytes) -> tuple[int, Any]:
    """The library's answer to the fixed request: (octets it takes, the agreed deflate parameters
    or None). The answer is the same input after input (but for a Date header), so it is parsed once."""
    if head in _ACCEPTED:
        return _ACCEPTED[head]
    parsed = parse_response(head)
    if parsed is None or parsed[0].status != 101:
        raise _Crash(f"the handshake was not accepted: {head[:200]!r}")
    resp, used = parsed
    agreed = None
    answers = parse_extensions(resp.headers.get_all("Sec-WebSocket-Extensions"))
    if answers:
        agreed = pmd.client_accept(answers[0][1], [pmd.parse_offer([])])
    if len(_ACCEPTED) > 64:
        _ACCEPTED.clear()
    _ACCEPTED[head] = used, agreed
    return used, agreed


def _where(exc: BaseException, doing: str) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    at = f" at {tb[-1].filename.rsplit('/', 2)[-1]}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{at} while {doing}"


class _BadOutput(Exception):
    pass


def read_output(out: bytes, r: Reaction) -> None:
    """The library's frames, read as a client reads a server (unmasked, valid)."""
    reader = Connection(Role.CLIENT, max_message=None, auto_pong=False)
    reader.receive_data(out)
    for e in reader.events():
        if isinstance(e, ev.Pong):
            r.pongs.append(e.data)
        elif isinstance(e, ev.CloseReceived):
            r.close = _NO_CODE if e.code is None else e.code
            return
        elif isinstance(e, ev.Failure):
            raise _BadOutput(f"its output breaks {e.rule.id}: {e.detail}")
        elif isinstance(e, ev.Message):
            raise _BadOutput("it sent a data message nobody asked for")


def engine_reaction(frames: list[bytes], agreed: Any, model: Model = STRICT) -> Required:
    """What a conforming server must do with the frames (the oracle's answer in `model`)."""
    return required(frames, agreed, model)


def client_frame(opcode: int, data: bytes = b"", *, fin: bool = True, rsv1: bool = False, rsv2: bool = False,
                 rsv3: bool = False, mask: bytes | None = MASK, form: int | None = None) -> bytes:
    """A frame as a client sends it, legal or not (fixed key, so inputs are reproducible)."""
    head = serialize_header(opcode=opcode, length=len(data), fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3,
                            mask=mask, length_form=form)
    return head + (apply_mask(data, mask) if mask else data)


def _client_close_code(frames: list[bytes]) -> int | None:
    """The code of the first close frame the client sent (1005 for none in it), or None.

    A library that echoes it where it had to fail the connection shows one bug whatever the code
    the fuzzer put there; the signature says so instead of naming each code."""
    for f in frames:
        payload = _close_payload(f)
        if payload is not None:
            return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else _NO_CODE
    return None


def _close_payload(frame: bytes) -> bytes | None:
    """The unmasked payload of a close frame, None for any other frame."""
    h = parse_header(frame)
    if h is None or h.opcode is not Opcode.CLOSE:
        return None
    body = frame[h.header_len :]
    return apply_mask(body, h.mask) if h.mask else body


def _ending(r: Reaction | Required) -> str:
    return "open" if r.close is None else f"close {r.close}"


_FAILING = {1002, 1003, 1007, 1008, 1009, 1010, 1011}


def _ending_class(r: Reaction | Required) -> str:
    """How a connection ended, coarsely enough that one bug gives one signature."""
    if r.close is None:
        return "open"
    if isinstance(r, Required):
        return r.rule or "answers a close"
    return f"fails with {r.close}" if r.close in _FAILING else "closes normally"


def mismatch(lib: Reaction, want: Required) -> tuple[str, str] | None:
    if want.open_ended:
        if lib.messages[: len(want.messages)] != want.messages or lib.pongs[: len(want.pongs)] != want.pongs:
            return "messages", f"delivered {_short(lib.messages)}, the engine {_short(want.messages)}"
        return None
    if lib.messages != want.messages:
        return "messages", f"delivered {_short(lib.messages)}, the engine {_short(want.messages)}"
    if lib.pongs != want.pongs:
        return "pongs", f"ponged {_short(lib.pongs)}, the engine {_short(want.pongs)}"
    if (lib.close is None) != (want.close is None) or (lib.close is not None and lib.close not in want.codes):
        need = "stay open" if want.close is None else f"close with {sorted(want.codes)}"
        because = f" ({want.rule})" if want.rule else ""
        return "ending", f"it did {_ending(lib)}, a conforming server must {need}{because}"
    return None


def _short(items: list[Any]) -> str:
    text = repr(items)
    return text if len(text) <= 160 else text[:157] + "..."


def compare(factory: Callable[[], Any], data: bytes) -> tuple[Finding | None, Required | None, list[bytes]]:
    """Judge one input: (the finding or None, the engine's strict reaction, the frames used)."""
    flags = data[0] if data else 0
    frames = split_frames(data[1:])
    try:
        lib, agreed = library_reaction(factory, frames, flags)
    except _Crash as exc:
        return Finding("crash", str(exc), ("crash", str(exc).split(":")[0])), None, frames
    except _BadOutput as exc:
        return Finding("invalid-output", str(exc), ("invalid-output", str(exc).split(":")[0])), None, frames
    strict = engine_reaction(frames, agreed)
    first = mismatch(lib, strict)
    if first is None or any(mismatch(lib, required(frames, agreed, m)) is None for m in models_for(frames, agreed)[1:]):
        return None, strict, frames
    kind, detail = first
    signature: tuple[str, ...]
    if kind == "ending":
        answered = lib.close is not None and lib.close == _client_close_code(frames)
        signature = (kind, _ending_class(strict), "answers the client's close" if answered else _ending_class(lib))
    else:  # one bug in what is delivered or answered: one signature, whatever the ending
        got, want = (lib.messages, strict.messages) if kind == "messages" else (lib.pongs, strict.pongs)
        how = "fewer" if want[: len(got)] == got else "more" if got[: len(want)] == want else "other"
        signature = (kind, how)
    return Finding(kind, detail, signature), strict, frames


def check_adapter(spec: str) -> Callable[[], Any]:
    from conformance.targets.inprocess import load_adapter

    factory = load_adapter(spec)
    finding, _, _ = compare(factory, bytes([0]) + bytes.fromhex("818400000000") + b"ping")
    if finding is not None:
        raise UsageError(f"--impl {spec!r}: the adapter fails the simplest exchange: {finding}")
    return factory
