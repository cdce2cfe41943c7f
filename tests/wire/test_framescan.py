"""RFC 6455 §5.2 / §5.3: the compiled run scan finds the frames a plain header-by-header walk
finds, and unmasks their payloads as apply_mask does, on any stream."""

from __future__ import annotations

import importlib.util
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.wire import framescan
from conformance.wire.frames import apply_mask, parse_header

numba_missing = importlib.util.find_spec("numba") is None
needs_numba = pytest.mark.skipif(numba_missing, reason="numba is not installed")

_FIRST = [0x81, 0x82, 0x80, 0x01, 0x02, 0xC1, 0xC2, 0x89, 0x8A, 0x88, 0x83, 0xA2]


def _reference(buf: bytes, pos: int, accepted: set[int], masked: bool, max_length: int) -> tuple[list[int], list[int], bytes, list[bytes], int]:
    """The walk the kernel must do, written with the header codec: each frame from `pos` while
    it is complete, its first octet accepted, its MASK bit the one asked for, its length at most
    `max_length` in the 7-bit form or (above 125) the minimal 16-bit form."""
    starts, lengths, kinds, payloads = [], [], bytearray(), []
    while (h := parse_header(buf, pos)) is not None:
        start = pos + h.header_len
        if (buf[pos] not in accepted or (h.mask is not None) != masked or h.length_form == 64
                or (h.length_form == 16 and (max_length <= 125 or not h.minimal_length))
                or h.length > max_length or start + h.length > len(buf)):
            break
        raw = bytes(buf[start : start + h.length])
        starts.append(start)
        lengths.append(h.length)
        kinds.append(buf[pos])
        payloads.append(apply_mask(raw, h.mask) if h.mask else raw)
        pos = start + h.length
    return starts, lengths, bytes(kinds), payloads, pos


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, bool, int, set[int], int]:
    """Octets before the run, then frames: mostly ones the scan must take (an accepted first
    octet, the MASK bit asked for, a length the limit allows in its minimal form), one in twenty
    anything else (another first octet or MASK bit, a non-minimal 16-bit or a 64-bit length, a
    length over the limit); the last frame may be cut short. Returns the octets, the masking,
    where the run starts, the accepted first octets and the length limit. Shrinks towards short
    runs of masked 0x81/0x82 frames."""
    masked = draw(st.booleans())
    accepted = draw(st.sampled_from([{0x81, 0x82}, {0x82}, {0x80, 0x81, 0x82, 0x01, 0x02}, set(_FIRST)]))
    max_length = draw(st.sampled_from([125, 0, 7, 200, 65535]))
    rng = random.Random(draw(st.integers(0, 1 << 32)))  # plain random (hypothesis' leans towards 0.0)
    before = draw(st.binary(max_size=7))
    out = bytearray(before)
    for _ in range(draw(st.integers(0, 300))):
        b0, mbit, n = rng.choice(sorted(accepted)), masked, rng.randint(0, min(max_length, 400))
        form = 7 if n <= 125 else 16
        if rng.random() < 0.05:  # anything else
            b0, mbit = rng.choice(_FIRST), rng.random() < 0.5
            n, form = rng.randrange(300), rng.choice([7, 16, 64])
            n = min(n, 125) if form == 7 else n
        head = bytes((b0, (0x80 if mbit else 0) | (n if form == 7 else 126 if form == 16 else 127)))
        head += n.to_bytes(2, "big") if form == 16 else n.to_bytes(8, "big") if form == 64 else b""
        out += head + (rng.randbytes(4) if mbit else b"") + rng.randbytes(n)
    cut = draw(st.integers(0, 9))
    return bytes(out[: len(out) - cut] if cut < len(out) else out), masked, len(before), accepted, max_length


@needs_numba
class TestSection5_2Scan:
    """The frames found, where the run ends, and the payloads (RFC 6455 §5.3 unmasking)."""

    @settings(max_examples=300, deadline=None)
    @given(streams(), st.integers(0, 5))
    def test_same_run_as_a_header_by_header_walk(self, stream: tuple[bytes, bool, int, set[int], int],
                                                 tail: int) -> None:
        data, masked, pos, accepted, max_length = stream
        pos = min(pos, len(data))
        buf = bytearray(data)
        n = max(pos, len(buf) - tail)  # the run may not look past n
        run = framescan.scan_run(buf, pos, n, framescan.first_octets(accepted), masked=masked,
                                 max_length=max_length)
        assert run is not None
        starts, lengths, kinds, payloads, end = _reference(bytes(buf[:n]), pos, accepted, masked, max_length)
        assert (run.starts.tolist(), run.lengths.tolist(), run.kinds, list(run.payloads), run.end) == (
            starts, lengths, kinds, payloads, end)
        assert bytes(buf) == data  # the receive buffer is read, never written
        buf += b"x"  # and no export of it is left behind: it can still grow

    def test_empty_and_incomplete_buffers(self) -> None:
        table = framescan.first_octets([0x82])
        for buf in (bytearray(), bytearray(b"\x82"), bytearray(b"\x82\x85abcd"), bytearray(b"\x82\xfe\x00")):
            run = framescan.scan_run(buf, 0, len(buf), table, masked=True, max_length=65535)
            assert run is not None and run.end == 0 and run.payloads == () and run.kinds == b""

    def test_max_length_is_checked(self) -> None:
        with pytest.raises(ValueError, match="max_length"):
            framescan.scan_run(bytearray(b"\x82\x00"), 0, 2, framescan.first_octets([0x82]), masked=False,
                               max_length=70000)


def test_without_numba_there_is_no_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba is optional: without it `scan_run` is None and the caller keeps its own loop."""
    def no_numba(name: str) -> object:
        raise ImportError(name)

    monkeypatch.setattr(framescan, "_loaded", False)
    monkeypatch.setattr(framescan, "_kernels", None)
    monkeypatch.setattr(framescan.importlib, "import_module", no_numba)
    assert framescan.load_kernel() is None
    assert framescan.scan_run(bytearray(b"\x82\x80abcd"), 0, 6, framescan.first_octets([0x82]), masked=True) is None
