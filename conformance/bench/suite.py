"""`make bench-suite`: where a whole-catalogue run's time goes, group by group.

For each group, `conformance run` runs as a child process against one server process, and this
prints the wall time, the suite's CPU, the server's CPU (psutil on its process) and the time the
suite spent waiting (wall minus its CPU: on the peer, or on a timer). Beside it, the physical
floor of each side: what zlib and UTF-8 validation alone cost on this machine for what the
group's echo steps make that side do at the least. Each side inflates every message it receives
(the server also validates text); each deflates only the messages it must compress anew: a
message that follows the same last 2^wbits octets as an earlier copy of it may go out in that
copy's form (wire/deflate.py, "Sending again"), so the corpus slices of 12.x and 13.x, which go
round a 1 MiB corpus, are deflated about once per round. The two sides work on two cores, so the
group's wall floor is the larger of the two. Then a profile (cProfile, top 15) of the slowest
cases, and the peak RSS of the suite. `--timeline DIR` instead reads a finished run (`make demo`'s
reports/demo) and shows where its wall time went: how long N cases were open at once, gaps, each
group's span and the tail, with fewer cases open than at the busiest.

The server is the embedded reference server (started here through `conformance echo-server`),
or `--server URL`, or `--server-cmd CMD` for a command that prints `listening on URL` (the testees
do: `--server-cmd "python -m testees.peers.websockets_server"`); nothing here imports them.
"""

from __future__ import annotations

__all__ = ["Floor", "GroupRow", "GroupWork", "Timeline", "floor_rates", "group_octets", "main", "new_octets",
           "timeline"]

import argparse
import contextlib
import cProfile
import dataclasses
import datetime
import hashlib
import io
import json
import os
import pstats
import shlex
import subprocess
import sys
import tempfile
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

from conformance.bench.waits import summary_of_dirs
from conformance.catalog.load import load_catalogue
from conformance.catalog.model import Case, Echo, EchoSpec
from conformance.catalog.payload import PayloadSpec, corpus
from conformance.engine import deflate as pmd
from conformance.engine.rules import HandshakeError
from conformance.targets.process import announced_server
from conformance.wire.deflate import DeflateParams, compressor_module, zlib_module

_SAMPLE = 1 << 20  # octets of each corpus timed for the floor
_BITS = (9, 15)  # windows timed: the catalogue's volume cases agree on 15 bits, or on 9 (13.3, 13.5, 13.7)


@dataclasses.dataclass
class Floor:
    """Seconds per octet of each unavoidable operation on one corpus, measured here: deflate (at
    the suite's level) and inflate by window bits, with the zlib the codec uses for most octets."""

    deflate: dict[int, float]
    inflate: dict[int, float]
    sha1: float
    utf8: float

    def zlib(self, rates: dict[int, float], bits: int) -> float:
        return rates[15 if bits >= 15 else 9]


@dataclasses.dataclass
class GroupWork:
    """What a group's echo steps make each side do at the least (see the module docstring)."""

    cases: int = 0
    octets: int = 0  # sent by the suite, and echoed
    suite_new: int = 0  # octets the suite must deflate anew
    server_new: int = 0  # octets the server must deflate anew
    suite_floor: float = 0.0  # seconds
    server_floor: float = 0.0

    @property
    def floor(self) -> float:
        """The wall floor on two cores: each side is one process on its own core."""
        return max(self.suite_floor, self.server_floor)


@dataclasses.dataclass
class GroupRow:
    group: str
    wall: float
    suite_cpu: float
    target_cpu: float
    peak_rss_mib: float
    work: GroupWork
    verdicts: dict[str, int]

    @property
    def waiting(self) -> float:
        return max(0.0, self.wall - self.suite_cpu)


