"""What a person reads about a result: one outcome per case, and every field as words, never as a
Python repr (no True/False/None, no lists, no b'...').

The HTML pages and the JUnit file both take their text from here, so they say the same things.
One outcome per case, decided by conformance.verdicts.is_failure: a case whose behaviour is OK but
whose close fails a MUST rule is a failing case, drawn red like a FAILED behaviour.
"""

from __future__ import annotations

__all__ = [
    "OUTCOMES",
    "Outcome",
    "comparable",
    "expected_close_text",
    "expected_text",
    "measurement_rows",
    "observed_text",
    "outcome",
    "tx_frames",
    "words",
    "TxFrame",
]

import ast
import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from conformance.report.model import CaseResult
from conformance.verdicts import is_not_run
from conformance.wire.frames import Opcode, apply_mask, parse_header


@dataclasses.dataclass(frozen=True)
class Outcome:
    key: str  # a CSS class name
    label: str
    color: str


# In order of severity: a group's cell in the matrix takes the colour of its worst case.
OUTCOMES = (
    Outcome("ok", "OK", "#2e7d32"),
    Outcome("info", "INFORMATIONAL", "#1565c0"),
    Outcome("unimpl", "UNIMPLEMENTED", "#6d4c41"),
    Outcome("notrun", "not run", "#9e9e9e"),
    Outcome("strict", "fails with --strict", "#c0a000"),
    Outcome("fails", "fails", "#c62828"),
)
_BY_KEY = {o.key: o for o in OUTCOMES}


def outcome(r: CaseResult) -> Outcome:
    """The one outcome of a case: whether it fails the run (with or without --strict), or was not
    run, or which of the neutral verdicts it got."""
    if is_not_run(r.behavior, r.behaviorClose):
        return _BY_KEY["notrun"]
    if r.is_failure():
        return _BY_KEY["fails"]
    if r.is_failure(strict=True):
        return _BY_KEY["strict"]
    if "UNIMPLEMENTED" in (r.behavior, r.behaviorClose):
        return _BY_KEY["unimpl"]
    if "INFORMATIONAL" in (r.behavior, r.behaviorClose):
        return _BY_KEY["info"]
    return _BY_KEY["ok"]


def words(value: Any) -> str:
    """A field's value as a person writes it: yes/no, none, lists joined by commas."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(words(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {words(v)}" for k, v in value.items()) or "none"
    return str(value)


def observed_text(item: Any) -> str:
    """One observation as stored by the runner, [kind, description]; the description already
    starts with the kind ("text 'Hello'"), so the kind is not said twice."""
    if isinstance(item, (list, tuple)) and len(item) == 2:
        kind, desc = str(item[0]), str(item[1])
        return desc if desc.startswith(kind) else f"{kind} {desc}"
    return words(item)


_HEX = re.compile(r"(?:[0-9a-f]{2})*")
_REPEAT = re.compile(r"(b'.*'|b\".*\") repeated to (\d+) octets")


def _payload_words(kind: str, desc: str) -> str:
    """The catalogue's payload description (hex for short literals, b'..' repeated) in words."""
    if _HEX.fullmatch(desc):
        return _octets_words(kind, bytes.fromhex(desc))
    m = _REPEAT.fullmatch(desc)
    if m:
        unit, size = ast.literal_eval(m.group(1)), int(m.group(2))
        if size <= _SHORT:
            return _canonical(kind, desc).removeprefix(kind + " ")
        return f"{_octets_words(kind, unit)} repeated to {size} octets"
    return desc


def _octets_words(kind: str, data: bytes) -> str:
    """Octets as the runner describes what it received: quoted text when they are UTF-8."""
    try:
        return repr(data.decode("utf-8"))
    except UnicodeDecodeError:
        return f"0x{data.hex()}"


_PAYLOAD_KINDS = ("text", "binary", "ping", "pong")  # observations that carry a payload
_SHORT = 32  # the runner spells out received payloads up to this many octets


def _canonical(kind: str, desc: str) -> str:
    """An expected payload in the form the runner gives received ones, so that equal payloads
    compare equal: the octets up to 32, else "of N octets"."""
    if _HEX.fullmatch(desc):
        return f"{kind} {_octets_words(kind, bytes.fromhex(desc))}"
    m = _REPEAT.fullmatch(desc)
    if m:
        unit, size = ast.literal_eval(m.group(1)), int(m.group(2))
        if size <= _SHORT:
            return f"{kind} {_octets_words(kind, (unit * (size // max(1, len(unit)) + 1))[:size])}"
        return f"{kind} of {size} octets"
    m = re.match(r"(\d+) octets", desc)
    return f"{kind} of {m.group(1)} octets" if m else f"{kind} {desc}"


