"""The opening handshake over HTTP/3 (RFC 9220): the extended CONNECT of RFC 8441 on a QUIC
request stream. The request, the judging of the answer and of the setting are those of
conformance/runner/h2_handshake.py; what differs is the connection (QUIC, TLS 1.3, ALPN h3),
the setting's frame (HTTP/3 SETTINGS, RFC 9220 §3) and how a refusal reads (HTTP/3 error codes).
"""

from __future__ import annotations

__all__ = ["open_h3"]

from typing import TYPE_CHECKING

from conformance.engine.h3rules import FLOW_CONTROL
from conformance.runner.h2_handshake import _wait, check_settings, read_connect_response, send_connect
from conformance.targets.h2 import H2Stream
from conformance.targets.h3 import _ENABLE_CONNECT, DEFAULT_WINDOW, H3Link, H3Stream, H3Target, connect_h3, error_name

if TYPE_CHECKING:
    from conformance.runner.context import Session

# the cases written for HTTP/3 receive with a small stream window, so that a server's flow
# control is exercised (41.3.2); the rest of the catalogue with a wide one, for speed
SMALL_WINDOW = 65535
_FLOW_CONTROL_ERROR = 0x3  # RFC 9000 §20.1


async def open_h3(s: Session, target: H3Target, timeout: float) -> None:
    """Connect over QUIC, wait for the server's SETTINGS, send the extended CONNECT if they allow
    it and read the answer; on a 2xx the session's reader and writer become the stream."""
    t = s.trace
    link = await connect_h3(target, timeout, SMALL_WINDOW if s.case.transport == "h3" else DEFAULT_WINDOW)
    link.on_error = lambda code, why: _peer_error(s, code, why)
    t.connected = True
    seen = await _wait(link.settings_seen, s.opts.wait)
    check_settings(s, link)  # type: ignore[arg-type]  # the H2Link interface
    if not seen or link.error or link.remote_settings.get(_ENABLE_CONNECT) != 1:
        t.handshake_note = link.error or (
            f"the server sent no HTTP/3 SETTINGS within {s.opts.wait:g} s" if not seen else
            "the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 in its HTTP/3 SETTINGS, so no "
            "extended CONNECT may be sent (RFC 9220 §3): it offers no WebSocket over HTTP/3")
        await _close(link)
        return
    stream = send_connect(s, link, target)  # type: ignore[arg-type]  # the H2Link interface
    await read_connect_response(s, stream, target, ended=_ended)
    check_settings(s, link)  # type: ignore[arg-type]


def _peer_error(s: Session, code: int, why: str) -> None:
    """What our QUIC or HTTP/3 layer refused from the server, as a rule when one of ours covers it."""
    if code == _FLOW_CONTROL_ERROR:
        s.trace.violations.append((FLOW_CONTROL, f"the server sent more stream data than the limits allowed ({why})"))
    s.trace.log("rx", "event", text=f"the server broke QUIC or HTTP/3: {why}")


def _ended(stream: H2Stream) -> str:
    """How the stream or the connection ended without a final answer, in HTTP/3's words."""
    assert isinstance(stream, H3Stream)
    link = stream.link
    first = link.h3.first_fields.get(stream.id)
    status = dict(first or []).get(b":status", b"").decode("latin-1")
    said = f" after answering :status {status}" if status else ""
    if link.goaway is not None and stream.id >= link.goaway:
        return f"the server refused with GOAWAY (stream {link.goaway}){said}"
    if stream.reset_code is not None and stream.reset_code >= 0:
        return f"the server reset the stream instead of answering (RESET_STREAM {error_name(stream.reset_code)}){said}"
    if link.close_code is not None:
        return f"the server closed the connection ({error_name(link.close_code)}){said}"
    if status:  # the suite's HTTP/3 layer refused the answer (a 101, say: HTTP/3 has none, RFC 9114 §4.5)
        return f"the server answered :status {status}, not a 2xx; {link.error}"
    if stream.ended_by_peer:
        return "the server ended the stream without a response"
    return ""


async def _close(link: H3Link) -> None:
    link.close_soon()
    await link.wait_closed()