def _best(work: Callable[[], object], octets: int, repeat: int = 3) -> float:
    """CPU seconds per octet of `work`, the best of `repeat` runs: on a shared machine the CPU
    time of this process is the figure other work skews least."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        work()
        best = min(best, time.process_time() - t)
    return best / octets


def _floor(data: bytes, level: int) -> Floor:
    def deflate(bits: int) -> Callable[[], bytes]:
        def work() -> bytes:
            c = compressor_module(bits).compressobj(level, zlib.DEFLATED, -bits, 8)
            return bytes(c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))
        return work

    def inflate(bits: int) -> Callable[[], bytes]:
        packed = deflate(bits)()
        # zlib-ng at every window: narrow windows go on in it past a connection's first 4 MiB
        return lambda: bytes(zlib_module(15).decompressobj(-bits).decompress(packed))

    n = len(data)
    return Floor({b: _best(deflate(b), n) for b in _BITS}, {b: _best(inflate(b), n) for b in _BITS},
                 _best(lambda: hashlib.sha1(data).digest(), n), _best(lambda: data.decode("utf-8", "replace"), n))


def floor_rates(level: int = 1) -> dict[str, Floor]:
    """Per corpus: the cost of compress (raw deflate at `level`), inflate, SHA-1 and UTF-8 decode."""
    return {name: _floor(corpus(name)[:_SAMPLE], level) for name in ("json", "html", "text", "binary")}


def new_octets(payload: PayloadSpec, count: int, reach: int) -> int:
    """Octets a sender must deflate anew to send `count` messages of `payload`: a message that
    follows the same last `reach` octets of the stream as an earlier copy of it (reach 0: without
    context takeover, always) may go out in that copy's form. A rolling corpus slice is named by
    where it starts in the corpus; sizes are the nominal ones."""
    size = payload.length
    if not payload.rolling:
        names = [0] * count
    else:
        period = len(corpus(payload.corpus))
        step = payload.size or 1
        if count * step <= period:
            return count * size  # the corpus does not go round: every message is new
        names = [i * step % period for i in range(count)]
    seen: set[tuple[tuple[int, ...], int]] = set()
    history: deque[int] = deque()  # names of the latest messages, covering `reach` octets
    new = 0
    for name in names:
        key = (tuple(history), name)
        if key not in seen:
            seen.add(key)
            new += size
        history.append(name)
        while history and (len(history) - 1) * size >= reach:
            history.popleft()
    return new


def _agreed(case: Case) -> DeflateParams | None:
    """The parameters the reference server agrees to for the case's offers (it takes the first
    offer that reads, as it stands)."""
    if case.deflate is None:
        return None
    offers = [[(k, None if v is True else str(v)) for k, v in o.items() if v is not False]
              for o in case.deflate.offer_maps()]
    accepted = pmd.server_accept([("permessage-deflate", o) for o in offers])
    if accepted is None:
        return None
    readable = []
    for o in offers:
        with contextlib.suppress(HandshakeError):
            readable.append(pmd.parse_offer(o))
    return pmd.client_accept(accepted[1], readable)


def _reach(params: DeflateParams, side: str) -> int:
    return 0 if params.no_takeover(side) else 1 << max(9, params.window(side))


def _add_echo(work: GroupWork, spec: EchoSpec, params: DeflateParams | None, rates: dict[str, Floor] | None) -> None:
    n = spec.count * spec.payload.length
    work.octets += n
    text = spec.opcode.name == "TEXT"
    rate = rates.get(spec.payload.corpus) if rates is not None else None
    if not spec.compress or params is None:
        work.server_floor += n * rate.utf8 if rate is not None and text else 0.0
        return
    suite_new = new_octets(spec.payload, spec.count, _reach(params, "client"))
    server_new = new_octets(spec.payload, spec.count, _reach(params, "server"))
    work.suite_new += suite_new
    work.server_new += server_new
    if rate is None:
        return
    ours, theirs = params.window("client"), params.window("server")
    work.suite_floor += n * rate.zlib(rate.inflate, theirs) + suite_new * rate.zlib(rate.deflate, ours)
    work.server_floor += (n * (rate.zlib(rate.inflate, ours) + (rate.utf8 if text else 0.0))
                          + server_new * rate.zlib(rate.deflate, theirs))


def group_octets(group: str, rates: dict[str, Floor] | None = None) -> GroupWork:
    """What the echo steps of a group's server cases move and make each side do (the floors in
    seconds need `rates`)."""
    cat = load_catalogue()
    work = GroupWork()
    for case in cat.cases:
        if case.group != group or case.role == "client":
            continue
        work.cases += 1
        params = _agreed(case)
        for step in case.steps:
            if isinstance(step, Echo):
                _add_echo(work, step.spec, params, rates)
    return work


@contextlib.contextmanager
def _server(url: str | None, cmd: str | None) -> Iterator[tuple[str, psutil.Process | None]]:
    """A URL and the process to measure: the embedded reference by default, or `cmd`, a command
    that prints `listening on URL` (as the testees do, e.g. `python -m testees.peers.websockets_server`)."""
    if url:
        yield url, None
        return
    argv = shlex.split(cmd) if cmd else [sys.executable, "-m", "conformance", "echo-server", "--port", "0",
                                         "--deflate"]
    try:
        with announced_server(argv, cwd=os.getcwd()) as (found, proc):
            yield found, psutil.Process(proc.pid)
    except RuntimeError as exc:
        raise SystemExit(f"bench-suite: {exc}") from None


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    try:
        t = proc.cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return 0.0


def _run_group(group: str, url: str, server: psutil.Process | None, out: str, jobs: int,
               rates: dict[str, Floor]) -> GroupRow:
    argv = [sys.executable, "-m", "conformance", "run", "--server", url, "--out", out,
            "--jobs", str(jobs), "--quiet", "--cases", f"{group}.*"]
    before = _cpu(server)
    t = time.perf_counter()
    child = psutil.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    cpu = 0.0
    while child.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, child.memory_info().rss / 2**20)
            times = child.cpu_times()
            cpu = times.user + times.system
        time.sleep(0.05)
    wall = time.perf_counter() - t
    return GroupRow(group, wall, cpu, _cpu(server) - before, peak, group_octets(group, rates), _verdicts(out))


def _verdicts(out: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    try:
        index = json.loads((Path(out) / "index.json").read_text())
    except (OSError, ValueError):
        return counts
    for entries in index.values():
        for entry in entries.values():
            counts[entry["behavior"]] = counts.get(entry["behavior"], 0) + 1
    return counts


def _slowest(outs: list[str], n: int) -> list[str]:
    durations: list[tuple[int, str]] = []
    for out in outs:
        with contextlib.suppress(OSError, ValueError):
            for entries in json.loads((Path(out) / "index.json").read_text()).values():
                durations += [(e.get("duration", 0), cid) for cid, e in entries.items()]
    return [cid for _, cid in sorted(durations, reverse=True)[:n]]


def _profile(case_id: str, url: str) -> str:
    """cProfile of one case run in this process: the top 15 functions by own time."""
    from conformance.cli import main as cli_main

    prof = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        prof.enable()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli_main(["run", "--server", url, "--cases", case_id, "--out", tmp, "--quiet"])
        prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(15)
    lines = [ln for ln in text.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    return "\n".join(lines[start:])


def _groups() -> list[str]:
    cat = load_catalogue()
    names = {c.group for c in cat.cases if c.role != "client"}
    return sorted(names, key=lambda g: int(g) if g.isdigit() else 1000)


_HEAD = (f"{'group':<6}{'cases':>6}{'wall s':>8}{'suite CPU':>10}{'server CPU':>11}{'waiting':>9}"
         f"{'MB sent':>9}{'MB new':>8}{'floor suite':>12}{'server':>8}{'RSS MiB':>8}  verdicts")


def _line(r: GroupRow) -> str:
    w = r.work
    return (f"{r.group:<6}{w.cases:>6}{r.wall:>8.1f}{r.suite_cpu:>10.1f}{r.target_cpu:>11.1f}{r.waiting:>9.1f}"
            f"{w.octets / 1e6:>9.0f}{w.server_new / 1e6:>8.0f}{w.suite_floor:>12.1f}{w.server_floor:>8.1f}"
            f"{r.peak_rss_mib:>8.0f}  {r.verdicts or ''}")


def _print(rows: list[GroupRow]) -> None:
    print(_HEAD)
    for r in rows:
        print(_line(r))
    works = [r.work for r in rows]
    total = GroupWork(sum(w.cases for w in works), sum(w.octets for w in works), sum(w.suite_new for w in works),
                      sum(w.server_new for w in works), sum(w.suite_floor for w in works),
                      sum(w.server_floor for w in works))
    print(_line(GroupRow("all", sum(r.wall for r in rows), sum(r.suite_cpu for r in rows),
                         sum(r.target_cpu for r in rows), max((r.peak_rss_mib for r in rows), default=0.0),
                         total, {})))
    print("waiting: wall minus the suite's CPU (on the peer or a timer). MB new: what the server must "
          "deflate anew of what it echoes. floor: zlib inflate of every message received (+ UTF-8 "
          "validation of text on the server) + deflate of the messages sent anew, per side, in CPU "
          f"seconds; the wall floor on two cores is the larger side: {total.floor:.1f} s")


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Where a finished run's wall time went, from its per-case reports (`started`, `duration`):
    how long the run had N cases open at once (0: a gap, no case running), each group's span,
    and the tail: the time after the run was last as busy as it got (its most cases open)."""

    span: float  # seconds from the first case's start to the last one's end
    at_once: dict[int, float]  # cases open at once -> seconds
    groups: dict[str, tuple[float, float, float, int]]  # group -> (start, end, case-seconds, cases)
    tail: float


