"""report/align.py: wire logs frame by frame; what differs on every run (masking keys, the random
payload of synchronisation pings, the order in which the two sides' frames crossed) is no difference."""

from __future__ import annotations

import os

from conformance.report.align import align, first_difference, wire_items
from conformance.wire.frames import Frame, Opcode, serialize_frame


def _tx(frame: Frame, label: str = "x") -> dict[str, object]:
    data = serialize_frame(frame, mask=os.urandom(4))
    return {"dir": "tx", "kind": "octets", "len": len(data), "hex": data.hex(), "text": label}


def _rx(text: str, opcode: int = 1) -> dict[str, object]:
    return {"dir": "rx", "kind": "frame", "text": text, "opcode": opcode, "fin": True, "rsv": [False] * 3,
            "masked": False}


REQ = {"dir": "tx", "kind": "octets", "len": 4, "hex": b"GET ".hex(), "text": "opening handshake request"}
RESP = {"dir": "rx", "kind": "octets", "len": 12, "hex": b"HTTP/1.1 101".hex(), "text": "response"}
EOF_ = {"dir": "rx", "kind": "event", "text": "TCP connection closed by the peer"}


def _log(sync: str, *, echo_first: bool = True, answer: str = "TEXT 'hi'") -> list[dict[str, object]]:
    ping = _tx(Frame(Opcode.PING, f"sync 1 {sync}".encode()), "synchronisation ping (checkpoint A)")
    pong = _rx(f"PONG 'sync 1 {sync}'", 10)
    text = _tx(Frame(Opcode.TEXT, b"hi"))
    body = [text, _rx(answer), ping, pong] if echo_first else [text, ping, _rx(answer), pong]
    return [REQ, RESP, *body, EOF_]


def test_the_same_answer_with_other_keys_and_sync_payloads_is_no_difference() -> None:
    rows = align(wire_items(_log("aaaa")), wire_items(_log("bbbb", echo_first=False)))
    assert first_difference(rows) is None and not any(r.differs for r in rows)
    assert [r.old.dir + " " + r.old.text.split()[0] for r in rows if r.old] == [
        "tx GET", "rx HTTP/1.1", "tx TEXT", "rx TEXT", "tx PING", "rx PONG", "rx TCP"]


def test_the_first_different_answer_is_marked() -> None:
    rows = align(wire_items(_log("aaaa")), wire_items(_log("aaaa", answer="CLOSE 1007 ''")))
    i = first_difference(rows)
    assert i is not None and rows[i].old is not None and rows[i].new is not None
    assert (rows[i].old.text.split()[0], rows[i].new.text.split()[0]) == ("TEXT", "CLOSE")
    assert not any(r.differs for r in rows[:i])


def test_a_frame_only_one_side_has_differs() -> None:
    old = wire_items(_log("aaaa"))
    new = wire_items(_log("aaaa")[:-1] + [_rx("PING ''", 9), EOF_])
    rows = align(old, new)
    i = first_difference(rows)
    assert i is not None and rows[i].new is not None and rows[i].new.text.startswith("PING")
    assert rows[-1].old is None  # the extra frame's row: nothing on the old side