def comparable(item: Any) -> str:
    """One expected observation ([kind, payload description]) as the runner would describe it
    when received: the line the diff of expected and observed compares."""
    if isinstance(item, (list, tuple)) and len(item) == 2 and str(item[0]) in _PAYLOAD_KINDS:
        return _canonical(str(item[0]), str(item[1]))
    return expected_text([item])


def expected_text(seq: Any) -> str:
    """One alternative of the expected sequence ([[kind, payload description], ...]) in words."""
    if not seq:
        return "nothing"
    parts = []
    for item in seq:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            kind, desc = str(item[0]), str(item[1])
            if kind == "timeout":
                parts.append(f"still open at checkpoint {desc}")
            elif kind in _PAYLOAD_KINDS:
                parts.append(f"{kind} {_payload_words(kind, desc)}")
            else:
                parts.append(f"{kind} {desc}")
        else:
            parts.append(words(item))
    return ", ".join(parts)


def expected_close_text(ec: dict[str, Any], handshake_case: bool = False, refusal: bool = False) -> str:
    """The close expectation ({closedByMe, closeCode, requireClean}) as one sentence; for a case
    about the opening handshake it applies only when the handshake succeeds; a client that must
    refuse the answer (`refusal`) opens no connection to close."""
    if refusal:
        return "none: the client must refuse the answer, so no WebSocket connection opens (it closes TCP)"
    if not ec:
        return "none stated"
    if handshake_case:
        return "only if the handshake succeeds: " + expected_close_text(ec)
    who = "the suite starts the closing handshake" if ec.get("closedByMe") else "the peer closes"
    codes = ec.get("closeCode") or []
    code = (f"with code {' or '.join(str(c) for c in codes)}" if codes else "with any code")
    clean = "; a clean close is required" if ec.get("requireClean") else "; an unclean close is accepted"
    return f"{who} {code}{clean}"


_MEASURES = {
    "messages": ("messages", ""), "octets": ("payload octets", ""), "seconds": ("time", " s"),
    "messages_per_s": ("messages per second", ""), "mb_per_s": ("throughput", " MB/s"),
    "adapter_raised": ("the adapter raised", ""),
}


def measurement_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    """Measurements of a performance case with names and units people read."""
    out = []
    for k, v in m.items():
        label, unit = _MEASURES.get(k, (k.replace("_per_s", " per second").replace("_", " "), ""))
        out.append((label, f"{words(v)}{unit}"))
    return out


@dataclasses.dataclass
class TxFrame:
    text: str
    fin: bool
    rsv: str
    masked: bool
    length: int


def tx_frames(entries: list[dict[str, Any]]) -> dict[int, list[TxFrame]]:
    """The frames in the octets the suite sent, decoded like the received ones: for each wire-log
    entry (by index) the frames that end in it. Decoding stops where the log kept only part of the
    octets, since the frame boundaries after that point are unknown."""
    buf = bytearray()
    out: dict[int, list[TxFrame]] = {}
    handshake_done = False
    for i, e in enumerate(entries):
        if e.get("dir") != "tx" or e.get("kind") != "octets":
            continue
        data = bytes.fromhex(e.get("hex") or "")
        if not handshake_done:
            handshake_done = data.startswith((b"GET ", b"HTTP/")) or "handshake" in str(e.get("text", ""))
            if handshake_done:
                continue
        if len(data) != int(e.get("len", 0)):
            break
        buf += data
        frames = list(_frames(buf))
        if frames:
            out[i] = frames
    return out


def _frames(buf: bytearray) -> Iterator[TxFrame]:
    """Complete frames at the front of `buf`, removed from it as they are decoded."""
    while (h := parse_header(buf)) is not None and len(buf) >= h.header_len + h.length:
        payload = bytes(buf[h.header_len : h.header_len + h.length])
        if h.mask is not None:
            payload = apply_mask(payload, h.mask)
        del buf[: h.header_len + h.length]
        yield TxFrame(_frame_words(h.opcode, payload), h.fin, "".join(str(int(b)) for b in (h.rsv1, h.rsv2, h.rsv3)),
                      h.mask is not None, h.length)


def _frame_words(opcode: Opcode, data: bytes) -> str:
    name = opcode.name
    if opcode is Opcode.CLOSE and len(data) >= 2:
        return f"CLOSE {int.from_bytes(data[:2], 'big')} '{data[2:].decode('utf-8', 'replace')}'"
    if len(data) <= 64:
        return f"{name} '{data.decode('utf-8', 'replace')}'"
    return f"{name} {len(data)} octets"
