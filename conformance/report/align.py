"""Two wire logs of one case side by side, frame by frame, and the first frame where they differ.

Each log becomes a list of `WireItem`s: the opening handshake, every frame the suite sent (decoded
from its octets, as the report does), every frame the peer sent (as the engine decoded it), and
the peer closing TCP or resetting. Items are compared by what they mean, never by what differs on
every run: the masking keys, the Sec-WebSocket-Key, the port in Host and the random payload of a
synchronisation ping. The k-th frame each side sent is paired with the k-th frame of the other
log, so two runs whose frames crossed on the wire in another order still line up.
"""

from __future__ import annotations

__all__ = ["Row", "WireItem", "align", "first_difference", "wire_items"]

import dataclasses
import re
from typing import Any

from conformance.report.present import tx_frames

_SYNC_PING = re.compile(r"(PING|PONG) 'sync \d+ [0-9a-f]+'")


@dataclasses.dataclass(frozen=True)
class WireItem:
    dir: str  # "tx": the suite sent it; "rx": the peer did
    text: str  # what a person reads
    key: str  # what is compared
    pos: int  # its place in the log


@dataclasses.dataclass(frozen=True)
class Row:
    old: WireItem | None
    new: WireItem | None

    @property
    def differs(self) -> bool:
        return self.old is None or self.new is None or self.old.key != self.new.key


def wire_items(wirelog: list[dict[str, Any]]) -> list[WireItem]:
    """The frames and handshake of a wire log (events of the suite's own are left out)."""
    sent = tx_frames(wirelog)
    items: list[WireItem] = []
    for i, e in enumerate(wirelog):
        d, kind, text = e.get("dir"), e.get("kind"), str(e.get("text", ""))
        if d == "tx" and kind == "octets" and text == "opening handshake request":
            items.append(WireItem("tx", _first_line(e), "request " + _first_line(e), i))
        elif d == "tx" and kind == "octets":
            items += [_item("tx", f"{f.text} fin={int(f.fin)} rsv={f.rsv}", i) for f in sent.get(i, [])]
        elif d == "rx" and kind == "octets":
            items.append(WireItem("rx", _first_line(e), "response " + _first_line(e), i))
        elif d == "rx" and kind == "frame":
            rsv = "".join(str(int(bool(b))) for b in e.get("rsv") or (False,) * 3)
            items.append(_item("rx", f"{text} fin={int(bool(e.get('fin')))} rsv={rsv}"
                               + (" masked" if e.get("masked") else ""), i))
        elif d == "rx" and kind == "event" and (text.startswith("TCP connection closed") or
                                                text.startswith("connection error")):
            items.append(WireItem("rx", text, "reset" if text.startswith("connection") else "EOF", i))
    return items


def _item(d: str, text: str, pos: int) -> WireItem:
    return WireItem(d, text, _SYNC_PING.sub(r"\1 (synchronisation)", text), pos)


def _first_line(e: dict[str, Any]) -> str:
    try:
        raw = bytes.fromhex(str(e.get("hex") or ""))
    except ValueError:
        raw = b""
    return raw.split(b"\r\n", 1)[0].decode("latin-1") or str(e.get("text", ""))


def align(old: list[WireItem], new: list[WireItem]) -> list[Row]:
    """Pair the k-th item each side sent in `old` with the k-th in `new`, in the order of `old`
    (items only `new` has come after the row of their predecessor)."""
    pairs: list[tuple[float, Row]] = []
    for d in ("tx", "rx"):
        a = [x for x in old if x.dir == d]
        b = [x for x in new if x.dir == d]
        for k in range(max(len(a), len(b))):
            o = a[k] if k < len(a) else None
            n = b[k] if k < len(b) else None
            # a row only `new` has goes right after the last old item of its direction
            place = o.pos if o is not None else (a[-1].pos if a else -1) + (k - len(a) + 1) / 1e4
            pairs.append((place, Row(o, n)))
    return [row for _, row in sorted(pairs, key=lambda p: p[0])]


def first_difference(rows: list[Row]) -> int | None:
    """The index of the first row where the peer's answers differ (None: it answered alike).
    What the suite sent can differ too (its answers to the peer follow the peer, and where they
    fall among its own writes depends on when the peer's frame came): those rows differ, but the
    first difference is the peer's."""
    return next((i for i, r in enumerate(rows) if r.differs and _side(r) == "rx"), None)


def _side(r: Row) -> str:
    item = r.old or r.new
    return item.dir if item is not None else ""
