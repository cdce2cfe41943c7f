"""The opening handshake of a case, both halves. Testing a server, the suite sends the request (as
the case bends it), reads the response and negotiates permessage-deflate; testing a client, it
answers the client's request (as the case bends the response). The facts go to the trace; which
response a case accepts is the judge's `response_mismatch`."""

from __future__ import annotations

__all__ = ["do_handshake", "expect_rejection", "read_http_response", "request_bytes", "respond"]

import asyncio
from collections.abc import Mapping, Sequence

from conformance.catalog.model import HandshakeSpec
from conformance.engine import deflate as d
from conformance.engine.deflate import client_offer
from conformance.engine.handshake import ClientHandshake, ServerHandshake
from conformance.engine.rules import HandshakeError, ProtocolError
from conformance.errors import WireError
from conformance.runner.client_answers import answer_octets, is_probe_pong
from conformance.runner.context import Session
from conformance.runner.judge import response_mismatch
from conformance.targets.streams import HeadIncomplete, read_http_head
from conformance.targets.tcp import ServerTarget
from conformance.wire.extheader import ExtensionHeaderError, parse_extensions
from conformance.wire.http import Request, Response, edit_headers, parse_request, parse_response

_MAX_HEAD = 65536


async def do_handshake(s: Session, target: ServerTarget) -> bytes:
    """Send the request, read the response; returns octets that followed the response."""
    case, t = s.case, s.trace
    hs = case.handshake or HandshakeSpec()
    offers = case.deflate.offer_maps() if case.deflate is not None else []
    client = ClientHandshake(target.uri, subprotocols=hs.subprotocols,
                             extensions=client_offer(offers) if offers else None)
    raw = request_bytes(client.request(), hs)
    client.key = _raw_key(raw) or client.key  # a raw request is checked against its own key
    t.request = raw.decode("latin-1")
    if not await s.write(raw, label="opening handshake request"):
        t.handshake_note = "the connection was closed while the request was being sent"
        return b""
    response, leftover = await read_http_response(s, s.opts.wait)
    if response is None:
        return b""
    t.status = response.status
    t.response_head = response
    if case.expect_response is not None:
        if response.status == 101 and response_mismatch(case.expect_response, response) is None:
            _open_as_expected(s, response)
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
    edit_headers(req.headers, hs.headers)
    for name, value in hs.extra_headers:
        req.headers[name] = value
    return req.serialize()


def _raw_key(raw: bytes) -> str | None:
    """The Sec-WebSocket-Key of a request given as octets (None if it has none or does not parse)."""
    try:
        parsed = parse_request(raw)
    except WireError:
        return None
    return parsed[0].headers.get("Sec-WebSocket-Key") if parsed is not None else None


async def read_http_response(s: Session, timeout: float) -> tuple[Response | None, bytes]:
    """Read until a whole response head arrived; note on the trace what arrived otherwise."""
    assert s.reader is not None
    t = s.trace
    try:
        resp, raw, leftover = await read_http_head(s.reader, parse_response, timeout)
    except HeadIncomplete as exc:
        t.response = exc.received[:_MAX_HEAD].decode("latin-1")
        t.eof = t.eof or exc.kind == "eof"
        t.reset = t.reset or exc.kind == "reset"
        t.handshake_note = _incomplete(exc, timeout)
        return None, b""
    t.response = raw.decode("latin-1")
    t.log("rx", "octets", raw, f"opening handshake response {resp.status}")
    return resp, leftover


def _incomplete(exc: HeadIncomplete, timeout: float) -> str:
    """What arrived instead of a whole response (a fact for the judge to quote)."""
    if exc.kind == "invalid":
        return f"the response is not valid HTTP: {exc.detail}"
    if exc.kind == "timeout":
        return f"no complete response within {timeout:g} s ({len(exc.received)} octets received)"
    if exc.kind == "reset":
        return f"the connection was reset during the handshake ({exc.detail})"
    if exc.received:
        return "the server closed the connection in the middle of its response"
    return "the server closed the connection without a complete response"


def _open_as_expected(s: Session, resp: Response) -> None:
    """A handshake case whose 101 response is as required: the connection is open, with
    permessage-deflate if the case offered it and the response agrees."""
    t = s.trace
    t.opened = True
    if s.case.deflate is None:
        return
    try:
        exts = parse_extensions(resp.headers.get_all("Sec-WebSocket-Extensions"))
    except ExtensionHeaderError as exc:
        t.handshake_note = f"the response's Sec-WebSocket-Extensions is malformed: {exc}"
        t.opened = False
        return
    _negotiate_deflate(s, exts, s.case.deflate.offer_maps())


def _negotiate_deflate(s: Session, extensions: Sequence[tuple[str, d.Params]],
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


# -- the server half: testing a client ---------------------------------------------------------

async def respond(s: Session, request: Request) -> bool:
    """Send the opening handshake response; True when the connection is open."""
    case, t = s.case, s.trace
    selector = d.OfferSelector(case.deflate.accept_maps()) if case.deflate is not None else None
    shake = ServerHandshake(select_extensions=selector)
    try:
        shake.check_request(request)
        response, _ = shake.accept(request)
    except HandshakeError as exc:
        t.handshake_error = exc
        await s.write(shake.reject(exc).serialize())
        return False
    if selector is not None:  # permessage-deflate as the case's `accept` says
        t.deflate_negotiated = selector.agreed is not None
        if selector.agreed is not None:
            s.deflate = d.negotiated_codec(selector.agreed, "server", s.opts.max_message)
    override = case.handshake.response if case.handshake else None
    raw, glued = answer_octets(response, override, request.headers.get("Sec-WebSocket-Key") or "",
                               reject=case.expect_client == "reject")
    t.response = raw.decode("latin-1")
    chop, delay = (override.chop, override.delay) if override is not None else (0, 0.0)
    label = "opening handshake response" + (" with frames glued to its end" if glued else "")
    if not await s.write(raw + glued, chop=chop, delay=delay, label=label):  # one write; write() logs it
        return False
    t.opened = case.expect_client != "reject"
    t.status = response.status
    return True


async def expect_rejection(s: Session) -> None:
    """After a response the client must refuse: it must close without sending any frame."""
    t = s.trace
    assert s.reader is not None
    try:
        data = await asyncio.wait_for(s.reader.read(65536), s.opts.wait)
    except TimeoutError:
        t.client_reaction = "kept-open"
        t.log("rx", "event", text=f"the client kept the connection open for {s.opts.wait:g} s: no TCP close, "
              "no octets")
        return
    except (ConnectionError, OSError):
        data = b""
    if data:
        t.log("rx", "octets", data, "client sent data after a response it must reject")
        t.client_reaction = "answered-probe" if is_probe_pong(data) else "sent-frames"
    else:
        t.client_reaction = "closed"
        t.eof = True
        t.eof_first = True
        t.log("rx", "event", text="the client closed TCP without sending anything: it refused the answer")
