"""Hypothesis strategies for what a client sends, and the engine's verdict on what must happen.

Strategies are plural nouns. They shrink towards fewer frames, shorter payloads, the plainest
opcode (text), FIN set, no reserved bits and masking on: a shrunk counterexample shows only what
matters.
"""

from __future__ import annotations

__all__ = ["GeneratedFrame", "Prediction", "conversations", "frames", "predict", "utf8_texts"]

import dataclasses

from hypothesis import strategies as st

from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role
from conformance.wire.frames import Frame, Opcode, serialize_frame


@dataclasses.dataclass(frozen=True)
class GeneratedFrame:
    opcode: int
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    masked: bool = True

    def to_bytes(self) -> bytes:
        frame = Frame(Opcode(self.opcode), self.payload, self.fin, self.rsv1, self.rsv2, self.rsv3)
        return serialize_frame(frame, mask=b"\x00\x00\x00\x00" if self.masked else None)


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
    """One frame: mostly well-formed, sometimes with a flaw a conforming server must reject."""
    opcode = draw(st.sampled_from([1, 2, 0, 9, 10, 3, 11]))
    if opcode == 1:
        payload = draw(utf8_texts())
    elif opcode in (9, 10):  # around the 125-octet limit of control frames (RFC 6455 §5.5)
        payload = draw(st.binary(max_size=16) | st.binary(min_size=124, max_size=127))
    else:
        payload = draw(st.binary(max_size=64))
    flaw = draw(st.sampled_from(["none"] * 6 + ["fin", "rsv1", "rsv2", "rsv3", "unmasked"]))
    return GeneratedFrame(opcode, payload, fin=flaw != "fin", rsv1=flaw == "rsv1", rsv2=flaw == "rsv2",
                          rsv3=flaw == "rsv3", masked=flaw != "unmasked")


def conversations(max_frames: int = 5) -> st.SearchStrategy[list[GeneratedFrame]]:
    """What a client sends after the handshake: 1 to max_frames frames."""
    if max_frames < 1:
        raise ValueError("a conversation has at least one frame")
    return st.lists(frames(), min_size=1, max_size=max_frames)


@dataclasses.dataclass
class Prediction:
    """What a conforming echo server does: echoes and pongs in order, then fails with `code` or not."""

    observations: list[tuple[str, bytes]]
    fail_code: int | None
    rule: str | None


def predict(conversation: list[GeneratedFrame]) -> Prediction:
    """Ask the reference engine, playing the server, what must happen for this conversation."""
    server = Connection(Role.SERVER, max_message=1 << 20)
    seen: list[tuple[str, bytes]] = []
    for frame in conversation:
        server.receive_data(frame.to_bytes())
        for e in server.events():
            if isinstance(e, ev.Message):
                seen.append(("text" if e.opcode is Opcode.TEXT else "binary", e.data))
            elif isinstance(e, ev.Ping):
                seen.append(("pong", e.data))
            elif isinstance(e, ev.Failure):
                return Prediction(seen, e.close_code, e.rule.id)
    return Prediction(seen, None, None)
