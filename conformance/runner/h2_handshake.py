"""The opening handshake over HTTP/2 (RFC 8441): the extended CONNECT in place of the HTTP/1.1
upgrade. The rest of a case runs unchanged on the stream it opens.

RFC 8441 §3: the client waits for the server's SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 before it
sends `:protocol`; §4-§5: the request is a CONNECT with `:protocol websocket`, `:scheme`, `:path`
and `:authority`, the RFC 6455 headers Sec-WebSocket-Version, -Protocol and -Extensions keep their
meaning, and a 2xx answer opens the stream; Connection, Upgrade, Sec-WebSocket-Key and
Sec-WebSocket-Accept are not used.
"""

from __future__ import annotations

__all__ = ["check_settings", "h2_inapplicable", "h2_request_headers", "open_h2", "read_connect_response", "send_connect"]

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import h2.errors
import h2.exceptions
import h2.settings

from conformance.catalog.model import Case, ExpectResponse, HandshakeSpec
from conformance.engine.deflate import client_offer
from conformance.engine.h2rules import (
    CONNECT_NOT_OFFERED,
    CONNECT_SETTING_VALUE,
    CONNECT_SETTING_WITHDRAWN,
    FLOW_CONTROL,
    MALFORMED_RESPONSE,
)
from conformance.engine.handshake import ClientHandshake
from conformance.engine.rules import RULES, ProtocolError
from conformance.runner.handshake import _negotiate_deflate
from conformance.targets.h2 import DEFAULT_WINDOW, H2Link, H2Stream, H2Target
from conformance.targets.tcp import open_connection
from conformance.wire.http import Headers, edit_headers

if TYPE_CHECKING:
    from conformance.runner.context import Session

