"""Run one case, the top of the runner: one path for server and for client testing.

Testing a server, the suite is the client: it connects, sends the request and reads the response;
testing a client, the suite is the server: it answers the request the client sent. From there on
both are the same: the steps (steps.py), then the close the case expects, on a `Session` whose
facts go to a `Trace` (trace.py) that `judge.py` turns into verdicts. The role decides only the
handshake half and who closes TCP first (RFC 6455 §7.1.1: the server). A case never outlives its
budget: on timeout the trace so far is judged.
"""

from __future__ import annotations

__all__ = ["RunOptions", "Trace", "TxFrames", "case_budget", "deflate_missing", "execute_case", "guarded",
           "execute_client_case"]

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from conformance.catalog.model import Case
from conformance.engine.connection import Role, State
from conformance.errors import TargetError
from conformance.runner.context import Session, teardown
from conformance.runner.handshake import do_handshake, expect_rejection, respond
from conformance.runner.judge import match_observations
from conformance.runner.redirect import RedirectListener, with_location
from conformance.runner.steps import run_steps
from conformance.runner.trace import RunOptions, Trace, TxFrames, case_budget, deflate_missing
from conformance.targets.h2 import H2Target
from conformance.targets.streams import Reader, Writer
from conformance.targets.tcp import ServerTarget, open_connection
from conformance.wire.http import Request


async def execute_case(case: Case, target: ServerTarget, opts: RunOptions) -> Trace:
    """Run `case` against the server at `target`; never raises for anything the target does."""
    s = Session(case, opts, Trace())
    # the bounds this case ran under, so that `conformance replay` can run it under the same ones
    s.trace.measurements["limits"] = {"budget": case_budget(case, opts), "wait": opts.wait, "settle": opts.settle}

    async def open_half() -> bytes | None:
        timeout = min(case_budget(case, opts), opts.wait * 2)
        if type(target).__name__ == "H3Target":  # RFC 9220: over QUIC (runner/h3_handshake.py)
            from conformance.runner.h3_handshake import open_h3

            async with _timed(s, "handshake"):
                await open_h3(s, target, timeout)  # type: ignore[arg-type]
            return b"" if s.trace.opened else None
        if isinstance(target, H2Target):  # RFC 8441: the extended CONNECT (runner/h2_handshake.py)
            from conformance.runner.h2_handshake import open_h2

            async with _timed(s, "handshake"):
                await open_h2(s, target, timeout)
            return b"" if s.trace.opened else None
        async with _timed(s, "connect"):
            # only an upper bound (a refused port fails at once): a short --wait (the fuzzers' 0.5 s)
            # must not turn a loaded machine's slow accept into "no TCP connection"
            s.reader, s.writer = await open_connection(target, max(timeout, min(case_budget(case, opts), 5.0)))
        s.trace.connected = True
        sockname = s.writer.get_extra_info("sockname")
        s.trace.local_port = sockname[1] if sockname else None
        async with _timed(s, "handshake"):
            leftover = await do_handshake(s, target)
        return leftover if s.trace.opened else None

    return await _execute(s, Role.CLIENT, open_half)


async def execute_client_case(case: Case, request: Request, raw_request: bytes, leftover: bytes,
                              reader: Reader, writer: Writer, opts: RunOptions,
                              moved_on: Callable[[], Awaitable[object]] | None = None) -> Trace:
    """Answer the client's `request` as the case says, then run the case; never raises for what
    the client does. Cases with `expect_client: reject` answer wrongly on purpose: the client
    must then fail the connection without sending a frame. A redirect case (its answer's
    `redirect`) points the client at a second listener and records whether it follows there or
    moves on (`moved_on`: resolves when the client's next connection reaches the suite)."""
    s = Session(case, opts, Trace(testing="client", connected=True, request=raw_request.decode("latin-1")))
    s.reader, s.writer = reader, writer
    path = case.handshake.response.redirect if case.handshake and case.handshake.response else None
    if path is not None:
        async with RedirectListener(path, opts.browser) as second:
            s.case = with_location(case, second.location)
            trace = await _execute(s, Role.SERVER, lambda: _answer_client(s, request, leftover))
            trace.redirect = r = await second.watch(moved_on, opts.wait * 2)
            if r.request:
                trace.log("rx", "octets", r.request.encode("latin-1"), f"a handshake at the Location {r.location}")
            else:
                trace.log("rx", "event", text=f"no handshake at the Location {r.location} ({r.outcome}, {r.waited:.2f} s)")
            return trace
    return await _execute(s, Role.SERVER, lambda: _answer_client(s, request, leftover))


async def _answer_client(s: Session, request: Request, leftover: bytes) -> bytes | None:
    async with _timed(s, "handshake"):
        if not await respond(s, request):
            return None
    if s.case.expect_client == "reject":
        async with _timed(s, "reject"):
            await expect_rejection(s)
        return None
    return leftover


@contextlib.asynccontextmanager
async def _timed(s: Session, phase: str) -> AsyncIterator[None]:
    """Account the time of a wait that is not a `Session.wait_for` (connect, the handshake) to
    `phase`. It ended on a timer when a bound ran out: the case's budget (TimeoutError), the
    connect bound (TargetError "... within N s"), the response bound (the trace's note) or, for
    a client that must refuse the answer, the wait for its reaction ("kept-open")."""
    s.phase = phase
    start = time.monotonic()
    before = sum(s.trace.waited.values())
    timer = False
    try:
        yield
    except (TimeoutError, TargetError) as exc:
        timer = isinstance(exc, TimeoutError) or " within " in str(exc)
        raise
    finally:
        t = s.trace
        timer = timer or " within " in t.handshake_note or t.client_reaction == "kept-open"
        inner = sum(t.waited.values()) - before  # waits inside, counted already
        t.add_wait(phase, time.monotonic() - start - inner, timer=timer)


