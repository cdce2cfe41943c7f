"""The opening handshake (RFC 6455 §4): what a client sends and checks, what a server checks and
answers. Every check is a rule; server-side rules carry the HTTP status to answer with."""

from __future__ import annotations

__all__ = [
    "ClientHandshake",
    "HandshakeResult",
    "ServerHandshake",
    "accept_key",
    "make_key",
]

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Callable, Sequence

from conformance.engine.rules import HandshakeError, Level, rule
from conformance.wire.extheader import (
    ExtensionHeaderError,
    ExtensionList,
    parse_extensions,
    parse_subprotocols,
    serialize_extensions,
)
from conformance.wire.http import Headers, Request, Response
from conformance.wire.uri import WebSocketURI

MUST, SHOULD = Level.MUST, Level.SHOULD
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_VERSION = "13"

# --- server side: RFC 6455 §4.2.1 / §4.2.2 / §4.4 ----------------------------------------------
METHOD = rule("handshake.method", "RFC 6455 §4.2.1", MUST,
              "The opening handshake is a GET request; a server refuses any other method.", http_status=405)
HTTP_VERSION = rule("handshake.http-version", "RFC 6455 §4.2.1", MUST,
                    "The opening handshake uses HTTP/1.1 or later; a server refuses HTTP/1.0.", http_status=400)
HOST = rule("handshake.host", "RFC 6455 §4.2.1", MUST,
            "The request carries a Host header; a server refuses one without it.", http_status=400)
UPGRADE = rule("handshake.upgrade", "RFC 6455 §4.2.1", MUST,
               "The request has an Upgrade header containing the token websocket (any case).", http_status=400)
CONNECTION = rule("handshake.connection", "RFC 6455 §4.2.1", MUST,
                  "The request's Connection header lists the token Upgrade (any case, possibly among others).",
                  http_status=400)
KEY = rule("handshake.key", "RFC 6455 §4.2.1", MUST,
           "Sec-WebSocket-Key appears once and is the base64 encoding of exactly 16 octets.", http_status=400)
VERSION = rule("handshake.version", "RFC 6455 §4.4", MUST,
               "A server that does not speak the requested Sec-WebSocket-Version (only 13 exists) refuses the "
               "handshake with an error status (such as 426 Upgrade Required) and Sec-WebSocket-Version: 13.",
               http_status=426)
SUBPROTOCOL_SELECTION = rule(
    "handshake.subprotocol-selection", "RFC 6455 §4.2.2", MUST,
    "A server selects at most one of the subprotocols the client offered, or none.", http_status=400)
SERVER_ERROR = rule(
    "handshake.server-error", "RFC 6455 §4.2.2", MUST,
    "A request the server cannot accept is refused with a 4xx status, and offers it does not support are "
    "declined; it must not answer 5xx or drop the connection.")
REFUSED = rule(
    "handshake.refused", "RFC 6455 §4.2.2", Level.INFORMATIONAL,
    "A server may refuse a valid opening handshake it does not wish to accept, with an appropriate "
    "error status (such as 403 Forbidden); the case then cannot run, which is no fault of the server.")
# --- client side: RFC 6455 §4.1 (what the client checks in the response) ----------------------
STATUS = rule("handshake.status", "RFC 6455 §4.1", MUST,
              "Anything but 101 Switching Protocols means the handshake did not succeed.")
# a 3xx answer (runner/redirect.py records what the client does with its Location)
REDIRECT_FOLLOWED = rule(
    "handshake.redirect-followed", "RFC 6455 §4.1", Level.MAY,
    "A client may follow a 3xx answer to its opening handshake with a new handshake to the Location; "
    "it is not required to.")
REDIRECT_BROWSER = rule(
    "handshake.redirect-browser", "WHATWG WebSockets §2.2", MUST,
    "A browser fetches the opening handshake with redirect mode \"error\": a 3xx answer is a network error "
    "that fails the WebSocket connection, so a browser never follows it.")
REDIRECT_CREDENTIALS = rule(
    "handshake.redirect-credentials", "RFC 9110 §15.4", Level.SHOULD,
    "A client following a redirect to another origin drops the Authorization and Cookie headers it "
    "generated for the first request.")
KEY_FRESH = rule(
    "handshake.key-fresh", "RFC 6455 §4.1", MUST,
    "The Sec-WebSocket-Key is a nonce chosen at random for each connection: a handshake sent after a "
    "redirect carries a new one.")
