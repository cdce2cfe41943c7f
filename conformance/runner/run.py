"""A whole run: cases concurrently over separate connections, each result stored as it ends."""

from __future__ import annotations

__all__ = ["RunSummary", "make_result", "run_cases", "schedule", "summary_table"]

import asyncio
import dataclasses
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from conformance.catalog.model import Case, Checkpoint, Echo, Wait
from conformance.errors import TargetError
from conformance.report.model import CaseResult, ReportDir
from conformance.runner.result import make_result, not_run_result, now_stamp
from conformance.runner.session import RunOptions, Trace
from conformance.runner.watched import execute_watched
from conformance.targets.tcp import ServerTarget, open_connection
from conformance.verdicts import NOT_RUN

_REACTION = RunOptions().wait  # the default upper bound of a wait for the peer's reaction (--wait)


@dataclasses.dataclass
class RunSummary:
    results: list[CaseResult]
    not_run: list[str]
    seconds: float
    unreachable: bool = False
    note: str = ""

    def failed(self, strict: bool = False) -> list[CaseResult]:
        return [r for r in self.results if r.is_failure(strict)]


class _Progress:
    """One updating line on a terminal; a line per tenth of the run otherwise."""

    def __init__(self, total: int, out: TextIO, quiet: bool) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.out = out
        self.quiet = quiet
        self.tty = out.isatty()
        self.t0 = time.monotonic()
        self.step = max(1, total // 10)

    def update(self, r: CaseResult, bad: bool) -> None:
        self.done += 1
        self.failed += bad
        if self.quiet:
            return
        el = time.monotonic() - self.t0
        line = (f"[{self.done}/{self.total}] {el:6.1f} s  failed {self.failed}  "
                f"last {r.id} {r.behavior}/{r.behaviorClose}")
        if self.tty:
            self.out.write("\r" + line[:110].ljust(110))
            self.out.flush()
        elif self.done % self.step == 0 or self.done == self.total:
            self.out.write(line + "\n")

    def finish(self) -> None:
        if self.tty and not self.quiet:
            self.out.write("\n")


async def _probe(target: ServerTarget, timeout: float) -> None:
    probe = getattr(target, "probe", None)  # a target not over TCP (HTTP/3: QUIC) says how it is reached
    if probe is not None:
        await probe(timeout)
        return
    _, writer = await open_connection(target, timeout)
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1)
    except (OSError, TimeoutError):
        pass


async def run_cases(
    cases: Sequence[Case],
    target: ServerTarget,
    opts: RunOptions,
    report: ReportDir,
    *,
    jobs: int = 4,
    budget: float | None = None,
    retries: int = 0,
    out: TextIO | None = None,
    quiet: bool = False,
    on_result: Callable[[CaseResult], None] | None = None,
    exclusive_alone: bool = True,
) -> RunSummary:
    """Run `cases` (server side) and store each result in `report` the moment it is judged.
    Progress goes to `out` (default: the current sys.stderr, looked up at call time).
    `exclusive_alone`: the exclusive (performance) cases run one at a time after the others, so
    that their figures are the target's alone; False lets them run beside the others (against the
    embedded reference, whose figures nobody judges: no verdict of theirs rests on time)."""
    t0 = time.monotonic()
    try:
        await _probe(target, max(opts.wait, 2.0))
    except TargetError as exc:
        lost = [not_run_result(c, opts.agent, f"the target could not be reached ({exc})") for c in cases]
        for res in lost:
            report.write_case(res)
        return RunSummary(lost, [c.id for c in cases], time.monotonic() - t0, True, str(exc))
    progress = _Progress(len(cases), out or sys.stderr, quiet)
    results: list[CaseResult] = []
    state: dict[str, Any] = {"dead": 0, "stop": False, "opened": 0, "wanted_open": 0}
    deadline = t0 + budget if budget else None

    async def one(case: Case) -> None:
        if state["stop"] or (deadline and time.monotonic() > deadline):
            return
        res = await _run_with_retries(case, target, opts, retries, state)
        report.write_case(res)
        results.append(res)
        progress.update(res, res.is_failure())
        if on_result is not None:
            on_result(res)

    # Two queues and `jobs` workers. The heavy queue holds the cases with an echo step, heaviest
    # first (the compression cases of 12/13), so that the run does not end with one long case on
    # one connection while the other slots and a core stay idle. The light queue holds the rest,
    # those that may wait on a timer (a pause, a checkpoint no ping can end) first: one worker
    # takes them beside the heavy cases, so that their waits overlap the volume instead of
    # adding a tail of timers after it; every worker takes from the other queue once its own is
    # empty, so no slot idles while cases are left.
    heavy, light, alone = schedule(cases, exclusive_alone)
    workers = max(1, jobs)

    async def worker(first: deque[Case], then: deque[Case]) -> None:
        while first or then:
            await one((first or then).popleft())

    lanes = [(light, heavy)] + [(heavy, light)] * (workers - 1) if workers > 1 else [(heavy, light)]
    await asyncio.gather(*(worker(a, b) for a, b in lanes))
    for case in alone:
        await one(case)
    progress.finish()
    done = {r.id for r in results}
    not_run = [c.id for c in cases if c.id not in done]
    note = ""
    if state["stop"]:
        note = "the target stopped accepting connections; the remaining cases were not run"
    elif not_run:
        note = f"the run budget of {budget:g} s ran out; {len(not_run)} cases were not run"
    if not_run:
        for case in cases:
            if case.id in not_run:
                res = not_run_result(case, opts.agent, note)
                report.write_case(res)
                results.append(res)
    # Exit 3: nothing could be reached, or every handshake that should have opened was refused.
    unreachable = state["opened"] == 0 and (state["wanted_open"] > 0 or state["stop"])
    return RunSummary(results, not_run, time.monotonic() - t0, unreachable, note)