async def _execute(s: Session, role: Role, open_half: Callable[[], Awaitable[bytes | None]]) -> Trace:
    """The handshake half of `role`, the steps, the close; the trace whatever happens."""

    async def body() -> None:
        leftover = await open_half()
        if leftover is None:
            return
        s.start(role, leftover)
        if not deflate_missing(s.case, s.trace):
            await run_steps(s, s.case.steps)
        s.phase = "close"
        await _finish(s)

    return await guarded(s, case_budget(s.case, s.opts), body)


async def guarded(s: Session, budget: float, body: Callable[[], Awaitable[None]]) -> Trace:
    """Run `body` within `budget` seconds and tear the connection down after it; what the target
    did (a timeout, a refusal, a reset) goes into the trace, never out as an exception."""
    trace = s.trace
    try:
        async with asyncio.timeout(budget):
            await body()
    except TimeoutError:
        trace.timed_out = f"the case did not finish within its budget of {budget:g} s"
        trace.log("tx", "event", text=trace.timed_out)
    except TargetError as exc:
        trace.handshake_note = str(exc)
        trace.log("tx", "event", text=str(exc))
    except (ConnectionError, OSError) as exc:
        trace.reset = True
        trace.log("rx", "event", text=f"connection error: {exc}")
    finally:
        await teardown(s)
    return trace


async def _finish(s: Session) -> None:
    """Close as the case expects: the suite starts the closing handshake, or it waits for the
    peer's; then TCP closes, the server's side first."""
    t, case, opts = s.trace, s.case, s.opts
    conn = s.conn
    assert conn is not None
    if case.expect.any and not t.peer_closed:
        s.phase = "close:settle"
        await _settle_any(s)
    elif case.close.by == "us":
        s.phase = "close:expect"  # the expected traffic (an echo, a pong), or the peer's close
        await s.wait_for(lambda: t.peer_closed or match_observations(case, t.observations) is not None, opts.wait)
    else:
        s.phase = "close:peer"  # the peer must close (fail the connection)
        await s.wait_for(lambda: t.peer_closed, opts.wait)
    if conn.state is State.OPEN and not t.eof and not t.reset:
        conn.close(1000)
        s.mark_close_sent(1000)
        t.log("tx", "event", text="starting the closing handshake (1000)")
        await s.flush()
    if conn.role is Role.CLIENT:
        s.phase = "close:reply"  # the peer's answer to our close (or its TCP close)
        await s.wait_for(lambda: t.eof or (t.close_received is not None), opts.wait)
        s.phase = "close:tcp"
        # the server closes TCP first (§7.1.1, a SHOULD): give it as long as any reaction, so that a
        # loaded machine's scheduling is never read as a server that leaves TCP open
        await s.wait_for(lambda: t.eof, max(opts.close_grace, opts.wait))
        return
    # As the server: complete when the client's close is in (when it came first, the reader has
    # already written our reply), or we failed the connection, or the client is gone. `wait`
    # only bounds a client that leaves the connection open. Then the suite closes TCP at once,
    # so close order is never a race.
    s.phase = "close:reply"
    await s.wait_for(lambda: t.peer_closed, opts.wait)
    if case.close.linger and t.close_received is not None and not t.eof and not t.reset:
        # §7.1.1: the client should wait for the server's TCP close; keep it open a while and see
        t.linger = case.close.linger
        t.log("tx", "event", text=f"the suite keeps TCP open up to {t.linger:g} s after the closing handshake")
        s.phase = "close:linger"
        await s.wait_for(lambda: t.eof or t.reset, t.linger)
    await _close_tcp(s)


async def _settle_any(s: Session) -> None:
    """"Anything goes": nothing to wait for but the peer having read all the steps, which the
    pong to a ping proves; after the suite's close, its close reply (or EOF) does."""
    t = s.trace
    if s.can_sync():
        await s.wait_for(lambda: t.peer_closed, s.opts.wait)
        return
    if await s.sync(s.opts.wait, "before closing") == "timeout":
        t.timing_notes.append(f"the peer answered neither the final ping nor closed within {s.opts.wait:g} s")


async def _close_tcp(s: Session) -> None:
    """The suite, as the server, closes its side of TCP now. Half-closing (FIN after our last
    frame; over TLS close_notify first) rather than closing keeps the kernel from answering late
    octets of the client with a reset that could destroy our close frame; the client's own FIN
    is then awaited a while, judged by nothing."""
    t = s.trace
    if s.writer is None or t.eof or t.reset or not s.writer.can_write_eof():
        return  # the client closed already (or the transport cannot half-close: `teardown` closes it)
    if t.eof_first is None:
        t.eof_first = False
    t.dropped_by_me = True
    t.log("tx", "event", text="the suite closes the TCP connection")
    try:
        s.writer.write_eof()
    except (ConnectionError, OSError, RuntimeError):
        return
    s.phase = "close:tcp"
    await s.wait_for(lambda: t.eof, s.opts.close_grace)
