"""The opening handshake of a case: build the request (as the case bends it), read and judge the
response, and negotiate permessage-deflate."""

from __future__ import annotations

__all__ = ["do_handshake", "read_http_response", "request_bytes"]

import asyncio
import time
from typing import TYPE_CHECKING, Any

from conformance.catalog.model import status_matches
from conformance.catalog.payload import parse_payload
from conformance.engine.handshake import ClientHandshake
from conformance.engine.rules import RULES, HandshakeError, ProtocolError
from conformance.errors import WireError
from conformance.targets.tcp import ServerTarget
from conformance.wire.http import Request, Response, parse_response

if TYPE_CHECKING:
    from conformance.runner.session import _Session

_MAX_HEAD = 65536


async def do_handshake(s: _Session, target: ServerTarget) -> bytes:
    """Send the request, read the response; returns octets that followed the response."""
    case, t = s.case, s.trace
    hs: dict[str, Any] = dict(case.handshake or {})
    offers = (case.deflate or {}).get("offers")
    ext_value = _offer_header(offers) if offers else None
    client = ClientHandshake(target.uri, subprotocols=tuple(hs.get("subprotocols") or ()),
                             extensions=ext_value)
    raw = request_bytes(client.request(), hs)
    t.request = raw.decode("latin-1")
    if not await s.write(raw, label="opening handshake request"):
        t.handshake_note = "the connection was closed while the request was being sent"
        return b""
    response, leftover = await read_http_response(s, s.opts.wait)
    if response is None:
        return b""
    t.status = response.status
    t.response_headers = response.headers
    if case.expect_response is not None:
        _check_expected_response(s, response)
    else:
        try:
            result = client.check_response(response)
        except ProtocolError as exc:
            t.handshake_error = exc
            return b""
        t.opened = True
        _negotiate_deflate(s, result, offers)
    return leftover


def request_bytes(req: Request, hs: dict[str, Any]) -> bytes:
    if hs.get("raw") is not None:
        return parse_payload(hs["raw"]).materialize()
    if "method" in hs:
        req.method = str(hs["method"])
    if "path" in hs:
        req.path = str(hs["path"])
    if "http_version" in hs:
        req.http_version = str(hs["http_version"])
    for name, value in (hs.get("headers") or {}).items():
        if name in req.headers:
            del req.headers[name]
        values = value if isinstance(value, list) else [] if value is None else [value]
        for v in values:
            req.headers[name] = str(v)
    for pair in hs.get("extra_headers") or []:
        req.headers[str(pair[0])] = str(pair[1])
    return req.serialize()


async def read_http_response(s: _Session, timeout: float) -> tuple[Response | None, bytes]:
    """Read until a whole response head arrived; note the reason on the trace otherwise."""
    assert s.reader is not None
    t = s.trace
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        try:
            parsed = parse_response(bytes(buf))
        except WireError as exc:
            t.response = bytes(buf[:_MAX_HEAD]).decode("latin-1")
            t.handshake_note = f"the response is not valid HTTP: {exc}"
            return None, b""
        if parsed is not None:
            resp, used = parsed
            t.response = bytes(buf[:used]).decode("latin-1")
            t.log("rx", "octets", bytes(buf[:used]), f"opening handshake response {resp.status}")
            return resp, bytes(buf[used:])
        left = deadline - time.monotonic()
        if left <= 0:
            t.response = bytes(buf).decode("latin-1")
            t.handshake_note = f"no complete response within {timeout:g} s ({len(buf)} octets received)"
            return None, b""
        try:
            chunk = await asyncio.wait_for(s.reader.read(65536), left)
        except TimeoutError:
            continue
        except (ConnectionError, OSError) as exc:
            t.reset = True
            chunk = b""
            t.handshake_note = f"the connection was reset during the handshake ({exc})"
        if not chunk:
            t.eof = True
            t.response = bytes(buf).decode("latin-1")
            t.handshake_note = t.handshake_note or (
                "the server closed the connection without a complete response"
                if not buf else "the server closed the connection in the middle of its response")
            return None, b""
        buf += chunk


def _check_expected_response(s: _Session, resp: Response) -> None:
    """For handshake cases: status, headers and subprotocol as the case requires."""
    case, t = s.case, s.trace
    exp = case.expect_response or {}
    statuses = exp.get("status", [101])
    statuses = statuses if isinstance(statuses, list) else [statuses]
    if resp.status >= 500 and not status_matches(statuses, resp.status):
        t.handshake_note = (f"the server answered {resp.status} {resp.reason}: a request it should "
                            "reject or decline made it fail")
        t.handshake_error = HandshakeError(RULES["handshake.server-error"], t.handshake_note)
        return
    if not status_matches(statuses, resp.status):
        t.handshake_note = (f"the server answered {resp.status} {resp.reason}; expected "
                            f"{' or '.join(map(str, statuses))}")
        return
    headers = dict(exp.get("headers") or {})
    if resp.status != 101:  # what a refusal must carry (RFC 6455 §4.4: the versions spoken)
        headers.update(exp.get("refusal_headers") or {})
    for name, want in headers.items():
        got = resp.headers.get_all(name)
        if want is None and got:
            t.handshake_note = f"the response carries {name}: {', '.join(got)}, which it must not"
            return
        if want is not None and not _tokens_match(got, str(want)):
            t.handshake_note = f"the response must carry {name}: {want}; it carries {got or 'nothing'}"
            return
    if "subprotocol" in exp:
        got_proto = resp.headers.get("Sec-WebSocket-Protocol")
        allowed = exp["subprotocol"] if isinstance(exp["subprotocol"], list) else [exp["subprotocol"]]
        if got_proto not in allowed:
            t.handshake_note = (f"the server selected subprotocol {got_proto!r}; acceptable: "
                                f"{', '.join(repr(a) for a in allowed)}")
            return
    if resp.status == 101:
        t.opened = True
        if s.case.deflate:
            from conformance.engine.handshake import HandshakeResult
            from conformance.wire.extheader import ExtensionHeaderError, parse_extensions

            try:
                exts = parse_extensions(resp.headers.get_all("Sec-WebSocket-Extensions"))
            except ExtensionHeaderError as exc:
                t.handshake_note = f"the response's Sec-WebSocket-Extensions is malformed: {exc}"
                t.opened = False
                return
            _negotiate_deflate(s, HandshakeResult(None, exts), (s.case.deflate or {}).get("offers"))


def _tokens_match(got: list[str], want: str) -> bool:
    have = {tok.strip().lower() for v in got for tok in v.split(",")}
    return all(tok.strip().lower() in have for tok in want.split(","))


def _offer_header(offers: list[dict[str, Any]]) -> str:
    from conformance.engine.deflate import client_offer

    return client_offer(offers)


def _negotiate_deflate(s: _Session, result: Any, offers: list[dict[str, Any]] | None) -> None:
    t = s.trace
    if not offers:
        return
    from conformance.engine import deflate as d

    accepted = [params for name, params in result.extensions if name == "permessage-deflate"]
    if not accepted:
        t.deflate_negotiated = False
        return
    offered = []
    for o in offers:
        try:
            offered.append(d.parse_offer(_as_params(o)))
        except ProtocolError:
            continue  # an offer the case made invalid on purpose: the server had to decline it
    try:
        params = d.client_accept(accepted[0], offered)
    except ProtocolError as exc:
        t.handshake_error = exc
        t.opened = False
        return
    s.deflate = d.negotiated_codec(params, "client", s.opts.max_message)
    t.deflate_negotiated = True


def _as_params(offer: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(k, None if v is True else str(v)) for k, v in offer.items() if v is not False]
