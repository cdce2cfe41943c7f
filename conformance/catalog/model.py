"""Cases as the runner sees them: validated, expanded, immutable."""

from __future__ import annotations

__all__ = ["Case", "CloseExpect", "EchoSpec", "Expect", "FrameSpec", "Observation", "Step", "status_matches"]

import dataclasses
from typing import Any

from conformance.catalog.payload import PayloadSpec
from conformance.wire.frames import Opcode


@dataclasses.dataclass(frozen=True, slots=True)
class FrameSpec:
    opcode: Opcode
    payload: PayloadSpec
    fin: bool = True
    rsv1: bool | None = None  # None: true when compressed, else false
    rsv2: bool = False
    rsv3: bool = False
    mask: bool | bytes | None = None  # None: as the role requires
    length_form: int | None = None
    length: int | None = None
    compress: bool = False
    chop: int = 0
    delay: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class EchoSpec:
    payload: PayloadSpec
    count: int = 1
    opcode: Opcode = Opcode.TEXT
    fragment: int = 0
    chop: int = 0
    compress: bool = False
    window: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One step: `kind` is the step's key in the case file, `value` its validated value."""

    kind: str
    value: Any
    line: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """`text`/`binary`/`ping`/`pong` with a payload, or `timeout` with a label."""

    kind: str
    payload: PayloadSpec | None = None
    label: str = ""

    def matches(self, kind: str, data: bytes | str) -> bool:
        if kind != self.kind:
            return False
        if self.kind == "timeout":
            return data == self.label
        assert self.payload is not None
        return self.payload.length == len(data) and self.payload.materialize() == data

    def to_json(self) -> list[Any]:
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

    def alternatives(self) -> list[tuple[str, tuple[Observation, ...]]]:
        out = [("OK", self.ok)]
        if self.non_strict is not None:
            out.append(("NON-STRICT", self.non_strict))
        if self.informational is not None:
            out.append(("INFORMATIONAL", self.informational))
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class CloseExpect:
    by: str = "us"  # us | peer
    codes: tuple[int, ...] = (1000,)
    clean: bool = True
    wrong_side_fatal: bool = False  # the wrong side closing also fails the behaviour (UTF-8 cases)
    wrong_code_fatal: bool = False  # a wrong close code also fails the behaviour (close cases)
    informational: bool = False  # whatever happens, the close verdict is INFORMATIONAL


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    title: str
    description: str
    expectation: str
    rfc: tuple[str, ...]
    level: str
    group: str
    source: str  # file:line the case came from
    rule: str | None = None
    role: str = "both"
    timeout: float | None = None
    exclusive: bool = False
    handshake: dict[str, Any] | None = None
    expect_response: dict[str, Any] | None = None
    deflate: dict[str, Any] | None = None
    expect_client: str | None = None
    steps: tuple[Step, ...] = ()
    expect: Expect = Expect()
    close: CloseExpect = CloseExpect()

    @property
    def subgroup(self) -> str:
        parts = self.id.split(".")
        return ".".join(parts[:2]) if len(parts) > 2 else parts[0]

    def sort_key(self) -> tuple[int | str, ...]:
        return tuple(int(p) if p.isdigit() else p for p in self.id.split("."))


def status_matches(spec: list[int | str], status: int) -> bool:
    """`spec` lists HTTP statuses: a number, or a class such as "4xx" (any 400-499)."""
    return any(status == s if isinstance(s, int) else str(status)[0] == s[0] for s in spec)
