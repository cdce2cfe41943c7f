"""The bent handshake answers of client cases: wrong Accept forms, glued octets, the probe ping."""

from __future__ import annotations

import pytest

from conformance.catalog.model import ResponseSpec
from conformance.catalog.payload import PayloadSpec
from conformance.engine.connection import Connection, Role
from conformance.engine.handshake import accept_key
from conformance.runner.client_answers import PROBE, answer_octets, describe_answer, is_probe_pong, wrong_accept
from conformance.wire.http import Headers, Response, parse_response

KEY = "AQIDBAUGBwgJCgsMDQ4PEA=="


def _response() -> Response:
    h = Headers()
    h["Upgrade"] = "websocket"
    h["Connection"] = "Upgrade"
    h["Sec-WebSocket-Accept"] = accept_key(KEY)
    return Response(101, "Switching Protocols", h)


@pytest.mark.parametrize("form", ResponseSpec.ACCEPT_FORMS)
def test_every_accept_form_differs_from_the_right_value(form: str) -> None:
    values = wrong_accept(form, KEY)
    assert values != [accept_key(KEY)]
    raw, _ = answer_octets(_response(), ResponseSpec(accept=form), KEY)
    parsed = parse_response(raw)
    assert parsed is not None and parsed[0].headers.get_all("Sec-WebSocket-Accept") == values


def test_an_answer_to_refuse_gets_the_probe_only_when_it_says_101() -> None:
    assert answer_octets(_response(), ResponseSpec(accept="key"), KEY, reject=True)[1] == PROBE
    assert answer_octets(_response(), ResponseSpec(status=403), KEY, reject=True)[1] == b""
    assert answer_octets(_response(), ResponseSpec(accept="key"), KEY)[1] == b""
    glued = PayloadSpec("literal", b"\x81\x01x")
    assert answer_octets(_response(), ResponseSpec(trailer=glued), KEY, reject=True)[1] == b"\x81\x01x"


def test_before_version_and_added_headers_are_written() -> None:
    spec = ResponseSpec(before=PayloadSpec("literal", b"HTTP/1.1 100 Continue\r\n\r\n"), status=403,
                        http_version="HTTP/1.0", extra_headers=(("X-A", "1"), ("X-A", "2")))
    raw, _ = answer_octets(_response(), spec, KEY)
    assert raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 403 OK\r\n") and raw.count(b"X-A:") == 2
    assert "status 403" in describe_answer(spec) and "an interim response first" in describe_answer(spec)


def test_a_pong_to_the_probe_is_recognised() -> None:
    client = Connection(Role.CLIENT)
    client.receive_data(PROBE)
    list(client.events())  # the engine answers the ping with a masked pong
    pong = client.data_to_send()
    assert is_probe_pong(pong)
    other = Connection(Role.CLIENT)
    other.pong(b"other")
    assert not is_probe_pong(other.data_to_send()) and not is_probe_pong(b"GET / HTTP/1.1\r\n")
