"""Payload specifications of case files, made into octets only when a case runs."""

from __future__ import annotations

__all__ = ["PayloadSpec", "compact", "corpus", "parse_payload"]

import dataclasses
import functools
import random
from typing import Any

_CORPORA = ("json", "html", "text", "binary")
_CORPUS_SIZE = 1 << 20  # each corpus is 1 MiB; slices wrap around


@dataclasses.dataclass(frozen=True, slots=True)
class PayloadSpec:
    """How to make a payload: literal octets, a repetition, or a slice of a generated corpus."""

    kind: str  # literal | repeat | corpus
    data: bytes = b""
    size: int = 0
    corpus: str = ""
    rolling: bool = False

    def materialize(self, offset: int = 0) -> bytes:
        if self.kind == "literal":
            return self.data
        if self.kind == "repeat":
            return _repeat(self.data, self.size)
        return _slice(self.corpus, offset, self.size)

    @property
    def length(self) -> int:
        return len(self.data) if self.kind == "literal" else self.size

    def describe(self) -> str:
        if self.kind == "literal":
            return self.data.hex() if len(self.data) <= 32 else f"{len(self.data)} octets"
        if self.kind == "repeat":
            return f"{self.data!r} repeated to {self.size} octets"
        return f"{self.size} octets of the {self.corpus} corpus"


def compact(data: bytes) -> PayloadSpec:
    """These octets as a payload spec; a long run of a short pattern stays short in a case file."""
    if len(data) > 256:
        for period in range(1, 65):
            unit = data[:period]
            if _repeat(unit, len(data)) == data:
                return PayloadSpec("repeat", unit, len(data))
    return PayloadSpec("literal", data)


def _repeat(unit: bytes, size: int) -> bytes:
    if not unit:
        return b""
    return (unit * (size // len(unit) + 1))[:size]


def _slice(name: str, offset: int, size: int) -> bytes:
    """`size` octets of a corpus from `offset` on, wrapping around; one copy in the common case."""
    data = corpus(name)
    start = offset % len(data)
    if start + size <= len(data):
        out = data[start : start + size]
    else:
        pieces = [data[start:]]
        left = size - len(pieces[0])
        while left > 0:
            pieces.append(data[:left])
            left -= len(pieces[-1])
        out = b"".join(pieces)
    return out if name == "binary" else _utf8_cut(out)


def _utf8_cut(data: bytes) -> bytes:
    """Drop a code point cut at either end, so a text slice stays valid UTF-8."""
    i = 0
    while i < len(data) and i < 3 and (data[i] & 0xC0) == 0x80:
        i += 1
    if i:
        data = data[i:]
    for k in range(1, min(4, len(data)) + 1):
        b = data[-k]
        if b & 0xC0 != 0x80:  # the start octet of the last sequence
            need = 1 if b < 0x80 else 2 if b >> 5 == 6 else 3 if b >> 4 == 14 else 4
            return data if need <= k else data[:-k]
    return data


_UNIT = 1 << 18  # a text corpus is a 256 KiB unit repeated: far apart (beyond any LZ77 window),
# so each message compresses as it would in one long text; generating it all would cost a second


@functools.cache
def corpus(name: str) -> bytes:
    """A deterministic 1 MiB corpus: json, html and text are UTF-8, binary is noise with runs."""
    rnd = random.Random(f"conformance-corpus-{name}")
    words = ["Welle", "frame", "naïve", "señal", "κόσμε", "данные", "протокол", "数据", "接続",
             "octet", "mask", "close", "ping", "pong", "extension", "deflate", "window", "🙂"]
    if name == "binary":
        chunks = [rnd.randbytes(64) if rnd.random() < 0.5
                  else bytes([rnd.getrandbits(8)]) * rnd.randint(4, 64) for _ in range(4096)]
        return _repeat(b"".join(chunks), _CORPUS_SIZE)
    parts: list[str] = []
    size = 0
    i = 0
    while size < _UNIT:
        w = " ".join(rnd.choices(words, k=rnd.randint(3, 12)))
        if name == "json":
            s = f'{{"id": {i}, "name": "{w}", "score": {rnd.random():.6f}, "tags": ["{rnd.choice(words)}"]}},\n'
        elif name == "html":
            s = f'<div class="row r{i % 7}"><a href="/item/{i}">{w}</a><span>{rnd.randint(0, 9999)}</span></div>\n'
        else:
            s = w.capitalize() + (". " if rnd.random() < 0.8 else ".\n\n")
        parts.append(s)
        size += len(s.encode())
        i += 1
    unit = "".join(parts).encode("utf-8")
    return (unit * (_CORPUS_SIZE // len(unit) + 1))[:_CORPUS_SIZE]


def parse_payload(value: Any) -> PayloadSpec:
    """Validate a payload value from a case file (see docs/case-format.md); ValueError if bad."""
    if value is None:
        return PayloadSpec("literal", b"")
    if isinstance(value, str):
        return PayloadSpec("literal", value.encode("utf-8"))
    if isinstance(value, int) and not isinstance(value, bool):
        return PayloadSpec("literal", str(value).encode())
    if not isinstance(value, dict):
        raise ValueError(f"a payload is a string or a mapping, not {type(value).__name__}")
    keys = set(value) - {"size", "offset"}
    if keys == {"hex"}:
        return PayloadSpec("literal", _hex(value["hex"]))
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError("`size` must be a whole number >= 0")
    if keys == {"repeat"}:
        return PayloadSpec("repeat", str(value["repeat"]).encode("utf-8"), size)
    if keys == {"repeat_hex"}:
        return PayloadSpec("repeat", _hex(value["repeat_hex"]), size)
    if keys == {"corpus"}:
        if value["corpus"] not in _CORPORA:
            raise ValueError(f"corpus must be one of {', '.join(_CORPORA)}")
        offset = value.get("offset")
        if offset not in (None, "rolling"):
            raise ValueError("offset, when given, is `rolling`")
        return PayloadSpec("corpus", size=size, corpus=value["corpus"], rolling=offset == "rolling")
    raise ValueError("a payload mapping has one of: hex, repeat + size, repeat_hex + size, "
                     "corpus + size")


def _hex(text: Any) -> bytes:
    try:
        return bytes.fromhex(str(text).replace(" ", "").replace("\n", ""))
    except ValueError:
        raise ValueError(f"not hex octets: {str(text)[:40]!r}") from None
