"""Run one case against a client: the suite is the server, the client under test connected to it.

The same steps, trace and judge as server testing, with the roles reversed: the suite sends
unmasked frames and its engine (role SERVER) checks that the client masks every frame; the
suite closes TCP as soon as the closing handshake is complete (or it failed the connection).
Cases with `expect_client: reject` answer the handshake wrongly on purpose (case's
`handshake.response`); the client must then fail the connection without sending frames.
"""

from __future__ import annotations

__all__ = ["execute_client_case"]

import asyncio

from conformance.catalog.model import Case
from conformance.engine import deflate as d
from conformance.engine.connection import Role, State
from conformance.engine.handshake import ServerHandshake
from conformance.engine.rules import HandshakeError
from conformance.runner.client_answers import answer_octets, describe_answer, is_probe_pong
from conformance.runner.session import (
    RunOptions,
    Trace,
    _matches_any,
    _Session,
    _teardown,
    case_budget,
    deflate_missing,
)
from conformance.runner.steps import run_steps
from conformance.wire.http import Request


async def execute_client_case(case: Case, request: Request, raw_request: bytes, leftover: bytes,
                              reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                              opts: RunOptions) -> Trace:
    """Answer `request` as the case says, then run the case; never raises for what the client does."""
    trace = Trace(testing="client")
    trace.connected = True
    trace.request = raw_request.decode("latin-1")
    s = _Session(case, opts, trace)
    s.reader, s.writer = reader, writer
    budget = case_budget(case, opts)
    try:
        async with asyncio.timeout(budget):
            if not await _respond(s, request):
                return trace
            if case.expect_client == "reject":
                await _expect_rejection(s)
                return trace
            s.start(Role.SERVER, leftover)
            if not deflate_missing(case, trace):
                await run_steps(s, case.steps)
            await _finish_as_server(s)
    except TimeoutError:
        trace.timed_out = f"the case did not finish within its budget of {budget:g} s"
    except (ConnectionError, OSError) as exc:
        trace.reset = True
        trace.log("rx", "event", text=f"connection error: {exc}")
    finally:
        await _teardown(s)
    return trace


async def _respond(s: _Session, request: Request) -> bool:
    """Send the opening handshake response; True when the connection is open."""
    case, t = s.case, s.trace
    selector = d.OfferSelector(case.deflate.accept_maps()) if case.deflate is not None else None
    shake = ServerHandshake(select_extensions=selector)
    try:
        shake.check_request(request)
        response, _ = shake.accept(request)
    except HandshakeError as exc:
        t.handshake_error = exc
        t.handshake_note = f"the client's opening handshake is not valid: {exc}"
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


async def _expect_rejection(s: _Session) -> None:
    """After a response the client must refuse: it must close without sending any frame."""
    t = s.trace
    assert s.reader is not None
    answer = describe_answer(s.case.handshake.response if s.case.handshake else None)  # what we sent
    try:
        data = await asyncio.wait_for(s.reader.read(65536), s.opts.wait)
    except TimeoutError:
        t.handshake_note = (f"the client kept the connection open for {s.opts.wait:g} s after a "
                            f"handshake response it must reject (the suite's answer had {answer})")
        return
    except (ConnectionError, OSError):
        data = b""
    if data:
        t.log("rx", "octets", data, "client sent data after a response it must reject")
        took = "answered the ping glued to it with a pong" if is_probe_pong(data) else f"sent {len(data)} octets"
        t.handshake_note = (f"the client accepted a handshake response it must reject (the suite's answer "
                            f"had {answer}) and {took}")
    else:
        t.eof = True
        t.eof_first = True


async def _finish_as_server(s: _Session) -> None:
    """Close as the case expects, then close TCP at once (RFC 6455 §7.1.1, §5.5.1: the server
    closes TCP first, right after the closing handshake), so close order is never a race."""
    t, case, opts = s.trace, s.case, s.opts
    conn = s.conn
    assert conn is not None
    if case.close.by == "us":
        await s.wait_for(lambda: t.peer_closed or _matches_any(case, t), opts.wait)
    else:
        await s.wait_for(lambda: t.peer_closed, opts.wait)
    if conn.state is State.OPEN and not t.eof and not t.reset:
        conn.close(1000)
        s.mark_close_sent()
        t.log("tx", "event", text="starting the closing handshake (1000)")
        await s.flush()
    # Complete: the client's close is in (when it came first, the reader has already written our
    # reply), or we failed the connection, or the client is gone. `wait` only bounds a client
    # that leaves the connection open.
    await s.wait_for(lambda: t.peer_closed, opts.wait)
    await _close_tcp(s)


async def _close_tcp(s: _Session) -> None:
    """The suite closes its side of TCP now. Half-closing (FIN after our last frame) rather than
    closing keeps the kernel from answering late octets of the client with a reset that could
    destroy our close frame; the client's own FIN is then awaited a while, judged by nothing."""
    t = s.trace
    if s.writer is None or t.eof or t.reset or not s.writer.can_write_eof():
        return  # the client closed already, or TLS: `_teardown` closes the connection now
    if t.eof_first is None:
        t.eof_first = False
    t.dropped_by_me = True
    t.log("tx", "event", text="the suite closes the TCP connection")
    try:
        s.writer.write_eof()
    except (ConnectionError, OSError, RuntimeError):
        return
    await s.wait_for(lambda: t.eof, s.opts.close_grace)