_ENABLE_CONNECT = int(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
_INITIAL_WINDOW = 65535  # RFC 9113 §6.9.2
# HTTP/1.1 upgrade headers with no place in an HTTP/2 request (RFC 8441 §5; RFC 9113 §8.2.2)
_HTTP1_ONLY = ("connection", "upgrade", "sec-websocket-key")


def h2_inapplicable(case: Case, transport: str = "h2") -> str:
    """Why `case` cannot run over HTTP/2 ("" if it can); `transport` "h3": over HTTP/3 (RFC 9220)."""
    if case.role == "client":
        return "it tests a client"
    if case.transport and case.transport != transport:
        return f"it is written for {'HTTP/2' if case.transport == 'h2' else 'HTTP/3'} only"
    if case.expect_response is not None and case.transport != transport:
        return "it judges the HTTP/1.1 upgrade response"
    if case.resources is not None:
        return "a resource case: its liveness probe and hostile requests speak HTTP/1.1"
    hs = case.handshake
    if hs is not None and (hs.raw is not None or hs.method or hs.path or hs.http_version):
        return "it bends the HTTP/1.1 request line or sends raw octets as the request"
    if hs is not None and any(name.lower() in _HTTP1_ONLY for name, _ in hs.headers):
        return "it edits an HTTP/1.1 upgrade header"
    return ""


def h2_request_headers(case: Case, target: H2Target) -> list[tuple[bytes, bytes]]:
    """The extended CONNECT of RFC 8441 §4, with the case's subprotocols, offers and header edits."""
    hs = case.handshake or HandshakeSpec()
    uri = target.uri
    h = Headers([(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", target.scheme),
                 (":path", uri.resource_name), (":authority", uri.host_header),
                 ("sec-websocket-version", "13")])
    if hs.subprotocols:
        h["sec-websocket-protocol"] = ", ".join(hs.subprotocols)
    offers = case.deflate.offer_maps() if case.deflate is not None else []
    if offers:
        h["sec-websocket-extensions"] = client_offer(offers)
    edit_headers(h, hs.headers)
    # the cases written for HTTP/2 send names as written (an upper-case name is malformed, RFC 9113
    # §8.2.1); the RFC 6455 catalogue's edits use HTTP/1.1 spellings, which HTTP/2 lower-cases
    name = (lambda k: k) if case.transport == "h2" else str.lower
    fields = [(name(k).encode("latin-1"), v.encode("latin-1")) for k, v in h.raw_items()]
    # pseudo-header fields first (RFC 9113 §8.3), whichever the edits appended; the extra headers
    # come last as they are, so that a case can place a pseudo-header field after a regular one
    fields.sort(key=lambda kv: not kv[0].startswith(b":"))
    return fields + [(name(k).encode("latin-1"), v.encode("latin-1")) for k, v in hs.extra_headers]


async def open_h2(s: Session, target: H2Target, timeout: float) -> None:
    """Connect, exchange SETTINGS, send the extended CONNECT and read the answer; on a 2xx the
    session's reader and writer become the stream and the trace says the connection is open."""
    t = s.trace
    reader, writer = await open_connection(target, timeout)
    s.reader, s.writer = reader, writer  # until the stream opens: teardown closes TCP
    t.connected = True
    if target.uri.secure and writer.get_extra_info("ssl_object").selected_alpn_protocol() != "h2":
        t.handshake_note = "the server did not select HTTP/2 with ALPN h2 (RFC 9113 §3.2)"
        return
    # the cases written for HTTP/2 receive with the protocol's initial window, so that a server's
    # flow control is exercised; the rest of the catalogue with a wide one, for speed
    window = _INITIAL_WINDOW if s.case.transport == "h2" else DEFAULT_WINDOW
    link = H2Link(reader, writer, client=True, validate=False, window=window)
    link.on_error = lambda exc: _peer_error(s, exc)
    link.start()
    seen = await _wait(link.settings_seen, s.opts.wait)
    check_settings(s, link)  # also when the library refused the frame (a value other than 0 or 1)
    if not seen or link.error:
        t.handshake_note = link.error or f"the server sent no SETTINGS frame within {s.opts.wait:g} s"
        return
    if link.remote_settings.get(_ENABLE_CONNECT) != 1:
        t.handshake_note = ("the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, so no extended "
                            "CONNECT may be sent (RFC 8441 §3): it offers no WebSocket over HTTP/2")
        if not t.handshake_error:  # not offering it breaks no rule: the case cannot run (UNIMPLEMENTED)
            t.handshake_error = ProtocolError(CONNECT_NOT_OFFERED, t.handshake_note)
        return
    stream = send_connect(s, link, target)
    await read_connect_response(s, stream, target)
    check_settings(s, link)


def send_connect(s: Session, link: H2Link, target: H2Target) -> H2Stream:
    """The extended CONNECT on a new stream of `link` (an HTTP/3 link too), recorded in the trace;
    from now on the session reads and writes the stream."""
    request = h2_request_headers(s.case, target)
    stream = link.open_stream(request, owns_link=True)
    s.reader = s.writer = stream  # type: ignore[assignment]  # it reads and writes like the asyncio pair
    s.trace.request = _show(f"HEADERS (stream {stream.id})", request)
    s.trace.log("tx", "event", text=f"extended CONNECT on stream {stream.id}")
    return stream


def _peer_error(s: Session, exc: h2.exceptions.ProtocolError) -> None:
    """What the h2 library refused from the server, as a rule when one of ours covers it."""
    if isinstance(exc, h2.exceptions.FlowControlError):
        s.trace.violations.append((FLOW_CONTROL, f"the server sent more DATA than the window allowed ({exc})"))
    s.trace.log("rx", "event", text=f"HTTP/2 protocol error by the server: {type(exc).__name__}: {exc}")


def check_settings(s: Session, link: H2Link) -> None:
    """RFC 8441 §3: the value is 0 or 1, and a 1 is never followed by a 0."""
    values, t = link.connect_protocol_values, s.trace
    bad = [v for v in values if v not in (0, 1)]
    if bad and not any(r is CONNECT_SETTING_VALUE for r, _ in t.violations):
        t.violations.append((CONNECT_SETTING_VALUE, f"the server sent SETTINGS_ENABLE_CONNECT_PROTOCOL = {bad[0]}"))
        t.handshake_error = ProtocolError(CONNECT_SETTING_VALUE, f"SETTINGS_ENABLE_CONNECT_PROTOCOL = {bad[0]}")
    if 1 in values and 0 in values[values.index(1):] and not any(r is CONNECT_SETTING_WITHDRAWN for r, _ in t.violations):
        t.violations.append((CONNECT_SETTING_WITHDRAWN, "the server sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, then 0"))


async def read_connect_response(s: Session, stream: H2Stream, target: H2Target,
                                ended: Callable[[H2Stream], str] | None = None) -> None:
    """The answer to the extended CONNECT, judged as RFC 8441 §5 (RFC 9220 §3) says; `ended`
    tells how the stream ended when no answer came (HTTP/3 names its own error codes)."""
    t = s.trace
    if not await _wait(stream.headers_ready, s.opts.wait) or not stream.headers:
        refusal = (ended or _ended)(stream) or stream.link.error
        if s.case.expect_response is not None and refusal and not s.case.expect_response.allows(200):
            t.response = refusal  # a refusal by RST_STREAM or GOAWAY, as RFC 9113 §8.1.1 allows
            t.log("rx", "event", text=refusal)
            return
        t.handshake_note = refusal or f"no response HEADERS within {s.opts.wait:g} s"
        return
    headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in stream.headers])
    t.response = _show(f"HEADERS (stream {stream.id})", stream.headers)
    t.log("rx", "event", text=f"response HEADERS :status {headers.get(':status')}")
    status = headers.get(":status") or ""
    t.status = int(status) if status.isdigit() else None
    malformed = _malformed_response(stream.headers)
    if malformed:
        t.handshake_note = f"the response is malformed: {malformed}"
        t.handshake_error = ProtocolError(MALFORMED_RESPONSE, t.handshake_note)
        return
    if s.case.expect_response is not None and t.status is not None:
        _check_expected(s, s.case.expect_response, t.status, headers)
        if not t.opened:
            return
    elif t.status is None or not 200 <= t.status < 300:
        t.handshake_note = (f"the server answered the extended CONNECT with :status {status or 'missing'}, "
                            "not 2xx (RFC 8441 §5)")
        return
    hs = s.case.handshake or HandshakeSpec()
    offers = s.case.deflate.offer_maps() if s.case.deflate is not None else []
    check = ClientHandshake(target.uri, subprotocols=hs.subprotocols,
                            extensions=client_offer(offers) if offers else None)
    try:
        check._subprotocol(headers)
        extensions = check._extensions(headers)
    except ProtocolError as exc:
        t.handshake_error = exc
        return
    t.opened = True
    _negotiate_deflate(s, extensions, offers)


