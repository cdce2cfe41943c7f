"""Frames on the wire (RFC 6455 §5.2): opcodes, the header codec, masking.

This module decodes and encodes; it does not judge. Any octets decode into a header (reserved
opcodes and bits included); whether the frame is allowed is the engine's question.
"""

from __future__ import annotations

__all__ = [
    "CONTROL_MAX_PAYLOAD",
    "Frame",
    "FrameHeader",
    "Opcode",
    "PayloadBuffer",
    "apply_mask",
    "parse_header",
    "serialize_fragments",
    "serialize_frame",
    "serialize_header",
    "unmask_payloads",
    "unmask_rows",
    "unmask_slice",
]

import dataclasses
import enum
import os
from collections.abc import Sequence

import numpy as np

# RFC 6455 §5.2: header bits of the first octet.
FIN = 0x80
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10
OPCODE_MASK = 0x0F
# RFC 6455 §5.2: second octet: MASK bit and 7-bit length; 126 and 127 announce longer forms.
MASK_BIT = 0x80
LEN7_MAX = 125
LEN16_MARK = 126
LEN64_MARK = 127
# RFC 6455 §5.5: control frames carry at most 125 octets.
CONTROL_MAX_PAYLOAD = 125


class Opcode(enum.IntEnum):
    """All sixteen opcodes of RFC 6455 §5.2 / §11.8; the reserved ones keep their number."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    RESERVED_3 = 0x3
    RESERVED_4 = 0x4
    RESERVED_5 = 0x5
    RESERVED_6 = 0x6
    RESERVED_7 = 0x7
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA
    RESERVED_B = 0xB
    RESERVED_C = 0xC
    RESERVED_D = 0xD
    RESERVED_E = 0xE
    RESERVED_F = 0xF

    @property
    def is_control(self) -> bool:
        """Opcodes 8-15 are control frames (RFC 6455 §5.5)."""
        return self >= 0x8

    @property
    def is_reserved(self) -> bool:
        return self in _RESERVED

    @classmethod
    def from_name(cls, name: str | int) -> Opcode:
        """`text`, `continuation`, `ping` ... or a number 0-15."""
        if isinstance(name, int):
            return cls(name)
        key = name.strip().lower()
        if key.isdigit():
            return cls(int(key))
        try:
            return _NAMES[key]
        except KeyError:
            raise ValueError(f"unknown opcode {name!r}") from None


_RESERVED = frozenset(range(3, 8)) | frozenset(range(0xB, 0x10))
_NAMES = {
    "continuation": Opcode.CONT, "cont": Opcode.CONT, "text": Opcode.TEXT,
    "binary": Opcode.BINARY, "close": Opcode.CLOSE, "ping": Opcode.PING, "pong": Opcode.PONG,
}
_OPCODES = tuple(Opcode(i) for i in range(16))


@dataclasses.dataclass(slots=True)
class Frame:
    """One frame as the application sees it: opcode, payload (unmasked) and the flag bits."""

    opcode: Opcode
    data: bytes = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    @property
    def rsv(self) -> tuple[bool, bool, bool]:
        return (self.rsv1, self.rsv2, self.rsv3)


@dataclasses.dataclass(slots=True, frozen=True)
class FrameHeader:
    """A decoded header: every field as sent, plus where the payload starts."""

    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    opcode: Opcode
    mask: bytes | None  # the 4-octet masking key, None when the MASK bit is clear
    length: int  # the declared payload length
    header_len: int  # octets of header, masking key included
    length_form: int  # 7, 16 or 64: which length encoding was used

    @property
    def minimal_length(self) -> bool:
        """RFC 6455 §5.2: the length must use the shortest form that holds it."""
        if self.length_form == 16:
            return self.length > LEN7_MAX
        if self.length_form == 64:
            return self.length > 0xFFFF
        return True


def parse_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> FrameHeader | None:
    """Decode the header at `buf[pos:]`, or None while it is incomplete.

    Never raises for any octets: a 64-bit length with its top bit set decodes as it is, and the
    engine rejects it (rule frame.length-msb).
    """
    avail = len(buf) - pos
    if avail < 2:
        return None
    b0 = buf[pos]
    b1 = buf[pos + 1]
    length = b1 & 0x7F
    header_len = 2
    form = 7
    if length == LEN16_MARK:
        header_len = 4
        form = 16
        if avail < header_len:
            return None
        length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
    elif length == LEN64_MARK:
        header_len = 10
        form = 64
        if avail < header_len:
            return None
        length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
    mask = None
    if b1 & MASK_BIT:
        if avail < header_len + 4:
            return None
        mask = bytes(buf[pos + header_len : pos + header_len + 4])
        header_len += 4
    return FrameHeader(
        bool(b0 & FIN), bool(b0 & RSV1), bool(b0 & RSV2), bool(b0 & RSV3),
        _OPCODES[b0 & OPCODE_MASK], mask, length, header_len, form,
    )


def apply_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR `data` with the repeating 4-octet `mask` (RFC 6455 §5.3); masking and unmasking alike.

    Works on whole machine integers: one big-int XOR instead of a Python loop per octet.
    """
    n = len(data)
    if n == 0:
        return b""
    if len(mask) != 4:
        raise ValueError("a masking key has exactly 4 octets")
    if n >= _NUMPY_FROM:
        return _apply_mask_numpy(data, mask, n)
    key = mask * ((n >> 2) + 1)
    if len(key) != n:
        key = key[:n]
    x = int.from_bytes(data, "little") ^ int.from_bytes(key, "little")
    return x.to_bytes(n, "little")