def _spans(out: str) -> list[tuple[float, float, str]]:
    rows = []
    for path in Path(out).glob("*_case_*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            r = json.loads(path.read_text())
            start = datetime.datetime.fromisoformat(r["started"]).timestamp()
            rows.append((start, start + r["duration"] / 1000, str(r["id"])))
    return sorted(rows)


def timeline(out: str) -> Timeline:
    """The timeline of the run in the report directory `out`."""
    rows = _spans(out)
    if not rows:
        return Timeline(0.0, {}, {}, 0.0)
    t0, end = rows[0][0], max(e for _, e, _ in rows)
    edges = sorted([(s, 1) for s, _, _ in rows] + [(e, -1) for _, e, _ in rows])
    at_once: dict[int, float] = {}
    open_now, last, peak, peak_left = 0, t0, 0, t0
    for when, step in edges:
        at_once[open_now] = at_once.get(open_now, 0.0) + when - last
        if open_now >= peak:  # the latest moment the run was as busy as it got
            peak, peak_left = open_now, when
        open_now, last = open_now + step, when
    groups: dict[str, tuple[float, float, float, int]] = {}
    for start, stop, cid in rows:
        g = cid.split(".")[0]
        a, b, cs, n = groups.get(g, (start - t0, stop - t0, 0.0, 0))
        groups[g] = (min(a, start - t0), max(b, stop - t0), cs + stop - start, n + 1)
    return Timeline(end - t0, {k: v for k, v in sorted(at_once.items()) if v > 0}, groups, end - peak_left)


def _print_timeline(tl: Timeline) -> None:
    print(f"run span {tl.span:.1f} s; tail (after the run was last at its most cases open) {tl.tail:.1f} s")
    print("seconds with N cases open: " + ", ".join(f"{n}: {s:.1f}" for n, s in tl.at_once.items()))
    print(f"{'group':<6}{'cases':>6}{'start':>8}{'end':>8}{'case s':>9}")
    for g, (a, b, cs, n) in sorted(tl.groups.items(), key=lambda kv: kv[1][0]):
        print(f"{g:<6}{n:>6}{a:>8.1f}{b:>8.1f}{cs:>9.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--groups", nargs="*", help="groups to run (default: every server-side group)")
    ap.add_argument("--server", help="ws:// URL of a running server (its CPU is then not measured)")
    ap.add_argument("--server-cmd", help="command starting the server; it prints `listening on URL`")
    ap.add_argument("--profile", type=int, default=2, help="how many of the slowest cases to profile")
    ap.add_argument("--timeline", metavar="DIR", help="print where the wall time of the finished run in DIR "
                    "went (cases open at once, gaps, each group's span, the tail) and run nothing")
    args = ap.parse_args(argv)
    if args.timeline:
        if not any(Path(args.timeline).glob("*_case_*.json")):
            print(f"bench-suite: --timeline {args.timeline}: no per-case reports there", file=sys.stderr)
            return 2
        _print_timeline(timeline(args.timeline))
        return 0
    rates = floor_rates()
    rows: list[GroupRow] = []
    with tempfile.TemporaryDirectory() as tmp, _server(args.server, args.server_cmd) as (url, proc):
        outs = []
        for group in args.groups or _groups():
            out = str(Path(tmp) / f"g{group}")
            outs.append(out)
            rows.append(_run_group(group, url, proc, out, args.jobs, rates))
            print(f"group {group}: {rows[-1].wall:.1f} s", file=sys.stderr)
        _print(rows)
        print("\n" + summary_of_dirs(outs))  # bench/waits.py: where the cases waited, and on which timers
        for case_id in _slowest(outs, args.profile):
            print(f"\nprofile of {case_id} (suite side, top 15 by own time):")
            print(_profile(case_id, url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
