"""RFC 6455 §3: ws and wss URIs."""

from __future__ import annotations

import pytest

from conformance.wire.uri import InvalidURI, parse_uri


def test_forms() -> None:
    u = parse_uri("wss://user:pw@Example.com/chat?room=1")
    assert (u.secure, u.host, u.port, u.path, u.query, u.username, u.password) == (
        True, "example.com", 443, "/chat", "room=1", "user", "pw")
    assert u.resource_name == "/chat?room=1" and u.host_header == "example.com"
    v6 = parse_uri("ws://[::1]:9001")
    assert (v6.host, v6.port, v6.resource_name, v6.host_header) == ("::1", 9001, "/", "[::1]:9001")
    assert str(parse_uri("ws://127.0.0.1:80/a")) == "ws://127.0.0.1/a"


@pytest.mark.parametrize(("uri", "why"), [
    ("http://x/", "scheme"), ("ws://x/#frag", "fragment"), ("ws:///path", "no host"), ("ws://x:99999/", "99999"),
])
def test_invalid(uri: str, why: str) -> None:
    with pytest.raises(InvalidURI, match=why):
        parse_uri(uri)
