"""permessage-deflate (RFC 7692): negotiated parameters and the per-message codec.

Decoding is bounded: a message inflates in chunks and stops at `max_message` octets, so a deflate
bomb costs little memory. Compression uses zlib, whose raw-deflate mode cannot use an 8-bit
window: when our side is limited to 8 bits we emit stored (uncompressed) deflate blocks, which
contain no back-references at all and so respect any window (RFC 7692 §7.1.2 bounds the window,
not the choice of block type).
"""

from __future__ import annotations

__all__ = ["DeflateCodec", "DeflateDataError", "DeflateParams", "DeflateTooBigError"]

import dataclasses
import zlib

from conformance.errors import WireError

_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1: removed by the sender, appended by the receiver
_CHUNK = 64 * 1024
_STRICT_STEP = 64


class DeflateDataError(WireError):
    """A compressed payload does not inflate. `hint` is "window" or "context" when zlib saw a
    back-reference beyond the allowed history: a wider window or a kept context than negotiated."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class DeflateTooBigError(WireError):
    """The inflated message would exceed the limit."""


@dataclasses.dataclass(frozen=True)
class DeflateParams:
    """What was negotiated (RFC 7692 §7.1): per side, context takeover and window bits."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None  # None: 15
    client_max_window_bits: int | bool | None = None  # True: offered without a value

    def to_header_params(self) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        if self.server_no_context_takeover:
            out.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            out.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            out.append(("server_max_window_bits", str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            out.append(("client_max_window_bits", None))
        elif self.client_max_window_bits:
            out.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return out

    def header_value(self) -> str:
        return "; ".join(["permessage-deflate", *(k if v is None else f"{k}={v}" for k, v in self.to_header_params())])

    def window(self, side: str) -> int:
        bits = self.server_max_window_bits if side == "server" else self.client_max_window_bits
        return bits if isinstance(bits, int) and not isinstance(bits, bool) else 15

    def no_takeover(self, side: str) -> bool:
        return self.server_no_context_takeover if side == "server" else self.client_no_context_takeover


class DeflateCodec:
    """Compress what `role` sends and inflate what its peer sends, as `params` say."""

    def __init__(self, *, role: str, params: DeflateParams, max_message: int | None = None, level: int = 6) -> None:
        if role not in ("client", "server"):
            raise ValueError("role is client or server")
        peer = "server" if role == "client" else "client"
        self.role = role
        self.params = params
        self.max_message = max_message
        self.level = level
        own = params.window(role)
        self._out_bits = max(9, own)
        if own < 9:
            self.level = 0  # stored blocks: no back-references, valid for an 8-bit window
        self._out_reset = params.no_takeover(role)
        self._in_bits = params.window(peer)
        self._in_reset = params.no_takeover(peer)
        self._compressor = self._new_compressor()
        self._decompressor = zlib.decompressobj(-self._in_bits)
        # zlib only rejects a back-reference beyond the history it holds plus this call's output;
        # inflating a restricted window in small steps makes a too-wide window show (RFC 7692 §7.1.2):
        # only distances less than _STRICT_STEP octets past the window can go unnoticed.
        self._step = _STRICT_STEP if self._in_bits < 15 else _CHUNK
        self._inflated = 0

    def _new_compressor(self) -> zlib._Compress:
        return zlib.compressobj(self.level, zlib.DEFLATED, -self._out_bits, 8)

    def encode(self, data: bytes, fin: bool) -> bytes:
        """Compress one frame's worth of a message; the last frame drops the 00 00 ff ff tail."""
        out = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        if fin:
            if out.endswith(_TAIL):
                out = out[:-4]
            if self._out_reset:
                self._compressor = self._new_compressor()
        return out

    def decode(self, payload: bytes, fin: bool) -> bytes:
        """Inflate one frame of a compressed message; bounded by `max_message` for the whole message."""
        data = payload + _TAIL if fin else payload
        d = self._decompressor
        limit = self.max_message
        out: list[bytes] = []
        try:
            while data:
                room = self._step if limit is None else min(self._step, limit - self._inflated + 1)
                chunk = d.decompress(data, max(room, 1))
                self._inflated += len(chunk)
                if limit is not None and self._inflated > limit:
                    raise DeflateTooBigError(f"the message inflates to more than {limit} octets")
                out.append(chunk)
                data = d.unconsumed_tail
        except zlib.error as exc:
            raise DeflateDataError(f"the payload does not inflate: {exc}", self._hint(str(exc), payload)) from None
        if fin:
            self._inflated = 0
            if self._in_reset:
                self._decompressor = zlib.decompressobj(-self._in_bits)
        return b"".join(out)

    def _hint(self, error: str, payload: bytes) -> str | None:
        """Which agreement a too-far back-reference broke: the window, or no_context_takeover."""
        if "too far back" not in error:
            return None
        if self._in_bits < 15:
            try:
                zlib.decompressobj(-15).decompress(payload + _TAIL)
            except zlib.error:
                pass
            else:
                return "window"  # fine with a full window: the peer's window was too wide
        return "context" if self._in_reset else "window" if self._in_bits < 15 else None
