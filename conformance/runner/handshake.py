"""The opening handshake of a case: build the request (as the case bends it), read and judge the
response, and negotiate permessage-deflate."""

from __future__ import annotations

__all__ = ["apply_header_edits", "do_handshake", "read_http_response", "request_bytes"]

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from conformance.catalog.model import ExpectResponse, HandshakeSpec, HeaderEdits
from conformance.engine import deflate as d
from conformance.engine.deflate import client_offer
from conformance.engine.handshake import ClientHandshake
from conformance.engine.rules import RULES, HandshakeError, ProtocolError
from conformance.errors import WireError
from conformance.targets.tcp import ServerTarget
from conformance.wire.extheader import ExtensionHeaderError, parse_extensions
from conformance.wire.http import Headers, Request, Response, parse_response

if TYPE_CHECKING:
    from conformance.runner.session import _Session

_MAX_HEAD = 65536


async def do_handshake(s: _Session, target: ServerTarget) -> bytes:
    """Send the request, read the response; returns octets that followed the response."""
    case, t = s.case, s.trace
    hs = case.handshake or HandshakeSpec()
    offers = case.deflate.offer_maps() if case.deflate is not None else []
    client = ClientHandshake(target.uri, subprotocols=hs.subprotocols,
                             extensions=client_offer(offers) if offers else None)
    raw = request_bytes(client.request(), hs)
    t.request = raw.decode("latin-1")
    if not await s.write(raw, label="opening handshake request"):
        t.handshake_note = "the connection was closed while the request was being sent"
        return b""
    response, leftover = await read_http_response(s, s.opts.wait)
    if response is None:
        return b""
    t.status = response.status
    if case.expect_response is not None:
        _check_expected_response(s, case.expect_response, response)
    else:
        try:
            result = client.check_response(response)
        except ProtocolError as exc:
            t.handshake_error = exc
            return b""
        t.opened = True
        _negotiate_deflate(s, result.extensions, offers)
    return leftover


def request_bytes(req: Request, hs: HandshakeSpec) -> bytes:
    """The request as `hs` bends it (or its raw octets)."""
    if hs.raw is not None:
        return hs.raw.materialize()
    if hs.method is not None:
        req.method = hs.method
    if hs.path is not None:
        req.path = hs.path
    if hs.http_version is not None:
        req.http_version = hs.http_version
    apply_header_edits(req.headers, hs.headers)
    for name, value in hs.extra_headers:
        req.headers[name] = value
    return req.serialize()


def apply_header_edits(headers: Headers, edits: HeaderEdits) -> None:
    """Replace each named header by the values given (none: remove it)."""
    for name, values in edits:
        if name in headers:
            del headers[name]
        for v in values:
            headers[name] = v


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


def _check_expected_response(s: _Session, exp: ExpectResponse, resp: Response) -> None:
    """For handshake cases: status, headers and subprotocol as the case requires."""
    t = s.trace
    if resp.status >= 500 and not exp.allows(resp.status):
        t.handshake_note = (f"the server answered {resp.status} {resp.reason}: a request it should "
                            "reject or decline made it fail")
        t.handshake_error = HandshakeError(RULES["handshake.server-error"], t.handshake_note)
        return
    if not exp.allows(resp.status):
        t.handshake_note = (f"the server answered {resp.status} {resp.reason}; expected "
                            f"{' or '.join(map(str, exp.status))}")
        return
    for name, want in exp.headers_for(resp.status):
        got = resp.headers.get_all(name)
        if want is None and got:
            t.handshake_note = f"the response carries {name}: {', '.join(got)}, which it must not"
            return
        if want is not None and not _tokens_match(got, want):
            t.handshake_note = f"the response must carry {name}: {want}; it carries {got or 'nothing'}"
            return
    if exp.subprotocol is not None:
        got_proto = resp.headers.get("Sec-WebSocket-Protocol")
        if got_proto not in exp.subprotocol:
            t.handshake_note = (f"the server selected subprotocol {got_proto!r}; acceptable: "
                                f"{', '.join(repr(a) for a in exp.subprotocol)}")
            return
    if resp.status == 101:
        t.opened = True
        if s.case.deflate is not None:
            try:
                exts = parse_extensions(resp.headers.get_all("Sec-WebSocket-Extensions"))
            except ExtensionHeaderError as exc:
                t.handshake_note = f"the response's Sec-WebSocket-Extensions is malformed: {exc}"
                t.opened = False
                return
            _negotiate_deflate(s, exts, s.case.deflate.offer_maps())


def _tokens_match(got: list[str], want: str) -> bool:
    have = {tok.strip().lower() for v in got for tok in v.split(",")}
    return all(tok.strip().lower() in have for tok in want.split(","))


def _negotiate_deflate(s: _Session, extensions: Sequence[tuple[str, d.Params]],
                       offers: Sequence[Mapping[str, str | int | bool]]) -> None:
    t = s.trace
    if not offers:
        return
    accepted = [params for name, params in extensions if name == "permessage-deflate"]
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


def _as_params(offer: Mapping[str, str | int | bool]) -> list[tuple[str, str | None]]:
    return [(k, None if v is True else str(v)) for k, v in offer.items() if v is not False]
