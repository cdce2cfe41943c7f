"""A case with the watch around it: the watched server's memory and CPU figures before and after,
its crash and restart, and the liveness probe after a resource case (RFC 6455 §10.4). Above
session.py: it runs `execute_case` and adds `trace.measurements["server"]` and `["alive"]`."""

from __future__ import annotations

__all__ = ["execute_watched"]

import asyncio
import os
import time
from typing import Any

from conformance.catalog.model import Case
from conformance.runner.resources import CASE_TARGET
from conformance.runner.session import execute_case
from conformance.runner.trace import RunOptions, Trace
from conformance.targets.tcp import ServerTarget
from conformance.targets.watch import WatchedServer, probe_handshake


async def execute_watched(case: Case, target: ServerTarget, opts: RunOptions) -> Trace:
    """`execute_case`, with the server's figures and a liveness probe around it when the case is a
    resource case or the server is watched (`opts.watch`)."""
    watch: WatchedServer | None = getattr(opts, "watch", None)
    if watch is None and case.resources is None:
        return await execute_case(case, target, opts)
    token = CASE_TARGET.set(target)
    if watch is not None:
        async with _restart_lock():  # a restart under way (after another case's crash) ends first
            pass
        watch.reset_peak()
    before = watch.sample() if watch is not None else None
    try:
        trace = await execute_case(case, target, opts)
    finally:
        CASE_TARGET.reset(token)
    if watch is not None and before is not None:
        await _after(case, trace, watch, before, target)
    if case.resources is not None and "exit" not in trace.measurements.get("server", {}):
        live = await probe_handshake(target, case.resources.alive_within)
        trace.measurements["alive"] = {"ok": live.ok, "seconds": live.seconds, "detail": live.detail}
    return trace


async def _after(case: Case, trace: Trace, watch: WatchedServer, before: Any, target: ServerTarget) -> None:
    after = watch.sample()
    sent = _octets_sent(trace)
    figures: dict[str, Any] = {
        "rss_before": before.rss, "rss_after": after.rss, "rss_peak": after.peak,
        "rss_growth": max(0, after.peak - before.rss), "cpu_seconds": round(after.cpu - before.cpu, 4),
        "octets_sent": sent}
    if case.resources is not None:
        figures["rss_bound"] = case.resources.rss_bound(sent)
        figures["cpu_bound"] = case.resources.cpu_seconds
    status = watch.exit_status()
    if status is None and trace.close_received is None and (trace.eof or trace.reset or not trace.connected):
        status = await _exit_or_alive(watch, target, trace)
    if status is not None:
        figures["exit"] = status + watch.stderr_tail(200)
        lock = _restart_lock()
        async with lock:
            if watch.exit_status() is not None:
                await asyncio.to_thread(watch.restart)
        figures["restarted"] = True
    trace.measurements["server"] = figures


_SETTLE = 0.5  # seconds for a server that closed without a close frame to show it exited


async def _exit_or_alive(watch: WatchedServer, target: ServerTarget, trace: Trace) -> str | None:
    """The server closed TCP without a close frame: did it die? Its sockets close a moment
    before the kernel reports its exit, so one look is not enough. Whichever the server does
    first ends the wait: it exits (its pidfd turns readable), or it answers a fresh opening
    handshake with 101 (alive after dropping this case's connection; a dying process has closed
    its listening socket). `_SETTLE` bounds a server that does neither."""
    start = time.monotonic()
    exited = asyncio.ensure_future(_exited(watch, _SETTLE))
    alive = asyncio.ensure_future(_alive(target))
    try:
        done, _ = await asyncio.wait({exited, alive}, return_when=asyncio.FIRST_COMPLETED)
        answered = alive in done and alive.result()
        if not answered:
            await exited  # the probe failed: the exit, or the bound, decides
    finally:
        for task in (exited, alive):
            task.cancel()
        await asyncio.gather(exited, alive, return_exceptions=True)
    status = watch.exit_status()
    trace.add_wait("watch", time.monotonic() - start, timer=status is None and not answered)
    return status


async def _alive(target: ServerTarget) -> bool:
    """A fresh opening handshake answered with 101 within `_SETTLE` (HTTP/1.1 targets only)."""
    if type(target) is not ServerTarget:  # extended CONNECT (HTTP/2, HTTP/3): no such probe here
        await asyncio.sleep(_SETTLE)
        return False
    return (await probe_handshake(target, _SETTLE)).ok


async def _exited(watch: WatchedServer, seconds: float) -> None:
    """Until the watched process exits (its pidfd readable), at most `seconds`."""
    proc = watch.proc
    if proc is None or proc.poll() is not None:
        return
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # no pidfd (not Linux 5.3+): a thread waits on the process
        await asyncio.to_thread(watch.settle_exit, seconds)
        return
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await asyncio.wait_for(gone, seconds)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _octets_sent(trace: Trace) -> int:
    """What the suite wrote: the resource steps' counts, plus the logged writes of the other steps
    (the resource steps write with the log off, so nothing counts twice)."""
    logged = sum(int(e.get("len", 0)) for e in trace.wirelog if e.get("dir") == "tx" and e.get("kind") == "octets")
    return logged + sum(int(a.get("octets", 0)) for a in trace.measurements.get("attack", []))


_locks: dict[int, asyncio.Lock] = {}


def _restart_lock() -> asyncio.Lock:
    """One restart at a time (per event loop), whichever case saw the crash first."""
    loop = asyncio.get_running_loop()
    return _locks.setdefault(id(loop), asyncio.Lock())
