"""A compiled scan over a run of frames (RFC 6455 §5.2), with numba when it is installed.

A receive buffer full of small frames is read one header after the other: where the next frame
starts depends on the length octet of the one before, so the walk is sequential and, in Python,
costs more than the rest of the frame's handling. `scan_run` walks it in machine code: from `pos`,
while the frame there is complete, has an accepted first octet, the MASK bit asked for and a
length up to `max_length` (7-bit form; with `max_length` above 125 also the minimal 16-bit form),
it records where the payload starts, its length and the first octet, and copies the payload,
unmasked (§5.3), to the end of one output buffer. The payloads come out as bytes objects in one
C call (`struct.unpack_from` with a format the scan writes beside them).

This module decodes; it does not judge: which first octets are accepted (and so which rules the
caller has already decided) is the caller's table. numba is imported only when the first scan
is asked for, because importing it costs about 0.3 s; without numba, `scan_run` is None and the
caller keeps its Python loop.
"""

from __future__ import annotations

__all__ = ["Run", "first_octets", "kernel_loaded", "load_kernel", "scan_run"]

import dataclasses
import importlib
import struct
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

# RFC 6455 §5.2: the 7-bit length values 126 and 127 announce a 16- or 64-bit length.
_LEN7_MAX = 125
_LEN16 = 126
_LEN16_MAX = 0xFFFF
_FORMAT_WIDTH = 8  # "8x65535s": the longest format items the scan writes for one frame


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """Consecutive frames found by `scan_run`; `end` is the position after the last one."""

    starts: np.ndarray  # where each payload starts in the buffer (int64)
    lengths: np.ndarray  # each payload's length (int64)
    kinds: bytes  # each frame's first octet (FIN, RSV bits, opcode)
    payloads: tuple[bytes, ...]  # each payload, unmasked
    end: int


def first_octets(accepted: Iterable[int]) -> np.ndarray:
    """The lookup table `scan_run` takes: 1 for each first octet a run may contain."""
    table = np.zeros(256, dtype=np.uint8)
    table[list(accepted)] = 1
    return table


def _headers(buf: Any, pos: int, n: int, first_ok: Any, mask_bit: int, max_length: int,
             starts: Any, lengths: Any, kinds: Any) -> tuple[int, int]:
    """Kernel 1, the walk: from `pos`, while each frame qualifies (see the module docstring),
    its payload's start and length and its first octet. Returns (frames, position after them).
    Written in the subset of Python that numba compiles (plain loops over arrays)."""
    count = 0
    key_len = 4 if mask_bit else 0
    cap = starts.shape[0]
    while count < cap and n - pos >= 2:
        b0 = buf[pos]
        length = buf[pos + 1] ^ mask_bit  # above 127 when the MASK bit is not the one asked for
        start = pos + 2 + key_len
        if length == _LEN16 and max_length > _LEN7_MAX:
            if n - pos < 4:
                break
            length = (np.int64(buf[pos + 2]) << 8) | buf[pos + 3]
            if length <= _LEN7_MAX:
                break  # not the minimal form: the caller's general path reports it
            start += 2
        elif length > _LEN7_MAX:
            break
        if length > max_length or first_ok[b0] == 0 or start + length > n:
            break
        starts[count] = start
        lengths[count] = length
        kinds[count] = b0
        count += 1
        pos = start + length
    return count, pos


def _payloads(buf: Any, base: int, count: int, starts: Any, lengths: Any, masked: bool, words: Any,
              fmt: Any) -> int:
    """Kernel 2: unmask the payloads in `words` (a copy of the run's octets from `base`) and
    write the struct format that picks them out; returns the format's length.

    Each payload is XORed a 4-octet word at a time with its key rotated to the words'
    alignment: two payloads are at least 6 octets apart, so no word holds octets of two of them
    (octets of a header sharing a word with a payload are garbled, and never read). The format
    is "<gap>x<length>s" per frame: the octets skipped, then the payload as one bytes object.
    """
    if masked:
        for i in range(count):
            start = starts[i]
            rotate = (base - start) & 3  # word octet j is key octet (j + rotate) % 4
            key = np.uint32(0)
            for j in range(4):
                key |= np.uint32(buf[start - 4 + ((j + rotate) & 3)]) << np.uint32(8 * j)
            # unsigned indices: no check for negative ones in the loop (numba's wraparound)
            for w in range(np.uint64((start - base) >> 2), np.uint64((start + lengths[i] - base + 3) >> 2)):
                words[w] ^= key
    f = 0
    prev = base
    for i in range(count):
        for item in range(2):
            value = starts[i] - prev if item == 0 else lengths[i]
            digits = 1
            scale = 10
            while value >= scale:
                digits += 1
                scale *= 10
            for d in range(digits - 1, -1, -1):
                fmt[f + d] = 48 + value % 10  # ASCII digits
                value //= 10
            fmt[f + digits] = 120 if item == 0 else 115  # "x", "s"
            f += digits + 1
        prev = starts[i] + lengths[i]
    return f


_kernels: tuple[Callable[..., tuple[int, int]], Callable[..., int]] | None = None
_loaded = False


def load_kernel() -> tuple[Callable[..., tuple[int, int]], Callable[..., int]] | None:
    """The two compiled kernels (compiled once, cached on disk by numba), or None without numba."""
    global _kernels, _loaded
    if not _loaded:
        _loaded = True
        try:
            numba = importlib.import_module("numba")
        except ImportError:
            return None
        jit = numba.njit(cache=True, nogil=True, boundscheck=False)
        _kernels = (jit(_headers), jit(_payloads))
    return _kernels


def kernel_loaded() -> bool:
    """True once the kernels are compiled and loaded (never imports numba itself)."""
    return _kernels is not None


def scan_run(buf: bytearray, pos: int, n: int, first_ok: np.ndarray, *, masked: bool,
             max_length: int = _LEN7_MAX) -> Run | None:
    """The frames from `pos` (see the module docstring), or None when numba is not installed."""
    kernels = load_kernel()
    if kernels is None:
        return None
    if not 0 <= max_length <= _LEN16_MAX:
        raise ValueError(f"max_length must be 0-65535, not {max_length}")
    cap = (n - pos) // (6 if masked else 2) + 1
    view = np.frombuffer(buf, dtype=np.uint8, count=n)
    starts = np.empty(cap, dtype=np.int64)
    lengths = np.empty(cap, dtype=np.int64)
    kinds = np.empty(cap, dtype=np.uint8)
    count, end = kernels[0](view, pos, n, first_ok, 0x80 if masked else 0, max_length, starts, lengths, kinds)
    if not count:
        del view  # release the export, so that the caller can resize `buf`
        return Run(starts[:0], lengths[:0], b"", (), end)
    words = np.empty(((end - pos) >> 2) + 2 if masked else 1, dtype=np.uint32)
    if masked:
        words.view(np.uint8)[: end - pos] = view[pos:end]
    fmt = np.empty(count * _FORMAT_WIDTH, dtype=np.uint8)
    flen = kernels[1](view, pos, count, starts, lengths, masked, words, fmt)
    del view
    payloads = struct.unpack_from(fmt[:flen].tobytes(), words.data if masked else buf, 0 if masked else pos)
    return Run(starts[:count], lengths[:count], kinds[:count].tobytes(), payloads, end)
