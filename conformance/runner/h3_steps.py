"""The HTTP/3 steps of a case (RFC 9220 §3): FIN without a close frame, the stream reset with
H3_REQUEST_CANCELLED, GOAWAY with the stream open, and more WebSocket streams on the connection.

FIN and the extra streams are the HTTP/2 steps' own code (conformance/runner/h2_steps.py) on an
HTTP/3 stream. The reset synchronises on QUIC acknowledgements: aioquic answers in the same
transmission as it acknowledges, so once a PING sent after the reset is acknowledged, the peer's
answer to the STOP_SENDING has been sent.
"""

from __future__ import annotations

__all__ = ["run_h3_step"]

from typing import TYPE_CHECKING

from conformance.catalog.model import H3Fin, H3Reset, H3Streams, Step
from conformance.engine.connection import StateError
from conformance.engine.h3rules import STOP_SENDING
from conformance.runner.h2_steps import _end_stream, _more_streams
from conformance.targets.h3 import H3Stream, error_name

if TYPE_CHECKING:
    from conformance.runner.context import Session

_AFTER_RESET_PINGS = 3


async def run_h3_step(s: Session, step: Step) -> bool:
    """Run one of the HTTP/3 steps on the session's stream; False: the case's steps end here."""
    stream = s.writer
    if not isinstance(stream, H3Stream):  # the steps stop here, saying why
        raise StateError(f"{step.key} needs an HTTP/3 stream (run with --http3)")
    if isinstance(step, H3Reset):
        return await _reset(s, stream, step.code)
    if isinstance(step, H3Streams):  # the same fields as h2_streams: the HTTP/2 step's code
        return await _more_streams(s, stream, step)
    return await (_end_stream(s, stream) if isinstance(step, H3Fin) else _goaway(s, stream))


async def _reset(s: Session, stream: H3Stream, code: int) -> bool:
    """RESET_STREAM and STOP_SENDING, then PINGs; a server still sending on the stream must answer
    the STOP_SENDING with RESET_STREAM (RFC 9000 §3.5), not with FIN."""
    t, link = s.trace, stream.link
    t.log("tx", "event", text=f"RESET_STREAM and STOP_SENDING {error_name(code)} on stream {stream.id}")
    t.dropped_by_me = True  # the suite ends the stream, as a reset ends TCP
    sending = not stream.ended_by_peer  # the server had not ended its side yet
    link.reset_stream(stream, code, end_reading=False)
    try:
        for _ in range(_AFTER_RESET_PINGS):
            if not await link.ping(b"", s.opts.wait) or stream.reset_code is not None:
                break
        got = stream.reset_code
        if got is not None and got >= 0:
            t.log("rx", "event", text=f"RESET_STREAM {error_name(got)} on stream {stream.id}")
        elif sending and stream.ended_by_peer:
            t.violations.append((STOP_SENDING, f"the server ended stream {stream.id} with FIN after the suite's "
                                 "STOP_SENDING, not with RESET_STREAM"))
        elif sending and not link.closed.is_set():
            t.violations.append((STOP_SENDING, f"the server did not reset stream {stream.id} after the suite's "
                                 "STOP_SENDING"))
    finally:
        link.end_reading(stream)
    return False


async def _goaway(s: Session, stream: H3Stream) -> bool:
    """The client's GOAWAY names a push ID (RFC 9114 §5.2): it concerns pushes, not the client's
    own request streams, so the WebSocket goes on."""
    s.trace.log("tx", "event", text=f"GOAWAY (push ID 0) with stream {stream.id} open")
    stream.link.send_goaway(0)
    await stream.link.drain()
    return not (s.trace.eof or s.trace.reset)
