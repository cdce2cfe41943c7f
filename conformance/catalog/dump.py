"""Cases back into case files: the inverse of the loader and the one exporter.

`dump_case` gives the mapping a person would write (defaults left out), so that
`load(dump(case)) == case` for every case the model can hold; `dump_cases` gives a whole file's
text. Fuzzers and generators build `Case` objects and export them through here, never by writing
YAML of their own.
"""

from __future__ import annotations

__all__ = [
    "dump_case",
    "dump_cases",
    "dump_limits",
    "dump_payload",
    "dump_resource_step",
    "dump_step",
    "write_cases",
]

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from conformance.catalog.model import (
    Case,
    Checkpoint,
    CloseExpect,
    CloseNow,
    DeflateSpec,
    Echo,
    EchoSpec,
    Expect,
    ExpectResponse,
    FrameSpec,
    H2EndStream,
    H2Get,
    H2Goaway,
    H2Reset,
    H2Settings,
    H2Streams,
    H3Fin,
    H3Goaway,
    H3Reset,
    H3Streams,
    HandshakeSpec,
    HeaderEdits,
    Observation,
    OfferParams,
    ResponseSpec,
    SendClose,
    SendFrame,
    SendMessage,
    SendRaw,
    Step,
    Wait,
    WaitMessages,
)
from conformance.catalog.payload import PayloadSpec
from conformance.catalog.resources import Bomb, ExactLimit, Flood, Limits, Request, ResourceStep
from conformance.wire.frames import Opcode

_OPCODE_NAMES = {Opcode.CONT: "continuation", Opcode.TEXT: "text", Opcode.BINARY: "binary",
                 Opcode.CLOSE: "close", Opcode.PING: "ping", Opcode.PONG: "pong"}


