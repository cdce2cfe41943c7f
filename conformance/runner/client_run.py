"""`conformance run --client "CMD {url} {agent}"`: serve the client catalogue and start the client.

One command for CI: the suite listens on loopback, starts the testee with the URL, and watches
it. A client that never connects, hangs, or exits early gets a verdict for every case it did not
run, saying why, and the run ends within its budget.
"""

from __future__ import annotations

__all__ = ["USERINFO", "ClientRunSummary", "run_client_command"]

import asyncio
import contextlib
import dataclasses
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from conformance.catalog.model import Case
from conformance.report.model import CaseResult, ReportDir
from conformance.runner.result import not_run_result
from conformance.runner.serve import CaseServer
from conformance.runner.session import RunOptions


@dataclasses.dataclass
class ClientRunSummary:
    results: list[CaseResult]
    seconds: float
    connected: bool
    note: str


# `{authurl}`: the suite's URL with this user info, for clients that turn it into Basic credentials
# (the redirect cases of 20.4 then see whether they carry them to another origin)
USERINFO = "conformance:redirect-test"


def _command(template: str, url: str, agent: str) -> list[str]:
    authurl = url.replace("://", f"://{USERINFO}@", 1)
    return [part.replace("{url}", url).replace("{authurl}", authurl).replace("{agent}", agent)
            for part in shlex.split(template)]


async def run_client_command(
    template: str, cases: Sequence[Case], report: ReportDir, opts: RunOptions, *,
    titles: dict[str, str] | None = None, budget: float | None = None, connect_timeout: float = 15.0,
    out: TextIO | None = None, quiet: bool = False, progress: Callable[[CaseResult], None] | None = None,
) -> ClientRunSummary:
    """Serve `cases` to the client command; `progress` (if given) hears each result as it is judged."""
    out = out or sys.stderr  # looked up at call time, so a redirected stderr is honoured
    t0 = time.monotonic()
    done: list[CaseResult] = []
    def on_result(r: CaseResult) -> None:
        done.append(r)
        if progress is not None:
            progress(r)

    server = CaseServer(cases, report, opts, titles, on_result=on_result)
    srv = await server.listen("127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    url = f"ws://127.0.0.1:{port}"
    argv = _command(template, url, opts.agent)
    if not quiet:
        print(f"starting client: {' '.join(argv)}", file=out)
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
    except OSError as exc:
        srv.close()
        note = f"the client command could not be started: {exc}"
        _fill_missing(cases, server, report, opts.agent, note, done)
        return ClientRunSummary(done, time.monotonic() - t0, False, note)
    tail: list[str] = []
    reader_task = asyncio.create_task(_collect(proc, tail))
    try:
        note = await _watch(proc, server, cases, opts, budget, connect_timeout, t0)
    finally:  # also when the run is interrupted: a client left running (a browser) outlives the suite
        await _stop(proc)
    reader_task.cancel()
    srv.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(srv.wait_closed(), 2)
    if note and tail:
        note += "; last output: " + " | ".join(tail[-3:])
    _fill_missing(cases, server, report, opts.agent, note or "the client did not run this case", done)
    return ClientRunSummary(done, time.monotonic() - t0, server.connections > 0, note)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """End the client: SIGTERM first, so that a client with children of its own (the browser
    driver) can end them; SIGKILL if it is still there after 5 s."""
    for signal_it in (proc.terminate, proc.kill):
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            signal_it()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)


async def _collect(proc: asyncio.subprocess.Process, tail: list[str]) -> None:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        tail.append(line.decode("utf-8", "replace").rstrip()[:200])
        del tail[:-20]


async def _watch(proc: asyncio.subprocess.Process, server: CaseServer, cases: Sequence[Case],
                 opts: RunOptions, budget: float | None, connect_timeout: float, t0: float) -> str:
    """Wait for the client to finish; return why it stopped early ('' when it ran everything)."""
    last_progress = time.monotonic()
    seen = 0
    while True:
        finished = len(server.results)
        if proc.returncode is not None:
            if len(server.started) < len(cases):
                return f"the client exited with code {proc.returncode} after {len(server.started)} of {len(cases)} cases"
            return ""
        now = time.monotonic()
        if budget and now - t0 > budget:
            return f"the run budget of {budget:g} s ran out"
        if server.connections == 0 and now - t0 > connect_timeout:
            return f"the client never connected within {connect_timeout:g} s"
        activity = server.connections + finished
        if activity != seen:
            seen, last_progress = activity, now
        longest = max((c.timeout or opts.timeout) for c in cases) if cases else opts.timeout
        if now - last_progress > longest + opts.wait * 2:
            return f"the client stopped making progress for {now - last_progress:.0f} s (hung)"
        try:
            await asyncio.wait_for(proc.wait(), 0.2)
        except TimeoutError:
            pass


def _fill_missing(cases: Sequence[Case], server: CaseServer, report: ReportDir, agent: str, why: str,
                  done: list[CaseResult]) -> None:
    """Every case the client did not run gets a FAILED verdict that says why."""
    ran = {cid for (_, cid) in server.results}
    for case in cases:
        if case.id not in ran:
            res = not_run_result(case, agent, why, is_server=False)
            report.write_case(res)
            done.append(res)