RESPONSE_UPGRADE = rule("handshake.response-upgrade", "RFC 6455 §4.1", MUST,
                        "The response has an Upgrade header with the value websocket; otherwise the client "
                        "fails the connection.")
RESPONSE_CONNECTION = rule("handshake.response-connection", "RFC 6455 §4.1", MUST,
                           "The response's Connection header lists Upgrade; otherwise the client fails the "
                           "connection.")
ACCEPT = rule("handshake.accept", "RFC 6455 §4.1", MUST,
              "Sec-WebSocket-Accept must be the base64 SHA-1 of the client's key and the RFC's GUID; "
              "otherwise the client fails the connection.")
EXTENSION_UNOFFERED = rule("handshake.extension-unoffered", "RFC 6455 §4.1", MUST,
                           "The server answered with an extension the client did not offer; the client fails "
                           "the connection.")
SUBPROTOCOL_UNOFFERED = rule("handshake.subprotocol-unoffered", "RFC 6455 §4.1", MUST,
                             "The server selected a subprotocol the client did not offer; the client fails "
                             "the connection.")


def make_key() -> str:
    """A fresh Sec-WebSocket-Key: 16 random octets, base64 (RFC 6455 §4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for `key` (RFC 6455 §4.2.2 item 5.4)."""
    return base64.b64encode(hashlib.sha1((key + _GUID).encode("ascii")).digest()).decode("ascii")


@dataclasses.dataclass
class HandshakeResult:
    subprotocol: str | None = None
    extensions: ExtensionList = dataclasses.field(default_factory=list)


class ClientHandshake:
    """The request a client sends, and the checks it makes on the response."""

    def __init__(self, uri: WebSocketURI, subprotocols: Sequence[str] = (), extensions: str | None = None,
                 headers: dict[str, str] | None = None, origin: str | None = None) -> None:
        self.uri = uri
        self.subprotocols = list(subprotocols)
        self.extensions = extensions
        self.key = make_key()
        self.extra = dict(headers or {})
        self.origin = origin

    def request(self) -> Request:
        h = Headers()
        h["Host"] = self.uri.host_header
        h["Upgrade"] = "websocket"
        h["Connection"] = "Upgrade"
        h["Sec-WebSocket-Key"] = self.key
        h["Sec-WebSocket-Version"] = _VERSION
        if self.origin:
            h["Origin"] = self.origin
        if self.subprotocols:
            h["Sec-WebSocket-Protocol"] = ", ".join(self.subprotocols)
        if self.extensions:
            h["Sec-WebSocket-Extensions"] = self.extensions
        for k, v in self.extra.items():
            h[k] = v
        return Request("GET", self.uri.resource_name, h)

    def check_response(self, resp: Response) -> HandshakeResult:
        if resp.status != 101:
            raise HandshakeError(STATUS, f"status {resp.status} {resp.reason}")
        h = resp.headers
        if "websocket" not in h.tokens("Upgrade"):
            raise HandshakeError(RESPONSE_UPGRADE, f"Upgrade: {', '.join(h.get_all('Upgrade')) or 'missing'}")
        if "upgrade" not in h.tokens("Connection"):
            raise HandshakeError(RESPONSE_CONNECTION, f"Connection: {', '.join(h.get_all('Connection')) or 'missing'}")
        got = h.get_all("Sec-WebSocket-Accept")
        if got != [accept_key(self.key)]:
            raise HandshakeError(ACCEPT, f"Sec-WebSocket-Accept {got or 'missing'}, expected {accept_key(self.key)}")
        return HandshakeResult(self._subprotocol(h), self._extensions(h))

    def _subprotocol(self, h: Headers) -> str | None:
        try:
            chosen = parse_subprotocols(h.get_all("Sec-WebSocket-Protocol"))
        except ExtensionHeaderError as exc:
            raise HandshakeError(SUBPROTOCOL_UNOFFERED, str(exc)) from None
        if not chosen:
            return None
        if len(chosen) > 1 or chosen[0] not in self.subprotocols:
            raise HandshakeError(SUBPROTOCOL_UNOFFERED, f"selected {chosen}, offered {self.subprotocols}")
        return chosen[0]

    def _extensions(self, h: Headers) -> ExtensionList:
        values = h.get_all("Sec-WebSocket-Extensions")
        try:
            answered = parse_extensions(values)
            offered = {name for name, _ in parse_extensions([self.extensions] if self.extensions else [])}
        except ExtensionHeaderError as exc:
            raise HandshakeError(EXTENSION_UNOFFERED, str(exc)) from None
        for name, _ in answered:
            if name.lower() not in {o.lower() for o in offered}:
                raise HandshakeError(EXTENSION_UNOFFERED, f"extension {name!r} was not offered")
        return answered


