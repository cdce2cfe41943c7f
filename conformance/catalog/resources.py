"""Resource steps and limits of the resource group (cases/30_resources.yaml; docs/resources.md).

Three step kinds send what exhausts a careless server, each generated lazily so that the suite never
holds more than one write of it: `flood` (many frames, with a count and a pace), `bomb` (a
permessage-deflate message that inflates to a given size) and `request` (a hostile opening
handshake on a side connection: many headers, a header of N octets, one written slowly). A case's
`resources` mapping (`Limits`) says what the server must do about them: stay alive, keep its memory
growth and CPU time under a bound, refuse or handle.

This module holds the dataclasses, their parsing from a case file and their dumping back, so that
model.py, load.py and dump.py only register them.
"""

from __future__ import annotations

__all__ = [
    "ANSWERS",
    "Bomb",
    "ExactLimit",
    "Flood",
    "Limits",
    "Request",
    "RESOURCE_PARSERS",
    "RESOURCE_STEPS",
    "ResourceStep",
    "parse_limits",
]

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

from conformance.catalog.payload import PayloadSpec, parse_payload
from conformance.wire.frames import Opcode

MIB = 1 << 20
ANSWERS = ("refuse", "accept", "either")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _whole(value: Any, name: str, least: int = 0) -> None:
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= least,
           f"`{name}` must be a whole number >= {least}")


def _seconds(value: Any, name: str) -> None:
    _check(isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0,
           f"`{name}` is a number of seconds >= 0")


@dataclasses.dataclass(frozen=True, slots=True)
class Flood:
    """`flood`: `count` frames alike, `pace` seconds apart (0: as fast as the peer reads), then
    a wait of at most `within` seconds for the peer's reaction (its pong to a ping, or its close).

    Without `read` the suite stops reading the connection first (a peer that never reads: the
    server's answers pile up in its send buffer) and ends the step when its writes make no progress
    for `within` seconds (the server applies back-pressure), when the server closes, or when all is
    sent; meanwhile another client must be served; then the suite resets the connection."""

    key: ClassVar[str] = "flood"
    opcode: Opcode
    count: int
    payload: PayloadSpec = PayloadSpec("literal")
    fin: bool = True
    pace: float = 0.0
    within: float = 5.0
    read: bool = True
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _whole(self.count, "count", 1)
        _check(self.read or not self.pace, "a flood that never reads is sent as fast as the peer reads (no `pace`)")
        _seconds(self.pace, "pace")
        _seconds(self.within, "within")
        _check(self.payload.length <= 1 << 20, "a flood frame carries at most 1 MiB")


@dataclasses.dataclass(frozen=True, slots=True)
class Bomb:
    """`bomb`: one compressed message of `inflated` zero octets (a few octets per kilobyte on
    the wire), in frames of `fragment` compressed octets (0: one frame); needs permessage-deflate."""

    key: ClassVar[str] = "bomb"
    inflated: int
    opcode: Opcode = Opcode.BINARY
    fragment: int = 0
    within: float = 5.0
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _whole(self.inflated, "inflated", 1)
        _whole(self.fragment, "fragment")
        _seconds(self.within, "within")
        _check(self.opcode in (Opcode.TEXT, Opcode.BINARY), "a bomb is a text or binary message")


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """`request`: an opening handshake on a second connection, bent to stress the parser.

    It carries `headers` extra header lines `name` (numbered `name-1`, `name-2`... when
    `numbered`), each with `size` octets of `value` repeated, and a request target of `path_size`
    octets; it is written in pieces of `chunk` octets `pace` seconds apart. Without `complete`
    the head never ends: the suite keeps trickling header octets until the server answers or
    `within` seconds pass (slowloris). With it, `within` bounds the wait for the answer.
    """

    key: ClassVar[str] = "request"
    headers: int = 0
    size: int = 1
    name: str = "X-Filler"
    value: str = "a"
    numbered: bool = True
    path_size: int = 0
    chunk: int = 0  # 0: 64 KiB
    pace: float = 0.0
    complete: bool = True
    within: float = 5.0
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        for name in ("headers", "path_size", "chunk"):
            _whole(getattr(self, name), name)
        _whole(self.size, "size", 0)
        _seconds(self.pace, "pace")
        _seconds(self.within, "within")
        _check(bool(self.value) and all(32 <= ord(c) < 127 or c == "\t" for c in self.value),
               "`value` is printable ASCII (a header value)")
        _check(bool(self.name) and all(33 <= ord(c) < 127 and c not in ':()<>@,;\\"/[]?={}' for c in self.name),
               "`name` is an HTTP token")
        _check(self.complete or self.pace > 0, "an incomplete request (slowloris) needs a `pace`")

    @property
    def octets(self) -> int:
        """Octets of the filler: the suite's memory never holds more than one `chunk` of them."""
        return self.headers * (len(self.name) + 12 + self.size) + self.path_size


