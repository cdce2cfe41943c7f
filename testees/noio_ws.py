"""A stand-in for noio_ws (not on the package index), with its documented API, so the README's
noio_ws adapter can be run as written.

noio_ws is a frame-level sans-IO library: `Connection(role)`, `recv(bytes)` to feed it,
`next_event()` giving one `Message` per received frame (or `Information.NEED_DATA`), and
`send(Data)` returning a frame's octets. Like the library it stands for, it frames and unmasks and
nothing more: no opening handshake, no UTF-8 or protocol checks, no automatic replies. Its frames
come from conformance.wire.frames.
"""

from __future__ import annotations

__all__ = ["Connection", "Data", "Frame", "Information", "Message"]

import datetime
import enum
import os
from typing import Any

from conformance.wire.frames import Frame as _WireFrame
from conformance.wire.frames import Opcode, apply_mask, parse_header, serialize_frame

_NAMES = {"continue": Opcode.CONT, "text": Opcode.TEXT, "binary": Opcode.BINARY, "close": Opcode.CLOSE,
          "ping": Opcode.PING, "pong": Opcode.PONG}


class Information(enum.Enum):
    NEED_DATA = "NEED_DATA"


class Data:
    """A frame to send: payload (str or bytes), opcode name, fin, close status code, rsv bits."""

    def __init__(self, data: str | bytes, type: str, fin: bool = True, status_code: int | None = None,
                 rsv_1: int | None = None, rsv_2: int | None = None, rsv_3: int | None = None) -> None:
        self.data, self.type, self.fin, self.status_code = data, type, fin, status_code
        self.rsv = (bool(rsv_1), bool(rsv_2), bool(rsv_3))


Frame = Data  # the older documentation's name for the same class


class Message:
    """One received frame: its payload, its opcode name and its reserved bits as [int, int, int]."""

    def __init__(self, message: str | bytes, type: str, reserved: list[int]) -> None:
        self.message, self.type, self.reserved = message, type, reserved
        self.time = datetime.datetime.now(datetime.UTC)


class Connection:
    def __init__(self, role: str, opcode_non_control_mod: dict[Any, Any] | None = None,
                 opcode_control_mod: dict[Any, Any] | None = None) -> None:
        if role not in ("CLIENT", "SERVER"):
            raise ValueError("role must be 'CLIENT' or 'SERVER'")
        self.role = role
        self._names = {int(op): name for name, op in _NAMES.items()}
        for mod in (opcode_non_control_mod or {}, opcode_control_mod or {}):
            for k, v in mod.items():
                code, name = (k, v) if isinstance(k, int) else (v, k)
                self._names[int(code)] = str(name)
        self._buf = bytearray()

    def recv(self, bytechunk: bytes) -> None:
        self._buf += bytechunk

    def next_event(self) -> Message | Information:
        h = parse_header(self._buf)
        if h is None or len(self._buf) < h.header_len + h.length:
            return Information.NEED_DATA
        payload = bytes(self._buf[h.header_len : h.header_len + h.length])
        del self._buf[: h.header_len + h.length]
        if h.mask is not None:
            payload = apply_mask(payload, h.mask)
        name = self._names.get(int(h.opcode), str(int(h.opcode)))
        message: str | bytes = payload
        if name == "text":
            try:
                message = payload.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return Message(message, name, [int(h.rsv1), int(h.rsv2), int(h.rsv3)])

    def send(self, data: Data) -> bytes:
        codes = {name: code for code, name in self._names.items()}
        payload = data.data.encode("utf-8") if isinstance(data.data, str) else bytes(data.data)
        if data.type == "close" and data.status_code is not None:
            payload = data.status_code.to_bytes(2, "big") + payload
        frame = _WireFrame(Opcode(codes[data.type]), payload, data.fin, *data.rsv)
        return serialize_frame(frame, mask=os.urandom(4) if self.role == "CLIENT" else None)