_J4 = np.arange(4)[None, :]
_ZERO_WORD = np.zeros(1, dtype=np.uint32)
# Below this size one big-int XOR is faster than setting up numpy arrays.
_NUMPY_FROM = 2048


def _apply_mask_numpy(data: bytes | bytearray | memoryview, mask: bytes, n: int) -> bytes:
    """XOR eight octets at a time with numpy; the last n % 8 octets by big-int XOR."""
    words = n >> 3
    out = bytearray(n)
    np.bitwise_xor(
        np.frombuffer(data, dtype=np.uint64, count=words),
        np.frombuffer(mask * 2, dtype=np.uint64)[0],
        out=np.frombuffer(out, dtype=np.uint64, count=words),
    )
    done = words << 3
    if done != n:
        out[done:] = apply_mask(memoryview(data)[done:], mask)  # n % 8 < 8: the small path
    return bytes(out)


def unmask_slice(buf: bytearray, start: int, end: int, mask: bytes) -> bytes:
    """The payload `buf[start:end]` unmasked (RFC 6455 §5.3), as bytes; `buf` is scratch after.

    A large payload is unmasked in place, eight octets at a time, and copied out once: no
    zeroed output buffer, no second copy. `buf` must be a bytearray the caller drops the
    payload's octets from afterwards (the engine's receive buffer).
    """
    n = end - start
    if n < _NUMPY_FROM:
        return apply_mask(memoryview(buf)[start:end], mask)
    words = n >> 3
    view = np.frombuffer(buf, dtype=np.uint64, count=words, offset=start)
    np.bitwise_xor(view, np.frombuffer(mask * 2, dtype=np.uint64)[0], out=view)
    del view  # release the export, so that the caller can resize `buf`
    done = start + (words << 3)
    if done != end:
        buf[done:end] = apply_mask(memoryview(buf)[done:end], mask)  # a multiple of 4 in: the key starts over
    with memoryview(buf) as mv:
        return bytes(mv[start:end])


_BLOCK = 64 * 1024  # octets unmasked per numpy call by PayloadBuffer
_FEW_FRAMES = 4  # up to this many frames, `unmask_payloads` unmasks each on its own (measured: 1-10 us)


