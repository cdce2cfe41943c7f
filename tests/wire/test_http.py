"""RFC 6455 §4 / RFC 9112: HTTP heads of the opening handshake, bounded against hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.wire.http import (
    Headers,
    HTTPParseError,
    MultipleValuesError,
    Request,
    Response,
    parse_request,
    parse_response,
)


class TestHeaders:
    def test_case_insensitive_and_multi_valued(self) -> None:
        h = Headers()
        h["Connection"] = "keep-alive"
        h["connection"] = "Upgrade"
        assert h.get_all("CONNECTION") == ["keep-alive", "Upgrade"]
        assert h.tokens("Connection") == ["keep-alive", "upgrade"]
        with pytest.raises(MultipleValuesError):
            h["Connection"]
        del h["CONNECTION"]
        assert "Connection" not in h and len(h) == 0
        with pytest.raises(KeyError):
            h["Connection"]


class TestParsing:
    def test_request_round_trip(self) -> None:
        h = Headers([("Host", "example"), ("Upgrade", "websocket")])
        raw = Request("GET", "/chat?x=1", h).serialize()
        req, used = parse_request(raw + b"frame")  # type: ignore[misc]
        assert (req.method, req.path, req.headers, used) == ("GET", "/chat?x=1", h, len(raw))

    def test_response_with_body(self) -> None:
        raw = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nhello"
        assert parse_response(raw[:-1]) is None
        resp, used = parse_response(raw)  # type: ignore[misc]
        assert resp.status == 400 and resp.body == b"hello" and used == len(raw)

    def test_every_prefix_is_incomplete(self) -> None:
        raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        assert all(parse_response(raw[:i]) is None for i in range(len(raw)))

    @pytest.mark.parametrize("raw", [
        b"HTTP/1.1 101\r\nNoColonHere\r\n\r\n",
        b"HTTP/1.1 101\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 abc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 101 OK\r\n" + b"X: y\r\n" * 300 + b"\r\n",
        b"HTTP/1.1 101 OK\r\nX: " + b"v" * 9000 + b"\r\n\r\n",
        b"x" * 70000,
    ])
    def test_hostile_heads_raise_the_one_error(self, raw: bytes) -> None:
        with pytest.raises(HTTPParseError):
            parse_response(raw)

    @given(st.binary(max_size=300))
    def test_any_octets(self, raw: bytes) -> None:
        for parse in (parse_request, parse_response):
            try:
                parse(raw)
            except HTTPParseError:
                pass

    def test_response_serialize(self) -> None:
        r = Response(426, "Upgrade Required", Headers([("Sec-WebSocket-Version", "13")]), b"no")
        assert r.serialize() == b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\nno"
