"""wire layer (see DESIGN.md): octets <-> frames, close payloads and HTTP/1.1 upgrade messages."""

__all__ = [
    "Close",
    "CloseCode",
    "Frame",
    "FrameHeader",
    "Headers",
    "Opcode",
    "Request",
    "Response",
]

from conformance.wire.close import Close, CloseCode
from conformance.wire.frames import Frame, FrameHeader, Opcode
from conformance.wire.http import Headers, Request, Response
