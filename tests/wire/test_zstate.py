"""conformance/wire/zstate.py: zlib's record of where inflate stopped, read only where calibrated,
proves no more than the copy probe does (RFC 7692 §7.2.1: a message ends between two blocks)."""

from __future__ import annotations

import ctypes
import sys
import zlib
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.wire import zstate

zlib_ng = pytest.importorskip("zlib_ng.zlib_ng")
MODULES = [zlib, zlib_ng]
TAIL = b"\x00\x00\xff\xff"
cpython = pytest.mark.skipif(sys.implementation.name != "cpython", reason="the reading is CPython's")


def cut_bits(data: bytes, bits: int) -> bytes:
    """The first `bits` bits of `data` (DEFLATE fills each octet from its low bit), zeros after."""
    whole, rest = divmod(bits, 8)
    if not rest:
        return data[:whole]
    return data[:whole] + bytes([data[whole] & ((1 << rest) - 1)])


def sync(module: ModuleType, bits: int, *parts: bytes, flush: int = zlib.Z_SYNC_FLUSH) -> bytes:
    c = module.compressobj(6, zlib.DEFLATED, -bits)
    return b"".join(c.compress(p) + c.flush(flush) for p in parts)


def inflater(module: ModuleType, bits: int, data: bytes) -> object | None:
    d = module.decompressobj(-bits)
    try:
        d.decompress(data)
    except (zlib.error, zlib_ng.error):
        return None
    return d


@cpython
class TestCalibration:
    def test_both_decompress_types_are_read(self) -> None:
        assert {type(m.decompressobj(-15)) for m in MODULES} <= set(zstate.calibrated())

    @pytest.mark.parametrize("module", MODULES, ids=["zlib", "zlib_ng"])
    def test_no_other_field_of_the_object_passes(self, module: ModuleType) -> None:
        """The calibration tells data_type from every other int inside the object."""
        right = zstate.calibrated()[type(module.decompressobj(-15))]
        size = type(module.decompressobj(-15)).__basicsize__
        passing = [at for at in range(object.__basicsize__, size - 3, 4) if zstate._proves(module, at)]
        assert passing == [right]

    def test_an_uncalibrated_type_proves_nothing(self) -> None:
        class Lookalike:
            pass

        assert zstate.boundary_view(Lookalike()) is None and not zstate.proven_boundary(Lookalike())

    def test_off_cpython_nothing_is_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys.implementation, "name", "pypy")
        assert zstate._calibrate() == {}


@cpython
class TestSection7_2_1Boundary:
    @pytest.mark.parametrize("module", MODULES, ids=["zlib", "zlib_ng"])
    @pytest.mark.parametrize("bits", range(9, 16))
    def test_a_message_as_sent_is_proven(self, module: ModuleType, bits: int) -> None:
        d = inflater(module, bits, sync(module, bits, b"Hello, " * 300, bytes(range(256))))
        assert d is not None and zstate.proven_boundary(d) and zstate.probe_accepts(d)

    def test_an_inflater_called_again_with_nothing_proves_nothing(self) -> None:
        """Past a boundary, an inflate call with no input forgets it (zlib marks the header as
        started): the record then proves nothing and the probe must decide (it accepts)."""
        d = zlib.decompressobj(-15)
        d.decompress(sync(zlib, 15, b"x" * 64), 1)  # output capped: input left, then taken with nothing more
        while d.unconsumed_tail:
            d.decompress(d.unconsumed_tail, 1)
        assert zstate.proven_boundary(d)
        d.decompress(b"", 1)
        assert not zstate.proven_boundary(d) and zstate.probe_accepts(d)

    @pytest.mark.parametrize("module", MODULES, ids=["zlib", "zlib_ng"])
    def test_a_final_block_is_never_a_boundary(self, module: ModuleType) -> None:
        """Inside a final block or past its end (the codec relies on the latter: a proven
        boundary needs no look at `eof`)."""
        data = sync(module, 15, b"final " * 50, flush=zlib.Z_FINISH) + b"more"
        for cut in range(1, len(data) + 1):
            d = inflater(module, 15, data[:cut])
            assert d is None or not zstate.proven_boundary(d)
        assert d is not None and d.eof  # type: ignore[attr-defined]

    @given(st.sampled_from(MODULES), st.integers(9, 15), st.lists(st.binary(max_size=600), min_size=1, max_size=3),
           st.sampled_from([zlib.Z_SYNC_FLUSH, zlib.Z_FULL_FLUSH]), st.integers(0, 1 << 14), st.booleans())
    @settings(max_examples=300, deadline=None)
    def test_proven_implies_the_probe_accepts(self, module: ModuleType, bits: int, parts: list[bytes],
                                              flush: int, cut: int, tail: bool) -> None:
        """Any message cut at any bit, with and without the tail a receiver appends."""
        data = sync(module, bits, *parts, flush=flush)
        data = cut_bits(data, cut % (8 * len(data) + 1))
        d = inflater(module, bits, data + TAIL if tail else data)
        if d is not None and zstate.proven_boundary(d):
            assert zstate.probe_accepts(d)

    def test_a_view_reads_the_field_anew(self) -> None:
        d = zlib_ng.decompressobj(-15)
        view = zstate.boundary_view(d)
        assert isinstance(view, ctypes.c_int)
        d.decompress(sync(zlib_ng, 15, b"abc" * 99))
        assert view.value == zstate.AT_BOUNDARY
        d.decompress(b"\x04")  # a dynamic block's header begun
        assert view.value != zstate.AT_BOUNDARY