class PayloadBuffer:
    """A long payload gathered as its octets arrive, unmasked on the way in (RFC 6455 §5.3).

    Each piece is XORed from the receive buffer straight into its place in one array (no
    growing buffer, no second pass over the whole payload); `take` copies the payload out once,
    as bytes. The array may be a scratch array kept from an earlier payload (`storage` gives it
    back for the next one), so that a connection receiving big frames one after the other does
    not fault in fresh memory for each.
    """

    __slots__ = ("_out", "_pattern", "done", "length", "storage")

    def __init__(self, length: int, mask: bytes | None, scratch: np.ndarray | None = None) -> None:
        if scratch is None or len(scratch) < length:
            scratch = np.empty(length, dtype=np.uint8)
        self.storage = scratch
        self._out = scratch[:length]
        self.length = length
        self.done = 0
        self._pattern = None
        if mask is not None:  # the key repeated over a block, plus 3 octets to start at any phase
            self._pattern = np.tile(np.frombuffer(mask, dtype=np.uint8), _BLOCK // 4 + 1)

    @property
    def complete(self) -> bool:
        return self.done == self.length

    def feed(self, buf: bytes | bytearray, start: int, end: int) -> int:
        """Take the octets `buf[start:end]` up to the payload's end; how many were taken."""
        count = min(end - start, self.length - self.done)
        if count <= 0:
            return 0
        src = np.frombuffer(buf, dtype=np.uint8, count=count, offset=start)
        out, done, pattern = self._out, self.done, self._pattern
        if pattern is None:
            out[done : done + count] = src
        else:
            for i in range(0, count, _BLOCK):
                k = min(_BLOCK, count - i)
                phase = (done + i) & 3
                np.bitwise_xor(src[i : i + k], pattern[phase : phase + k], out=out[done + i : done + i + k])
        del src  # release the export, so that the caller can resize `buf`
        self.done = done + count
        return count

    def view(self, start: int, end: int) -> memoryview:
        """The unmasked octets `start:end` of the payload (valid until the next `feed`)."""
        return self._out[start:end].data

    def take(self) -> bytes:
        """The whole payload, as bytes."""
        return self._out.tobytes()


def unmask_payloads(buf: bytes | bytearray, starts: Sequence[int], lengths: Sequence[int]) -> list[bytes]:
    """The payloads of consecutive masked frames in `buf`, unmasked together (RFC 6455 §5.3).

    Payload i starts at `starts[i]` with its 4-octet key right before it. Two payloads are at
    least 6 octets apart (a header and a key between them), so no aligned 4-octet word of `buf`
    holds octets of two payloads; and in aligned words, the key of a payload starting at s is a
    single word, the key rotated by s % 4. So the key stream of the whole run is one np.repeat of
    one word per frame (from the word of its first payload octet up to the next frame's), and the
    run is unmasked by one XOR of words: a few passes over the octets, whatever the sizes.
    """
    count = len(starts)
    if count == 0:
        return []
    if count <= _FEW_FRAMES:  # setting up the arrays costs ~15 us: a few frames go one by one
        with memoryview(buf) as view:
            return [apply_mask(view[a : a + k], bytes(view[a - 4 : a])) for a, k in zip(starts, lengths, strict=True)]
    base = ((starts[0] - 4) >> 2) << 2  # the first key included
    top_word = max((starts[-1] + lengths[-1] + 3) >> 2, (starts[-1] >> 2) + 1)
    with memoryview(buf) as view:
        region = bytes(view[base : top_word << 2])
    region += bytes((top_word << 2) - base - len(region))  # zeros up to the last word
    st = np.asarray(starts, dtype=np.int64)[:, None]
    # word octet j of payload i is key octet (j - start) % 4: gathered rotated, one word a frame
    words = np.frombuffer(region, dtype=np.uint8)[st - 4 - base + ((_J4 - st) & 3)].view(np.uint32)
    first = np.empty(count + 1, dtype=np.int64)  # where each key word starts (a 0 word first)
    first[0] = 0
    first[1:] = st[:, 0] >> 2
    first[1:] -= base >> 2
    stream = np.repeat(np.concatenate((_ZERO_WORD, words[:, 0])),
                       np.diff(first, append=top_word - (base >> 2)))
    data = (np.frombuffer(region, dtype=np.uint32) ^ stream).tobytes()
    return [data[a - base : a - base + k] for a, k in zip(starts, lengths, strict=True)]


def unmask_rows(rows: np.ndarray, start: int, length: int) -> bytes:
    """The payloads of frames of one size, one frame a row of `rows`, unmasked and joined.

    Row i holds a frame: its 4-octet key in columns `start - 4` to `start`, its payload of
    `length` octets from column `start`. Every payload starts on the key's first octet (§5.3), so
    each row is one XOR: its whole 4-octet words with the key read as one word, the last
    `length % 4` octets with the key's first octets. The result is the payloads in row order.
    """
    count = len(rows)
    out = np.empty((count, length), dtype=np.uint8)
    keys = np.ascontiguousarray(rows[:, start - 4 : start])
    whole = length & ~3
    if whole:
        np.bitwise_xor(rows[:, start : start + whole].view(np.uint32), keys.view(np.uint32),
                       out=out[:, :whole].view(np.uint32))
    if whole != length:
        np.bitwise_xor(rows[:, start + whole : start + length], keys[:, : length - whole],
                       out=out[:, whole:])
    return out.tobytes()


def serialize_header(
    *,
    opcode: int,
    length: int,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    length_form: int | None = None,
) -> bytes:
    """Encode a header. `length_form` (7, 16, 64) forces a length encoding, minimal or not."""
    b0 = (FIN if fin else 0) | (RSV1 if rsv1 else 0) | (RSV2 if rsv2 else 0)
    b0 |= (RSV3 if rsv3 else 0) | (opcode & OPCODE_MASK)
    mbit = MASK_BIT if mask is not None else 0
    form = length_form or (7 if length <= LEN7_MAX else 16 if length <= 0xFFFF else 64)
    if form == 7:
        if length > LEN7_MAX:
            raise ValueError(f"length {length} does not fit the 7-bit form")
        head = bytes((b0, mbit | length))
    elif form == 16:
        if length > 0xFFFF:
            raise ValueError(f"length {length} does not fit the 16-bit form")
        head = bytes((b0, mbit | LEN16_MARK)) + length.to_bytes(2, "big")
    elif form == 64:
        head = bytes((b0, mbit | LEN64_MARK)) + length.to_bytes(8, "big")
    else:
        raise ValueError(f"length form must be 7, 16 or 64, not {form}")
    return head + mask if mask is not None else head


def serialize_frame(
    frame: Frame,
    *,
    mask: bytes | bool | None = None,
    length_form: int | None = None,
    declared_length: int | None = None,
) -> bytes:
    """Encode a frame. `mask=True` draws a random key; bytes give the key; None/False: unmasked.

    `declared_length` writes a length that differs from the payload (for test traffic that lies).
    """
    key: bytes | None
    if mask is True:
        key = os.urandom(4)
    elif mask is None or mask is False:
        key = None
    else:
        key = bytes(mask)
    data = frame.data
    head = serialize_header(
        opcode=frame.opcode, length=len(data) if declared_length is None else declared_length,
        fin=frame.fin, rsv1=frame.rsv1, rsv2=frame.rsv2, rsv3=frame.rsv3, mask=key,
        length_form=length_form,
    )
    return head + (apply_mask(data, key) if key is not None else data)


def serialize_fragments(
    payload: bytes | bytearray | memoryview,
    fragment: int,
    *,
    opcode: int,
    rsv1: bool = False,
    keys: bytes | None = None,
) -> bytes:
    """A whole message as frames of `fragment` payload octets (the last one may be shorter), in
    one write: the first frame has `opcode` and `rsv1`, the others are continuations, the last
    has FIN (RFC 6455 §5.4). `keys` holds the frames' 4-octet masking keys in order (4 octets a
    frame), or None for unmasked frames. The octets are those of serialize_header + apply_mask
    frame by frame with the same keys.

    All frames but the last have the same length, so they are the rows of one matrix: the header
    is written once into every row, the keys go in as a column, and the payload is masked by one
    XOR of the whole matrix; only the last frame is encoded on its own.
    """
    if fragment < 1:
        raise ValueError(f"a fragment holds at least 1 octet, not {fragment}")
    rows = max(0, -(-len(payload) // fragment) - 1)  # the frames of full length: all but the last
    if keys is not None and len(keys) != 4 * (rows + 1):
        raise ValueError(f"{rows + 1} frames need {4 * (rows + 1)} octets of masking keys, not {len(keys)}")
    last_key = keys[-4:] if keys is not None else None
    tail = payload[rows * fragment :]
    last = serialize_header(opcode=opcode if rows == 0 else Opcode.CONT, length=len(tail), fin=True,
                            rsv1=rsv1 and rows == 0, mask=last_key)
    last += apply_mask(tail, last_key) if last_key is not None else tail
    if rows == 0:
        return last
    head = serialize_header(opcode=Opcode.CONT, length=fragment, fin=False,
                            mask=None if keys is None else bytes(4))
    width = len(head) + fragment
    out = np.empty(rows * width + len(last), dtype=np.uint8)
    grid = out[: rows * width].reshape(rows, width)
    grid[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    grid[0, 0] = (RSV1 if rsv1 else 0) | (opcode & OPCODE_MASK)  # the first frame: no FIN, its opcode
    body = np.frombuffer(payload, dtype=np.uint8, count=rows * fragment).reshape(rows, fragment)
    if keys is None:
        grid[:, len(head) :] = body
    else:
        key_rows = np.frombuffer(keys, dtype=np.uint8, count=4 * rows).reshape(rows, 4)
        grid[:, len(head) - 4 : len(head)] = key_rows
        grid[:, len(head) :] = _mask_rows(body, key_rows)
    out[rows * width :] = np.frombuffer(last, dtype=np.uint8)
    return out.tobytes()


def _mask_rows(body: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Row i of `body` XOR-ed with the repeated key row i (RFC 6455 §5.3): whole 4-octet words
    when the rows are whole words, the keys tiled across the rows otherwise."""
    if body.shape[1] % 4 == 0:
        return (body.view(np.uint32) ^ keys.view(np.uint32)).view(np.uint8)
    stream = np.tile(keys, (1, -(-body.shape[1] // 4)))[:, : body.shape[1]]
    out: np.ndarray = np.bitwise_xor(body, stream)
    return out