@dataclasses.dataclass(frozen=True, slots=True)
class ExactLimit:
    """`exact_limit`: a compressed message that inflates to the server's own limit + `offset`
    octets, judged against how the server treats an uncompressed message of that size.

    The limit is the largest uncompressed message the server accepts: `--server-max-message` when
    the user states it, else probed once per run (a doubling from 4 KiB, then a bisection, each
    attempt on a new connection, at most `upper` octets and 64 connections). Offsets <= 0 must be
    accepted (echoed), > 0 refused, as the uncompressed ones are; `within` bounds the wait for the
    server's reaction to each message."""

    key: ClassVar[str] = "exact_limit"
    offset: int = 0
    upper: int = 256 * MIB
    within: float = 20.0
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check(isinstance(self.offset, int) and not isinstance(self.offset, bool) and -1024 <= self.offset <= 1024,
               "`offset` is a whole number from -1024 to 1024")
        _whole(self.upper, "upper", 4096)
        _seconds(self.within, "within")


ResourceStep = Flood | Bomb | Request | ExactLimit
RESOURCE_STEPS: tuple[type[Flood] | type[Bomb] | type[Request] | type[ExactLimit], ...] = (
    Flood, Bomb, Request, ExactLimit)


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """The case-level `resources` expectation.

    `answer`: `refuse` (the server SHOULD refuse within the step's `within`: a close frame or
    EOF after frames, a 4xx or a close after a request), `accept` (it must handle the input; the
    case's `expect` says how) or `either`. `alive_within`: a fresh handshake after the case must
    be answered with 101 within that many seconds. A watched server (`--server-cmd`) must also keep
    its peak memory growth under `rss_slack` + `rss_per_octet` x octets sent, and its CPU time under
    `cpu_seconds`. A `heavy` case (seconds of traffic, or gigabytes for a careless server) runs only
    with `--robustness` or when `--cases` names it.
    """

    answer: str = "either"
    alive_within: float = 5.0
    rss_per_octet: float = 8.0
    rss_slack: int = 16 * MIB
    cpu_seconds: float = 2.0
    heavy: bool = False  # run only with --robustness or when selected by --cases (not in the default run)

    def __post_init__(self) -> None:
        _check(isinstance(self.heavy, bool), "`heavy` is true or false")
        _check(self.answer in ANSWERS, f"`answer` is one of {', '.join(ANSWERS)}")
        _seconds(self.alive_within, "alive_within")
        _check(self.alive_within > 0, "`alive_within` is more than 0")
        _seconds(self.rss_per_octet, "rss_per_octet")
        _whole(self.rss_slack, "rss_slack")
        _seconds(self.cpu_seconds, "cpu_seconds")

    def rss_bound(self, octets: int) -> int:
        return self.rss_slack + int(self.rss_per_octet * octets)


# -- case files ------------------------------------------------------------------------------------

def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.name != "line"]


def _build(cls: type, v: Any, line: int | None) -> Any:
    """`cls` from a mapping: unknown keys are refused, opcodes and payloads parsed, the rest
    checked by the dataclass itself."""
    if not isinstance(v, dict):
        raise ValueError(f"takes a mapping of {', '.join(f.name for f in _fields(cls))}")
    names = {f.name for f in _fields(cls)}
    bad = set(v) - names
    if bad:
        raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, bad)))}; allowed: {', '.join(sorted(names))}")
    kw = {name: _value(name, value) for name, value in v.items()}
    if line is not None:
        kw["line"] = line
    try:
        return cls(**kw)
    except TypeError as exc:  # a required key is missing
        raise ValueError(f"{exc}".split(".__init__() ")[-1]) from None


def _value(name: str, value: Any) -> Any:
    if name == "opcode":
        return Opcode.from_name(value)
    if name == "payload":
        return parse_payload(value)
    if name in ("fin", "numbered", "complete", "read") and not isinstance(value, bool):
        raise ValueError(f"`{name}` is true or false")
    if name in ("name", "value", "answer") and not isinstance(value, str):
        raise ValueError(f"`{name}` is a string")
    return value


def parse_limits(v: dict[str, Any]) -> Limits:
    out: Limits = _build(Limits, v, None)
    return out


def _parser(cls: type) -> Callable[[Any, int], Any]:
    def parse(v: Any, line: int) -> Any:
        return _build(cls, v, line)

    return parse


RESOURCE_PARSERS: dict[str, Callable[[Any, int], Any]] = {cls.key: _parser(cls) for cls in RESOURCE_STEPS}
