"""Whether an inflater last stopped between two DEFLATE blocks, read from zlib's own record.

Every return of zlib's inflate() (and zlib-ng's) writes a summary of where the decoder stands
into the `data_type` field of its z_stream (zlib.h, the Z_BLOCK paragraph): the number of bits
held from the last input octet, plus 64 inside the stream's final block, plus 128 when it stopped
waiting for the header of a new block. So 128 exactly means: the input so far ends between two
blocks, on an octet boundary, and the stream goes on. From there an empty final block with fixed
codes (03 00) ends the stream with nothing more written and nothing left over: what the codec's
copy probe (deflate.py, `_check_boundary`) proves by running it on a copy of the inflater.

Python's Decompress objects (stock zlib and zlib-ng alike) keep their z_stream right after the
object header and do not expose the field; it is read here with ctypes. The reading is trusted
only where a calibration proves it, once per process, for each Decompress type: on a message that
ends on a boundary it must read 128, on the same message cut short inside a block (where the
probe refuses) never 128, and inside a final block the 64 must show. Otherwise (another Python,
another layout, no ctypes) `proven_boundary` answers False and the caller runs its probe.

The answer only ever proves: True means the probe would accept. False proves nothing (an
inflater fed nothing since it was made, or called again with no input after it reached the
boundary, reads otherwise though it is at one); the caller then asks the probe, so together the
two accept exactly what the probe alone accepts.
"""

from __future__ import annotations

__all__ = ["AT_BOUNDARY", "boundary_view", "calibrated", "proven_boundary", "probe_accepts"]

import ctypes
import sys
import zlib
from types import ModuleType
from typing import Any

_zlib_ng: ModuleType | None
try:
    from zlib_ng import zlib_ng as _zlib_ng
except ImportError:  # pragma: no cover - an optional speed-up
    _zlib_ng = None

AT_BOUNDARY = 128  # data_type: waiting for a block header, no bits held, not in the final block
_IN_LAST = 64
_EMPTY_FINAL = b"\x03\x00"  # an empty block with fixed codes and BFINAL set
_TAIL = b"\x00\x00\xff\xff"
_ERRORS: tuple[type[Exception], ...] = (zlib.error,) if _zlib_ng is None else (zlib.error, _zlib_ng.error)


def _layout(avail: Any, counter: Any, checksum: Any) -> list[tuple[str, Any]]:
    """The fields of zlib's z_stream and zlib-ng's zng_stream, which differ only in these types."""
    return [("next_in", ctypes.c_void_p), ("avail_in", avail), ("total_in", counter),
            ("next_out", ctypes.c_void_p), ("avail_out", avail), ("total_out", counter),
            ("msg", ctypes.c_char_p), ("state", ctypes.c_void_p), ("zalloc", ctypes.c_void_p),
            ("zfree", ctypes.c_void_p), ("opaque", ctypes.c_void_p), ("data_type", ctypes.c_int),
            ("adler", checksum), ("reserved", ctypes.c_ulong)]


class _ZStream(ctypes.Structure):
    """zlib's z_stream (zlib.h): counters are uLong."""

    _fields_ = _layout(ctypes.c_uint, ctypes.c_ulong, ctypes.c_ulong)


class _ZngStream(ctypes.Structure):
    """zlib-ng's zng_stream (zlib-ng.h): counters are size_t, the checksum 32 bits."""

    _fields_ = _layout(ctypes.c_uint32, ctypes.c_size_t, ctypes.c_uint32)


def probe_accepts(d: Any) -> bool:
    """The reference: an empty final block, inflated by a copy of `d`, ends the stream cleanly."""
    probe = d.copy()
    try:
        extra = probe.decompress(_EMPTY_FINAL, 1)
    except _ERRORS:
        return False
    return not extra and probe.eof and not probe.unused_data


def _read(d: object, offset: int) -> int:
    return ctypes.c_int.from_address(id(d) + offset).value


def _sample(module: ModuleType) -> tuple[bytes, bytes]:
    """A message as a sender puts it on the wire (sync flush, 00 00 ff ff kept), dynamic and
    stored blocks inside, and a stream whose last block is final."""
    text = b"".join(b"%d: frame, mask, window; " % (i * i % 97) for i in range(120))
    noise = bytes((i * 73 + 41) % 251 for i in range(300))  # barely compressible: a stored block
    c = module.compressobj(6, zlib.DEFLATED, -15)
    message = c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH) + c.compress(noise) + c.flush(zlib.Z_SYNC_FLUSH)
    c = module.compressobj(6, zlib.DEFLATED, -15)
    final = c.compress(text) + c.flush(zlib.Z_FINISH)
    return message, final


def _proves(module: ModuleType, offset: int) -> bool:
    """Whether the int at `offset` in `module`'s Decompress objects behaves as data_type."""
    message, final = _sample(module)
    d = module.decompressobj(-15)
    d.decompress(message)
    if _read(d, offset) != AT_BOUNDARY or not probe_accepts(d):
        return False
    refused = 0
    for cut in range(1, len(message) - 4):
        d = module.decompressobj(-15)
        try:
            d.decompress(message[:cut] + _TAIL)
        except _ERRORS:
            continue
        accepts = probe_accepts(d)
        if _read(d, offset) == AT_BOUNDARY and not accepts:
            return False
        refused += not accepts
    d = module.decompressobj(-15)
    d.decompress(final[:-3])
    return refused > 0 and bool(_read(d, offset) & _IN_LAST) and not d.eof


def _offset(module: ModuleType) -> int | None:
    """Where data_type sits in `module`'s Decompress objects, if a calibration proves it."""
    kind = type(module.decompressobj(-15))
    for layout in (_ZStream, _ZngStream):
        offset: int = object.__basicsize__ + layout.data_type.offset
        if offset + ctypes.sizeof(ctypes.c_int) <= kind.__basicsize__ and _proves(module, offset):
            return offset
    return None


def _calibrate() -> dict[type, int]:
    found: dict[type, int] = {}
    if sys.implementation.name != "cpython":  # id() is an address only in CPython
        return found
    for module in (zlib, _zlib_ng):
        if module is not None:
            offset = _offset(module)
            if offset is not None:
                found[type(module.decompressobj(-15))] = offset
    return found


_offsets: dict[type, int] | None = None


def calibrated() -> dict[type, int]:
    """The Decompress types whose data_type is read, with its offset (calibrated on first use)."""
    global _offsets
    if _offsets is None:
        _offsets = _calibrate()
    return _offsets


def proven_boundary(d: object) -> bool:
    """True when `d`'s last inflate stopped between two blocks, on an octet boundary, outside a
    final block: the copy probe would then accept. False when that is not shown (ask the probe)."""
    offset = (_offsets if _offsets is not None else calibrated()).get(type(d))
    return offset is not None and ctypes.c_int.from_address(id(d) + offset).value == AT_BOUNDARY


def boundary_view(d: object) -> ctypes.c_int | None:
    """A view of `d`'s data_type (its `value` is read anew each time), or None where the reading
    is not calibrated. The view does not keep `d` alive: hold `d` as long as the view is read."""
    offset = (_offsets if _offsets is not None else calibrated()).get(type(d))
    return None if offset is None else ctypes.c_int.from_address(id(d) + offset)
