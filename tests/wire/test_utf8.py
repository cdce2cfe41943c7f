"""RFC 6455 §8.1 / RFC 3629: incremental UTF-8 validation that fails at the first bad octet."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.wire.utf8 import Utf8Error, Utf8Validator, validate_utf8


def _first_bad_octet(data: bytes) -> int | None:
    """Reference: the shortest prefix that is no longer the start of any valid text."""
    for i in range(1, len(data) + 1):
        try:
            codecs.decode(data[:i] + _completion(data[:i]), "utf-8")
        except UnicodeDecodeError:
            return i - 1
    return None if _valid(data) else len(data)


def _completion(prefix: bytes) -> bytes:
    """Continuation octets that would complete a trailing partial sequence, if it can be completed."""
    for k in range(1, 4):
        if len(prefix) >= k and prefix[-k] & 0xC0 != 0x80:
            lead = prefix[-k]
            need = 2 if lead >> 5 == 6 else 3 if lead >> 4 == 14 else 4 if lead >> 3 == 30 else 1
            missing = need - k
            if missing <= 0:
                return b""
            for tail in (b"\x80" * missing, b"\x90" * missing, b"\xa0" * missing, b"\xbf" * missing):
                if _valid(prefix[-k:] + tail):
                    return tail
            return b""
    return b""


def _valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class TestSection8_1FailFast:
    @pytest.mark.parametrize(("data", "pos"), [
        (b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80", 12),  # above U+10FFFF
        (b"\xed\xa0\x80", 1),  # surrogate: fails at the second octet
        (b"\xc0\xaf", 0),  # overlong '/': C0 can never start a sequence
        (b"\xe0\x80\xaf", 1),  # overlong three-octet form
        (b"\xf8\x88\x80\x80\x80", 0),  # five-octet forms do not exist
        (b"ab\xce", 3),  # truncated at the end of the message
        (b"\x80", 0),  # a lone continuation octet
        (b"\xf4\x8f\xbf\xbf", None),  # U+10FFFF is the last valid code point
    ])
    def test_known_sequences(self, data: bytes, pos: int | None) -> None:
        if pos is None:
            assert validate_utf8(data) == data.decode("utf-8")
            return
        with pytest.raises(Utf8Error) as exc:
            validate_utf8(data)
        assert exc.value.position == pos

    def test_surrogate_prefix_fails_before_the_third_octet_arrives(self) -> None:
        v = Utf8Validator()
        v.feed(b"ok")
        with pytest.raises(Utf8Error) as exc:
            v.feed(b"\xed\xa0")
        assert exc.value.position == 3

    def test_a_surrogate_is_named_the_same_in_one_piece_or_cut_after_it(self) -> None:
        with pytest.raises(Utf8Error) as whole:
            validate_utf8(b"ok\xed\xa0\x80")
        v = Utf8Validator()
        with pytest.raises(Utf8Error) as cut:
            v.feed(b"ok\xed\xa0")
        assert str(whole.value) == str(cut.value) == "invalid UTF-8 at octet 3: surrogate code point"

    def test_valid_prefix_is_held_back(self) -> None:
        v = Utf8Validator()
        assert v.feed(b"\xce") == ""
        assert v.pending == 1
        assert v.feed(b"\xba", final=True) == "κ"

    @given(st.lists(st.sampled_from([0x41, 0xCE, 0xBA, 0xED, 0xA0, 0x9F, 0x80, 0xF4, 0x90, 0x8F,
                                     0xE0, 0xC0, 0xC2, 0xBF, 0xF0, 0xF5]), max_size=10).map(bytes),
           st.data())
    def test_position_is_independent_of_chunking(self, data: bytes, draw: st.DataObject) -> None:
        expected = _first_bad_octet(data)
        cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=4)))
        v = Utf8Validator()
        got: int | None = None
        message = None  # the whole error, reason included, is the one of the text in one piece
        text = ""
        try:
            prev = 0
            for c in cuts:
                text += v.feed(data[prev:c])
                prev = c
            text += v.feed(data[prev:], final=True)
        except Utf8Error as exc:
            got, message = exc.position, str(exc)
        assert got == expected
        if expected is not None:
            with pytest.raises(Utf8Error) as whole:
                validate_utf8(data)
            assert message == str(whole.value)
        if expected is None:
            assert text == data.decode("utf-8")

    @given(st.text())
    def test_every_valid_text_passes_in_any_split(self, s: str) -> None:
        raw = s.encode("utf-8")
        v = Utf8Validator()
        out = "".join(v.feed(raw[i:i + 1]) for i in range(len(raw))) + v.feed(b"", final=True)
        assert out == s