def _check_expected(s: Session, exp: ExpectResponse, status: int, headers: Headers) -> None:
    """For the cases that bend the extended CONNECT: the answer's status as the case allows, and
    the fields a refusal must carry (RFC 6455 §4.4: the versions the server speaks)."""
    t = s.trace
    if not exp.allows(status):
        want = " or ".join(map(str, exp.status))
        t.handshake_note = f"the server answered :status {status}; expected {want} (or, for a refusal, RST_STREAM)"
        if 200 <= status < 300 and s.case.rule in RULES:
            t.handshake_error = ProtocolError(RULES[s.case.rule], t.handshake_note)
        return
    t.opened = 200 <= status < 300
    wanted = exp.refusal_headers if not t.opened else ()
    for name, value in wanted + exp.headers:
        got = headers.get_all(name)
        tokens = {tok.strip().lower() for v in got for tok in v.split(",")}
        if (value is None and got) or (value is not None and value.lower() not in tokens):
            t.handshake_note = (f"the server answered :status {status} with {name}: {', '.join(got) or '(none)'}; "
                                f"expected {'no such field' if value is None else value}")
            t.opened = False
            if s.case.rule in RULES:
                t.handshake_error = ProtocolError(RULES[s.case.rule], t.handshake_note)
            return


# connection-specific fields, which make an HTTP/2 message malformed (RFC 9113 §8.2.2)
_CONNECTION_SPECIFIC = (b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding", b"upgrade")


def _malformed_response(fields: list[tuple[bytes, bytes]]) -> str:
    """Why the response's field block is malformed (RFC 9113 §8.2.1-§8.2.2), or ""."""
    for k, _v in fields:
        if k != k.lower():
            return f"field name {k.decode('latin-1')!r} is not lower case (RFC 9113 §8.2.1)"
        if k in _CONNECTION_SPECIFIC:
            return f"it carries the connection-specific field {k.decode('latin-1')} (RFC 9113 §8.2.2)"
    return ""


def _ended(stream: H2Stream) -> str:
    goaway = stream.link.goaway
    if goaway is not None:
        return f"the server refused with GOAWAY ({_code_name(int(goaway.error_code or 0))})"
    if stream.reset_code is not None:
        return f"the server reset the stream instead of answering (RST_STREAM {_code_name(stream.reset_code)})"
    if stream.ended_by_peer:
        return "the server ended the stream without a response"
    return ""


def _code_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return "(the connection was lost)" if code < 0 else str(code)


def _show(title: str, headers: list[tuple[bytes, bytes]]) -> str:
    lines = [title] + [f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in headers]
    return "\r\n".join(lines) + "\r\n\r\n"


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True