SelectExtensions = Callable[[ExtensionList], ExtensionList]


class ServerHandshake:
    """A server's checks of the request (§4.2.1) and its answer (§4.2.2)."""

    def __init__(self, subprotocols: Sequence[str] = (), select_extensions: SelectExtensions | None = None) -> None:
        self.subprotocols = list(subprotocols)
        self.select_extensions = select_extensions

    def check_request(self, req: Request) -> None:
        h = req.headers
        if req.method != "GET":
            raise HandshakeError(METHOD, f"method {req.method}")
        if req.http_version < "HTTP/1.1":
            raise HandshakeError(HTTP_VERSION, req.http_version)
        if len(h.get_all("Host")) != 1:
            raise HandshakeError(HOST, "no Host header" if "Host" not in h else "several Host headers")
        if "websocket" not in h.tokens("Upgrade"):
            raise HandshakeError(UPGRADE, f"Upgrade: {', '.join(h.get_all('Upgrade')) or 'missing'}")
        if "upgrade" not in h.tokens("Connection"):
            raise HandshakeError(CONNECTION, f"Connection: {', '.join(h.get_all('Connection')) or 'missing'}")
        self._check_key(h.get_all("Sec-WebSocket-Key"))
        versions = h.get_all("Sec-WebSocket-Version")
        if [v.strip() for v in versions] != [_VERSION]:
            raise HandshakeError(VERSION, f"Sec-WebSocket-Version {', '.join(versions) or 'missing'}")

    @staticmethod
    def _check_key(keys: list[str]) -> None:
        if len(keys) != 1:
            raise HandshakeError(KEY, "no Sec-WebSocket-Key" if not keys else "several Sec-WebSocket-Key headers")
        try:
            raw = base64.b64decode(keys[0].strip(), validate=True)
        except (binascii.Error, ValueError):
            raise HandshakeError(KEY, f"Sec-WebSocket-Key {keys[0]!r} is not base64") from None
        if len(raw) != 16:
            raise HandshakeError(KEY, f"Sec-WebSocket-Key decodes to {len(raw)} octets, not 16")

    def accept(self, req: Request) -> tuple[Response, HandshakeResult]:
        self.check_request(req)
        h = Headers()
        h["Upgrade"] = "websocket"
        h["Connection"] = "Upgrade"
        h["Sec-WebSocket-Accept"] = accept_key(req.headers["Sec-WebSocket-Key"].strip())
        result = HandshakeResult(self._pick_subprotocol(req.headers), self._pick_extensions(req.headers))
        if result.subprotocol:
            h["Sec-WebSocket-Protocol"] = result.subprotocol
        if result.extensions:
            h["Sec-WebSocket-Extensions"] = serialize_extensions(result.extensions)
        return Response(101, "Switching Protocols", h), result

    def _pick_subprotocol(self, h: Headers) -> str | None:
        try:
            offered = parse_subprotocols(h.get_all("Sec-WebSocket-Protocol"))
        except ExtensionHeaderError:
            return None
        return next((p for p in offered if p in self.subprotocols), None)

    def _pick_extensions(self, h: Headers) -> ExtensionList:
        if self.select_extensions is None:
            return []
        try:
            offers = parse_extensions(h.get_all("Sec-WebSocket-Extensions"))
        except ExtensionHeaderError:
            return []  # a malformed offer is declined, never an error
        return self.select_extensions(offers)

    @staticmethod
    def reject(error: HandshakeError) -> Response:
        status = error.http_status or 400
        h = Headers()
        body = f"{error.rule.id}: {error.detail or error.rule.text}\n".encode()
        if status == 426:
            h["Sec-WebSocket-Version"] = _VERSION
        h["Content-Type"] = "text/plain; charset=utf-8"
        h["Content-Length"] = str(len(body))
        h["Connection"] = "close"
        reason = {400: "Bad Request", 405: "Method Not Allowed", 426: "Upgrade Required"}.get(status, "Error")
        return Response(status, reason, h, body)

