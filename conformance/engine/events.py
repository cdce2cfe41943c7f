"""Events a `Connection` reports. Each carries `at`, the clock reading when its octets arrived."""

from __future__ import annotations

__all__ = [
    "CloseReceived",
    "ControlFrame",
    "Event",
    "Failure",
    "FrameReceived",
    "Message",
    "MessagePart",
    "Ping",
    "Pong",
    "Violation",
]

import dataclasses
from typing import NamedTuple

from conformance.engine.rules import Rule
from conformance.wire.frames import Frame, FrameHeader, Opcode


class Message(NamedTuple):
    """A whole data message; `text` is set for text messages (already validated UTF-8).

    The commonest event, so it is a named tuple: the engine builds a run of them in C
    (`tuple.__new__` over zipped fields) instead of one Python `__init__` call each. Fields,
    keywords, defaults, `match` and `repr` are as for the other events; it is immutable (change
    one with `_replace`), and it equals only another Message, never a bare tuple.
    """

    opcode: Opcode
    data: bytes
    text: str | None = None
    compressed: bool = False
    at: float = 0.0

    def __eq__(self, other: object) -> bool:
        if type(other) is Message:
            return tuple.__eq__(self, other)
        if isinstance(other, tuple):
            return False  # a bare tuple would compare its fields otherwise
        return NotImplemented  # as a dataclass: the other side may know better

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return tuple.__hash__(self)


@dataclasses.dataclass(slots=True)
class MessagePart:
    """One frame's worth of a data message (only with `message_parts=True`)."""

    opcode: Opcode
    data: bytes
    fin: bool
    at: float = 0.0


@dataclasses.dataclass(slots=True)
class Ping:
    data: bytes
    at: float = 0.0


@dataclasses.dataclass(slots=True)
class Pong:
    data: bytes
    at: float = 0.0


@dataclasses.dataclass(slots=True)
class ControlFrame:
    """A control frame with an opcode registered as an extension (11-15)."""

    opcode: Opcode
    data: bytes
    at: float = 0.0


@dataclasses.dataclass(slots=True)
class CloseReceived:
    """A valid close frame arrived; `code` None when it had no payload."""

    code: int | None
    reason: str
    at: float = 0.0


@dataclasses.dataclass(slots=True)
class Failure:
    """The peer broke `rule`: the connection is failed with `close_code` (None: no close frame)."""

    rule: Rule
    detail: str
    close_code: int | None
    at: float = 0.0


@dataclasses.dataclass(slots=True)
class Violation:
    """The peer broke `rule`, but the receiver is not required to fail over it."""

    rule: Rule
    detail: str
    at: float = 0.0


@dataclasses.dataclass(slots=True)
class FrameReceived:
    """Every frame as it arrived (only with `frame_events=True`), with its position in the read.

    `last_in_buffer`: no other whole frame follows it in the octets received so far;
    `tail_size`: octets received after it.
    """

    frame: Frame
    header: FrameHeader
    last_in_buffer: bool
    tail_size: int
    at: float = 0.0


Event = (
    Message | MessagePart | Ping | Pong | ControlFrame | CloseReceived | Failure | Violation
    | FrameReceived
)
