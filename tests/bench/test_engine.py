"""make bench: every row does the same work, and every parser delivers every message."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.bench import engine
from conformance.wire.frames import Frame, Opcode, serialize_frame

_KEY = b"\x01\x02\x03\x04"


@pytest.mark.parametrize("make", [engine.websockets_parser, engine.aiohttp_parser])
def test_the_parser_layers_rows_check_utf8_as_the_engine_does(make: Callable[[bool], engine.Parser]) -> None:
    """websockets' Protocol and aiohttp's reader (decode_text=False) leave text undecoded; their rows
    decode it, so an invalid text message is not counted as delivered (the engine fails on it)."""
    parser = make(False)
    assert parser([serialize_frame(Frame(Opcode.TEXT, "κόσμε".encode()), mask=_KEY)]) == 1
    try:
        delivered = parser([serialize_frame(Frame(Opcode.TEXT, b"ok\xff"), mask=_KEY)])
    except UnicodeDecodeError:
        delivered = 0
    assert delivered == 0


def test_every_parser_delivers_the_deflate_workload() -> None:
    data, params = engine._deflate_stream(200)
    reads = engine._reads(data)
    assert engine.ours(params)(reads) == 200
    for make in (engine.websockets_parser, engine.aiohttp_parser):
        assert make(True)(reads) == 200
