"""Incremental UTF-8 validation that fails at the first octet that cannot lead to valid text.

RFC 6455 §8.1 requires text to be valid UTF-8 (RFC 3629); a message may be split over frames
and reads at any octet, so validation is incremental. CPython's incremental decoder (C speed)
already rejects, at the first offending octet, bytes that can never start or continue a sequence,
overlong forms and values above U+10FFFF; the one prefix it leaves pending is a surrogate
(ED A0..ED BF), which this module rejects at its second octet, so the failure position is exact.
"""

from __future__ import annotations

__all__ = ["DeferredUtf8Validator", "Utf8Error", "Utf8Validator", "validate_utf8"]

import codecs

from conformance.errors import WireError

_ED = 0xED
_SURROGATE_SECOND = 0xA0
_LAST_CONTINUATION = 0xBF


class Utf8Error(WireError):
    """Invalid UTF-8; `position` is the offset (from the start of the text) of the first bad octet."""

    def __init__(self, position: int, reason: str) -> None:
        self.position = position
        self.reason = reason
        super().__init__(f"invalid UTF-8 at octet {position}: {reason}")


def _bad_octet(exc: UnicodeDecodeError) -> int:
    """Index of the first octet that cannot continue: CPython reports the sequence it dropped."""
    if exc.reason == "invalid start byte":
        return exc.start
    return exc.end  # "invalid continuation byte" / "unexpected end of data": the octet after


def _reason(exc: UnicodeDecodeError) -> str:
    """CPython's reason, but a surrogate is named as such wherever the pieces were cut: ED A0..BF
    at the end of a piece is pending (and reported below as a surrogate), inside one CPython calls
    the second octet an invalid continuation byte."""
    second = exc.object[exc.start + 1 : exc.start + 2]
    if exc.object[exc.start] == _ED and second and _SURROGATE_SECOND <= second[0] <= _LAST_CONTINUATION:
        return "surrogate code point"
    return exc.reason


class Utf8Validator:
    """Feed a text in pieces; get the decoded text back; fails at the first invalid octet."""

    __slots__ = ("_decoder", "_offset")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._offset = 0  # octets fed before the current piece

    def feed(self, data: bytes | bytearray | memoryview, final: bool = False) -> str:
        """Validate and decode the next piece; `final` marks the end of the text."""
        start = self._offset
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            pending = len(exc.object) - len(data)  # octets carried over from earlier pieces
            raise Utf8Error(start - pending + _bad_octet(exc), _reason(exc)) from None
        self._offset = start + len(data)
        pend = self._decoder.getstate()[0]
        if len(pend) >= 2 and pend[0] == _ED and pend[1] >= _SURROGATE_SECOND:
            raise Utf8Error(self._offset - len(pend) + 1, "surrogate code point")
        return text

    def copy(self) -> Utf8Validator:
        """An independent validator in the same state (to look ahead without consuming)."""
        other = Utf8Validator()
        other._decoder.setstate(self._decoder.getstate())
        other._offset = self._offset
        return other

    @property
    def pending(self) -> int:
        """Octets of an incomplete sequence held back, waiting for the next piece."""
        return len(self._decoder.getstate()[0])


class DeferredUtf8Validator:
    """Validates a text only when its last piece arrives: what a peer that does not fail fast
    does (allowed: RFC 6455 §8.1 makes fail-fast a SHOULD). Used to model such a peer."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray | memoryview, final: bool = False) -> str:
        self._buf += data
        if not final:
            return ""
        whole, self._buf = bytes(self._buf), bytearray()
        return Utf8Validator().feed(whole, final=True)

    def copy(self) -> DeferredUtf8Validator:
        other = DeferredUtf8Validator()
        other._buf = bytearray(self._buf)
        return other

    @property
    def pending(self) -> int:
        return 0


def validate_utf8(data: bytes | bytearray | memoryview) -> str:
    """Decode a whole text or raise Utf8Error at the first bad octet."""
    return Utf8Validator().feed(data, final=True)
