"""Close frame payloads (RFC 6455 §5.5.1, §7.4): codes, reasons, and which codes may be sent.

Decoding here never judges: `parse_close` splits a payload into code and reason octets; whether
the code is allowed and the reason is UTF-8 is checked by the engine with the functions below.
"""

from __future__ import annotations

__all__ = [
    "LAST_DEFINED_CODE",
    "Close",
    "CloseCode",
    "close_code_valid",
    "parse_close",
    "serialize_close",
]

import dataclasses
import enum


class CloseCode(enum.IntEnum):
    """Codes of RFC 6455 §7.4.1 and the IANA WebSocket Close Code Number Registry."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved
    NO_STATUS_RCVD = 1005  # never on the wire: "no code was present"
    ABNORMAL_CLOSURE = 1006  # never on the wire: "the connection dropped without a close frame"
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never on the wire


# RFC 6455 §7.4.1/§7.4.2 and the IANA registry: what an endpoint may put in a close frame.
# 1000-2999 belong to the protocol: only the registered, sendable codes are valid.
# 3000-3999 are registered by libraries and frameworks, 4000-4999 private: all valid.
# 0-999 are unused and 5000 and above undefined: invalid.
_SENDABLE_PROTOCOL_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
LAST_DEFINED_CODE = 4999  # §7.4.2's last range ends here; 5000-65535 is defined nowhere
_APPLICATION_RANGE = range(3000, LAST_DEFINED_CODE + 1)


def close_code_valid(code: int) -> bool:
    """Whether `code` may appear in a close frame (RFC 6455 §7.4)."""
    return code in _SENDABLE_PROTOCOL_CODES or code in _APPLICATION_RANGE


@dataclasses.dataclass(frozen=True, slots=True)
class Close:
    """A decoded close payload; `code` None for an empty payload (§5.5.1 allows it)."""

    code: int | None
    reason: str = ""

    def __str__(self) -> str:
        if self.code is None:
            return "no status code"
        name = CloseCode(self.code).name if self.code in CloseCode._value2member_map_ else ""
        label = f"{self.code} ({name})" if name else str(self.code)
        return f"{label} {self.reason!r}" if self.reason else label


def parse_close(payload: bytes) -> tuple[int | None, bytes]:
    """Split a close payload into (code, reason octets); a 1-octet payload gives (None, payload).

    The engine rejects a 1-octet payload (rule close.payload-one-byte); here it only decodes.
    """
    if len(payload) < 2:
        return None, bytes(payload)
    return int.from_bytes(payload[:2], "big"), bytes(payload[2:])


def serialize_close(code: int | None, reason: str | bytes = b"") -> bytes:
    """The payload of a close frame; no code means an empty payload (and then no reason)."""
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code (RFC 6455 §5.5.1)")
        return b""
    raw = reason.encode("utf-8") if isinstance(reason, str) else reason
    return code.to_bytes(2, "big") + raw