def _text_of(data: bytes) -> str | None:
    """`data` as a YAML string when it is readable UTF-8 text, else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if all(c.isprintable() or c in " \t\n" for c in text) else None


def dump_payload(p: PayloadSpec) -> Any:
    if p.kind == "literal":
        text = _text_of(p.data)
        return text if text is not None else {"hex": p.data.hex()}
    if p.kind == "repeat":
        unit = _text_of(p.data)
        return {"repeat": unit, "size": p.size} if unit is not None else {"repeat_hex": p.data.hex(), "size": p.size}
    out: dict[str, Any] = {"corpus": p.corpus, "size": p.size}
    if p.rolling:
        out["offset"] = "rolling"
    return out


def _opcode(op: Opcode) -> str | int:
    return _OPCODE_NAMES.get(op, int(op))


def _frame(f: FrameSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"opcode": _opcode(f.opcode)}
    if f.payload != PayloadSpec("literal"):
        out["payload"] = dump_payload(f.payload)
    if not f.fin:
        out["fin"] = False
    if f.rsv1 is not None:
        out["rsv1"] = f.rsv1
    for name in ("rsv2", "rsv3", "compress"):
        if getattr(f, name):
            out[name] = True
    if f.mask is not None:
        out["mask"] = f.mask.hex() if isinstance(f.mask, bytes) else f.mask
    for name in ("length_form", "length"):
        if getattr(f, name) is not None:
            out[name] = getattr(f, name)
    if f.chop:
        out["chop"] = f.chop
    if f.delay:
        out["delay"] = f.delay
    return out


def _close_fields(code: int | None, reason: PayloadSpec | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if code is not None:
        out["code"] = code
    if reason is not None:
        out["reason"] = dump_payload(reason)
    return out


def _echo(e: EchoSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"payload": dump_payload(e.payload)}
    defaults = EchoSpec(e.payload)
    for name in ("count", "fragment", "chop", "compress", "window"):
        if getattr(e, name) != getattr(defaults, name):
            out[name] = getattr(e, name)
    if e.opcode is not Opcode.TEXT:
        out["opcode"] = _opcode(e.opcode)
    return out


def dump_step(step: Step) -> dict[str, Any]:
    match step:
        case SendFrame(frame=f):
            return {"send": _frame(f)}
        case SendMessage():
            msg: dict[str, Any] = {"opcode": _opcode(step.opcode), "payload": dump_payload(step.payload)}
            if step.fragment:
                msg["fragment"] = step.fragment
            if step.compress is not None:
                msg["compress"] = step.compress
            return {"send_message": msg}
        case SendRaw(payload=p, chop=0, delay=0):
            return {"send_raw": dump_payload(p)}
        case SendRaw(payload=p):
            raw: dict[str, Any] = {"payload": dump_payload(p), "chop": step.chop}
            if step.delay:
                raw["delay"] = step.delay
            return {"send_raw": raw}
        case SendClose(payload=p) if p is not None:
            return {"send_close": {"payload": dump_payload(p)}}
        case SendClose():
            return {"send_close": _close_fields(step.code, step.reason)}
        case CloseNow():
            return {"close": _close_fields(step.code, step.reason)}
        case Wait(seconds=seconds):
            return {"wait": seconds}
        case Checkpoint(label=label):
            return {"checkpoint": label}
        case WaitMessages(count=n):
            return {"wait_messages": n}
        case Echo(spec=e):
            return {"echo": _echo(e)}
        case Flood() | Bomb() | Request() | ExactLimit():
            return dump_resource_step(step)
        case H2EndStream():
            return {"h2_end_stream": None}
        case H2Reset(code=code):
            return {"h2_reset": code}
        case H2Goaway(code=code):
            return {"h2_goaway": code}
        case H2Streams(count=n, payload=p):
            return {"h2_streams": {"count": n, "payload": dump_payload(p)}}
        case H2Settings(values=values):
            return {"h2_settings": dict(values)}
        case H2Get(path=path):
            return {"h2_get": path}
        case H3Fin():
            return {"h3_fin": None}
        case H3Reset(code=code):
            return {"h3_reset": code}
        case H3Goaway():
            return {"h3_goaway": None}
        case H3Streams(count=n, payload=p):
            return {"h3_streams": {"count": n, "payload": dump_payload(p)}}


def _headers(edits: HeaderEdits) -> dict[str, Any]:
    return {name: None if not values else values[0] if len(values) == 1 else list(values) for name, values in edits}


def _response(r: ResponseSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.raw is not None:
        out["raw"] = dump_payload(r.raw)
    if r.status is not None:
        out["status"] = r.status
    if r.reason is not None:
        out["reason"] = r.reason
    if r.headers:
        out["headers"] = _headers(r.headers)
    for name in ("http_version", "accept", "redirect"):
        if getattr(r, name) is not None:
            out[name] = getattr(r, name)
    if r.extra_headers:
        out["extra_headers"] = [[a, b] for a, b in r.extra_headers]
    for name in ("before", "trailer"):
        if getattr(r, name) is not None:
            out[name] = dump_payload(getattr(r, name))
    if r.chop:
        out["chop"] = r.chop
    if r.delay:
        out["delay"] = r.delay
    return out


def _handshake(h: HandshakeSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if h.raw is not None:
        out["raw"] = dump_payload(h.raw)
    for name in ("method", "path", "http_version"):
        if getattr(h, name) is not None:
            out[name] = getattr(h, name)
    if h.headers:
        out["headers"] = _headers(h.headers)
    if h.extra_headers:
        out["extra_headers"] = [[a, b] for a, b in h.extra_headers]
    if h.subprotocols:
        out["subprotocols"] = list(h.subprotocols)
    if h.response is not None:
        out["response"] = _response(h.response)
    return out


def _expect_response(e: ExpectResponse) -> dict[str, Any]:
    out: dict[str, Any] = {"status": list(e.status)}
    if e.headers:
        out["headers"] = dict(e.headers)
    if e.refusal_headers:
        out["refusal_headers"] = dict(e.refusal_headers)
    if e.subprotocol is not None:
        out["subprotocol"] = list(e.subprotocol)
    return out


def _offers(offers: tuple[OfferParams, ...]) -> list[dict[str, Any]]:
    return [dict(o) for o in offers]


def _deflate(d: DeflateSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"offers": _offers(d.offers)}
    if d.accept is not None:
        out["accept"] = _offers(d.accept)
    if not d.required:
        out["required"] = False
    return out


def _observations(seq: tuple[Observation, ...]) -> list[dict[str, Any]]:
    return [{"timeout": o.label} if o.payload is None else {o.kind: dump_payload(o.payload)} for o in seq]


def _expect(e: Expect) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": _observations(e.ok)}
    if e.non_strict is not None:
        out["non_strict"] = _observations(e.non_strict)
    if e.informational is not None:
        out["informational"] = _observations(e.informational)
    if e.any is not None:
        out["any"] = e.any
    return out


def _close(c: CloseExpect) -> dict[str, Any]:
    out: dict[str, Any] = {"by": c.by, "codes": list(c.codes), "clean": c.clean}
    for name in ("wrong_side_fatal", "wrong_code_fatal"):
        if getattr(c, name):
            out[name] = True
    if c.informational:
        out["any"] = "informational"
    if c.linger:
        out["linger"] = c.linger
    return out


def dump_case(case: Case) -> dict[str, Any]:
    """The case as a case-file mapping (docs/case-format.md)."""
    out: dict[str, Any] = {"id": case.id, "title": case.title}
    for name in ("description", "expectation"):
        if getattr(case, name):
            out[name] = getattr(case, name)
    out["rfc"] = list(case.rfc)
    out["level"] = case.level
    for name, default in (("rule", None), ("role", "both"), ("timeout", None), ("expect_client", None),
                          ("transport", "")):
        if getattr(case, name) != default:
            out[name] = getattr(case, name)
    if case.exclusive:
        out["exclusive"] = True
    if case.size_limited:
        out["size_limited"] = True
    if case.handshake is not None:
        out["handshake"] = _handshake(case.handshake)
    if case.expect_response is not None:
        out["expect_response"] = _expect_response(case.expect_response)
    if case.deflate is not None:
        out["deflate"] = _deflate(case.deflate)
    if case.steps:
        out["steps"] = [dump_step(s) for s in case.steps]
    if case.expect != Expect():
        out["expect"] = _expect(case.expect)
    out["close"] = _close(case.close)
    if case.resources is not None:
        out["resources"] = dump_limits(case.resources)
    return out


def dump_cases(cases: list[Case], group: str, title: str, comment: str = "") -> str:
    """A whole case file holding `cases` (all of group `group`)."""
    doc = {"group": group, "title": title, "cases": [dump_case(c) for c in cases]}
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def write_cases(path: Path, cases: list[Case], group: str, title: str, comment: str = "") -> None:
    path.write_text(dump_cases(cases, group, title, comment), encoding="utf-8")


def _dump_fields(obj: Any, required: tuple[str, ...]) -> dict[str, Any]:
    """A resource step's or limit's fields that differ from their defaults (and the required ones)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.name == "line":
            continue
        value = getattr(obj, f.name)
        if f.name not in required and value == f.default:
            continue
        if isinstance(value, Opcode):
            value = value.name.lower() if value is not Opcode.CONT else "continuation"
        elif isinstance(value, PayloadSpec):
            value = dump_payload(value)
        out[f.name] = value
    return out


def dump_resource_step(step: ResourceStep) -> dict[str, Any]:
    required = {"flood": ("opcode", "count"), "bomb": ("inflated",), "request": (), "exact_limit": ("offset",)}[step.key]
    return {step.key: _dump_fields(step, required)}


def dump_limits(limits: Limits) -> dict[str, Any]:
    return _dump_fields(limits, ())