def schedule(cases: Sequence[Case], exclusive_alone: bool = True) -> tuple[deque[Case], deque[Case], list[Case]]:
    """The order a run takes `cases` in: the heavy queue (an echo step: volume, heaviest first), the
    light queue (no echo step; those that may wait on a timer first) and the exclusive cases that run
    alone at the end (none when not `exclusive_alone`: they join the queues by their weight)."""
    alone = [c for c in cases if c.exclusive and exclusive_alone]
    rest = sorted((c for c in cases if not (c.exclusive and exclusive_alone)), key=_weight, reverse=True)
    heavy = [any(isinstance(step, Echo) for step in c.steps) for c in rest]
    return (deque(c for c, h in zip(rest, heavy, strict=True) if h),
            deque(c for c, h in zip(rest, heavy, strict=True) if not h), alone)


def _weight(case: Case) -> tuple[int, float]:
    """The order concurrent cases start in: echo volume first, then the timers they may wait on."""
    return _echo_octets(case), _timer_seconds(case)


def _timer_seconds(case: Case) -> float:
    """Seconds a case may wait on timers: its pauses, plus a second per checkpoint (the settle
    time bounds one that no ping can end, inside a frame, as in 6.4.3), plus the reaction wait
    (2 s) of a case that either side may close: a peer that keeps the connection open is waited
    for until that bound (16.2.5, 14.5.1)."""
    steps = sum(step.seconds if isinstance(step, Wait) else 1.0 for step in case.steps
                if isinstance(step, (Wait, Checkpoint)))
    return steps + (_REACTION if case.close.by == "either" else 0.0)


def _echo_octets(case: Case) -> int:
    """How many octets a case's echo steps send: its weight in scheduling."""
    return sum(step.spec.count * step.spec.payload.length for step in case.steps if isinstance(step, Echo))


async def _run_with_retries(case: Case, target: ServerTarget, opts: RunOptions, retries: int,
                            state: dict[str, Any]) -> CaseResult:
    attempts = 0
    first: CaseResult | None = None
    while True:
        attempts += 1
        started = now_stamp()
        try:
            trace = await execute_watched(case, target, opts)  # runner/watched.py: the watch
            if opts.adapter_log is not None and trace.local_port is not None:  # --impl: what it raised
                raised = opts.adapter_log.raised_on(trace.local_port)
                if raised:
                    trace.measurements["adapter_raised"] = raised
        except Exception as exc:
            res = not_run_result(case, opts.agent, f"internal error in the suite: {type(exc).__name__}: {exc}")
            res.attempts = attempts
            return res
        _track_dead(trace, state)
        state["opened"] += trace.opened
        state["wanted_open"] += case.expect_response is None
        res = make_result(case, trace, opts.agent, started)
        res.attempts = attempts
        ok = not res.is_failure()
        if first is None:
            first = res
        if ok or attempts > retries or state["stop"]:
            break
    if attempts > 1 and ok:
        # Passed only on a retry: flaky, never OK. Report the first failure with the flag.
        first.flaky = True
        first.attempts = attempts
        first.result = f"FLAKY: failed first, passed on attempt {attempts}. {first.result}"
        return first
    return res


def _track_dead(trace: Trace, state: dict[str, Any]) -> None:
    """Several cases in a row that cannot even connect: the target is gone, stop the run."""
    if trace.connected:
        state["dead"] = 0
        return
    state["dead"] += 1
    if state["dead"] >= 3:
        state["stop"] = True


def summary_table(results: Sequence[CaseResult], titles: dict[str, str]) -> str:
    """A per-group table: counts of each behaviour verdict, of cases not run, and of cases that fail
    the run (conformance.verdicts.is_failure: a failing close counts even when the behaviour is OK)."""
    cols = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", NOT_RUN)
    groups: dict[str, dict[str, int]] = {}
    for r in results:
        g = groups.setdefault(r.group or r.id.split(".")[0], dict.fromkeys((*cols, "fails"), 0))
        g[r.behavior] = g.get(r.behavior, 0) + 1
        g["fails"] += r.is_failure()
    head = f"{'group':<6} {'title':<34} {'cases':>5} " + " ".join(f"{c[:6]:>6}" for c in cols) + "  fails run"
    lines = [head, "-" * len(head)]
    for name in sorted(groups, key=lambda x: int(x) if x.isdigit() else 0):
        counts = groups[name]
        n = sum(counts[c] for c in cols)
        lines.append(f"{name:<6} {titles.get(name, '')[:34]:<34} {n:>5} "
                     + " ".join(f"{counts[c]:>6}" for c in cols) + f"  {counts['fails']:>9}")
    return "\n".join(lines)


