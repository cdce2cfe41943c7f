"""RFC 6455 §9.1: the Sec-WebSocket-Extensions grammar, and subprotocol lists."""

from __future__ import annotations

import pytest

from conformance.wire.extheader import ExtensionHeaderError, parse_extensions, parse_subprotocols, serialize_extensions


def test_several_offers_and_quoted_values() -> None:
    got = parse_extensions(['permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits="10"',
                            "x-other"])
    assert got == [("permessage-deflate", [("client_max_window_bits", None)]),
                   ("permessage-deflate", [("server_max_window_bits", "10")]), ("x-other", [])]
    assert parse_extensions([serialize_extensions(got)]) == got


@pytest.mark.parametrize("bad", ["permessage-deflate; ;=", 'x; a="not a token"', "x y", "; a"])
def test_grammar_errors(bad: str) -> None:
    with pytest.raises(ExtensionHeaderError):
        parse_extensions([bad])


def test_subprotocols() -> None:
    assert parse_subprotocols(["chat, superchat", "v2"]) == ["chat", "superchat", "v2"]
    with pytest.raises(ExtensionHeaderError):
        parse_subprotocols(["ch at"])
