"""RFC 6455 §5.5.1 and §7.4: close payloads and the close-code space."""

from __future__ import annotations

import pytest

from conformance.wire.close import Close, CloseCode, close_code_valid, parse_close, serialize_close


class TestSection7_4CloseCodes:
    @pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                                      1013, 1014, 3000, 3999, 4000, 4999])
    def test_valid(self, code: int) -> None:
        assert close_code_valid(code)

    @pytest.mark.parametrize("code", [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                                      5000, 65535])
    def test_invalid(self, code: int) -> None:
        assert not close_code_valid(code)

    def test_every_code_in_the_space_is_classified_by_range(self) -> None:
        valid = [c for c in range(65536) if close_code_valid(c)]
        assert len(valid) == 12 + 2000


class TestSection5_5_1ClosePayload:
    def test_round_trip(self) -> None:
        assert parse_close(serialize_close(1001, "bye κ")) == (1001, "bye κ".encode())

    def test_empty_and_one_octet(self) -> None:
        assert parse_close(b"") == (None, b"")
        assert parse_close(b"\x03") == (None, b"\x03")
        assert serialize_close(None) == b""

    def test_reason_needs_a_code(self) -> None:
        with pytest.raises(ValueError):
            serialize_close(None, "why")

    def test_str(self) -> None:
        assert str(Close(1000, "ok")) == "1000 (NORMAL_CLOSURE) 'ok'"
        assert str(Close(None)) == "no status code"
        assert str(Close(4000)) == "4000"
        assert CloseCode(1009).name == "MESSAGE_TOO_BIG"
