"""RFC 6455 §4: each handshake rule, good and bad, and agreement with websockets and wsproto."""

from __future__ import annotations

import pytest

from conformance.engine.handshake import ClientHandshake, ServerHandshake, accept_key, make_key
from conformance.engine.rules import HandshakeError
from conformance.wire.http import Headers, Request, Response, parse_request, parse_response
from conformance.wire.uri import parse_uri


def request(**changes: object) -> Request:
    req = ClientHandshake(parse_uri("ws://127.0.0.1:9001/chat")).request()
    for name, value in changes.items():
        header = name.replace("_", "-")
        del req.headers[header]
        if value is not None:
            req.headers[header] = str(value)
    return req


class TestSection1_3Accept:
    def test_rfc_example(self) -> None:
        assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    def test_keys_are_16_random_octets(self) -> None:
        import base64

        keys = {make_key() for _ in range(20)}
        assert len(keys) == 20 and all(len(base64.b64decode(k)) == 16 for k in keys)


class TestSection4_2_1ServerChecks:
    def test_valid_request_is_accepted(self) -> None:
        resp, result = ServerHandshake().accept(request())
        assert resp.status == 101 and result.subprotocol is None

    @pytest.mark.parametrize(("change", "rule", "status"), [
        ({"Host": None}, "handshake.host", 400),
        ({"Upgrade": "h2c"}, "handshake.upgrade", 400),
        ({"Connection": "keep-alive"}, "handshake.connection", 400),
        ({"Sec_WebSocket_Key": "short"}, "handshake.key", 400),
        ({"Sec_WebSocket_Key": "AQIDBAUGBwgJCgsMDQ4P"}, "handshake.key", 400),
        ({"Sec_WebSocket_Version": "8"}, "handshake.version", 426),
    ])
    def test_rejections(self, change: dict[str, object], rule: str, status: int) -> None:
        shake = ServerHandshake()
        with pytest.raises(HandshakeError) as exc:
            shake.check_request(request(**change))
        assert exc.value.rule.id == rule and exc.value.http_status == status
        resp = shake.reject(exc.value)
        assert resp.status == status
        assert (resp.headers.get("Sec-WebSocket-Version") == "13") == (status == 426)

    def test_method_and_version(self) -> None:
        req = request()
        req.method = "POST"
        with pytest.raises(HandshakeError, match="handshake.method"):
            ServerHandshake().check_request(req)
        req = request()
        req.http_version = "HTTP/1.0"
        with pytest.raises(HandshakeError, match="handshake.http-version"):
            ServerHandshake().check_request(req)

    def test_token_lists_and_case(self) -> None:
        ServerHandshake().check_request(request(Connection="keep-alive, UPGRADE", Upgrade="WebSocket"))

    def test_subprotocol_selection(self) -> None:
        req = request(Sec_WebSocket_Protocol="a, b")
        assert ServerHandshake(subprotocols=["b"]).accept(req)[1].subprotocol == "b"
        assert ServerHandshake(subprotocols=["c"]).accept(req)[1].subprotocol is None


class TestSection4_1ClientChecks:
    def make(self) -> tuple[ClientHandshake, Response]:
        client = ClientHandshake(parse_uri("ws://127.0.0.1/"), subprotocols=["chat"], extensions="permessage-deflate")
        resp, _ = ServerHandshake(subprotocols=["chat"]).accept(client.request())
        return client, resp

    def test_good_response(self) -> None:
        client, resp = self.make()
        assert client.check_response(resp).subprotocol == "chat"

    @pytest.mark.parametrize(("mutate", "rule"), [
        (lambda r: setattr(r, "status", 200), "handshake.status"),
        (lambda r: r.headers.__delitem__("Upgrade"), "handshake.response-upgrade"),
        (lambda r: r.headers.__delitem__("Connection"), "handshake.response-connection"),
        (lambda r: r.headers.__setitem__("Sec-WebSocket-Accept", "x"), "handshake.accept"),
        (lambda r: r.headers.__setitem__("Sec-WebSocket-Extensions", "x-other"), "handshake.extension-unoffered"),
        (lambda r: r.headers.__setitem__("Sec-WebSocket-Protocol", "other"), "handshake.subprotocol-unoffered"),
    ])
    def test_bad_responses(self, mutate: object, rule: str) -> None:
        client, resp = self.make()
        mutate(resp)  # type: ignore[operator]
        with pytest.raises(HandshakeError) as exc:
            client.check_response(resp)
        assert exc.value.rule.id == rule


class TestDifferential:
    def test_websockets_accepts_our_request_and_we_accept_its_response(self) -> None:
        from websockets.client import ClientProtocol
        from websockets.server import ServerProtocol
        from websockets.uri import parse_uri as ws_parse_uri

        server = ServerProtocol()
        server.receive_data(request().serialize())
        (req,) = server.events_received()
        server.send_response(server.accept(req))
        resp, _ = parse_response(b"".join(server.data_to_send()))  # type: ignore[misc]
        assert resp.status == 101
        client = ClientProtocol(ws_parse_uri("ws://127.0.0.1:9001/"))
        client.send_request(client.connect())
        ours, _ = parse_request(client.data_to_send()[0])  # type: ignore[misc]
        response, _ = ServerHandshake().accept(ours)
        client.receive_data(response.serialize())
        assert client.state.name == "OPEN"

    def test_wsproto_accepts_our_response(self) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection
        from wsproto.events import Request as WRequest

        client = WSConnection(ConnectionType.CLIENT)
        raw = client.send(WRequest(host="127.0.0.1", target="/"))
        ours, _ = parse_request(raw)  # type: ignore[misc]
        response, _ = ServerHandshake().accept(ours)
        client.receive_data(response.serialize())
        assert any(isinstance(e, AcceptConnection) for e in client.events())


def test_headers_type() -> None:
    assert isinstance(request().headers, Headers)
