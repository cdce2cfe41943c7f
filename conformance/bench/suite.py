"""`make bench-suite`: where a whole-catalogue run's time goes, group by group.

For each group, `conformance run` runs as a child process against one server process, and this
prints the wall time, the suite's CPU, the server's CPU (psutil on its process) and the time the
suite spent waiting (wall minus its CPU: on the peer, or on a timer). Beside it, the physical
floor: what zlib (compress at the suite's level and inflate), SHA-1 and UTF-8 validation alone
cost on this machine for the octets the group's echo steps move. Then a profile (cProfile, top
15) of the slowest cases, and the peak RSS of the suite.

The server is the embedded reference server (started here through `conformance echo-server`),
or `--server URL`, or `--server-cmd CMD` for a command that prints `listening on URL` (the testees
do: `--server-cmd "python -m testees.peers.websockets_server"`); nothing here imports them.
"""

from __future__ import annotations

__all__ = ["Floor", "GroupRow", "floor_rates", "group_octets", "main"]

import argparse
import contextlib
import cProfile
import dataclasses
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
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import psutil

from conformance.bench.waits import summary_of_dirs
from conformance.catalog.load import load_catalogue
from conformance.catalog.model import Echo
from conformance.targets.process import announced_server

_SAMPLE = 1 << 20  # octets of each corpus timed for the floor


@dataclasses.dataclass
class Floor:
    """Seconds per octet of each unavoidable operation on one corpus, measured here."""

    deflate: float
    inflate: float
    sha1: float
    utf8: float

    def seconds(self, octets: int, text: bool) -> float:
        """The suite's floor for sending `octets` compressed and checking their echo."""
        return octets * (self.deflate + self.inflate + (self.utf8 if text else 0.0))


@dataclasses.dataclass
class GroupRow:
    group: str
    cases: int
    wall: float
    suite_cpu: float
    target_cpu: float
    peak_rss_mib: float
    octets: int
    floor: float
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


def _floor(data: bytes, level: int, zl: ModuleType) -> Floor:
    def deflate() -> bytes:
        c = zl.compressobj(level, zlib.DEFLATED, -15, 8)
        return bytes(c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))

    packed = deflate()
    n = len(data)
    return Floor(_best(deflate, n), _best(lambda: zl.decompressobj(-15).decompress(packed), n),
                 _best(lambda: hashlib.sha1(data).digest(), n), _best(lambda: data.decode("utf-8", "replace"), n))


def floor_rates(level: int = 1) -> dict[str, Floor]:
    """Per corpus: the cost of compress (raw deflate at `level`), inflate, SHA-1 and UTF-8 decode."""
    from conformance.catalog.payload import corpus
    from conformance.wire.deflate import zlib_module

    zl = zlib_module(15)
    return {name: _floor(corpus(name)[:_SAMPLE], level, zl) for name in ("json", "html", "text", "binary")}


def group_octets(group: str, rates: dict[str, Floor] | None = None) -> tuple[int, int, float]:
    """(cases, octets sent by echo steps, floor seconds) of a group of the catalogue."""
    cat = load_catalogue()
    cases = [c for c in cat.cases if c.group == group and c.role != "client"]
    octets = 0
    floor = 0.0
    for case in cases:
        for step in case.steps:
            if isinstance(step, Echo):
                spec = step.spec
                n = spec.count * spec.payload.length
                octets += n
                if rates is not None and spec.payload.corpus in rates:
                    cost = rates[spec.payload.corpus]
                    text = spec.opcode.name == "TEXT"
                    floor += cost.seconds(n, text) if spec.compress else n * (cost.utf8 if text else 0.0)
    return len(cases), octets, floor


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
    cases, octets, floor = group_octets(group, rates)
    return GroupRow(group, cases, wall, cpu, _cpu(server) - before, peak, octets, floor, _verdicts(out))


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


def _print(rows: list[GroupRow]) -> None:
    print(f"{'group':<6}{'cases':>6}{'wall s':>8}{'suite CPU':>10}{'server CPU':>11}{'waiting':>9}"
          f"{'MB sent':>9}{'floor s':>8}{'RSS MiB':>8}  verdicts")
    for r in rows:
        print(f"{r.group:<6}{r.cases:>6}{r.wall:>8.1f}{r.suite_cpu:>10.1f}{r.target_cpu:>11.1f}"
              f"{r.waiting:>9.1f}{r.octets / 1e6:>9.0f}{r.floor:>8.1f}{r.peak_rss_mib:>8.0f}  {r.verdicts}")
    tot = GroupRow("all", sum(r.cases for r in rows), sum(r.wall for r in rows),
                   sum(r.suite_cpu for r in rows), sum(r.target_cpu for r in rows),
                   max((r.peak_rss_mib for r in rows), default=0.0), sum(r.octets for r in rows),
                   sum(r.floor for r in rows), {})
    print(f"{tot.group:<6}{tot.cases:>6}{tot.wall:>8.1f}{tot.suite_cpu:>10.1f}{tot.target_cpu:>11.1f}"
          f"{tot.waiting:>9.1f}{tot.octets / 1e6:>9.0f}{tot.floor:>8.1f}{tot.peak_rss_mib:>8.0f}")
    print("waiting: wall minus the suite's CPU (on the peer or a timer); floor: zlib deflate at the "
          "suite's level + inflate (+ UTF-8 for text) of the octets the echo steps send, suite side only")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--groups", nargs="*", help="groups to run (default: every server-side group)")
    ap.add_argument("--server", help="ws:// URL of a running server (its CPU is then not measured)")
    ap.add_argument("--server-cmd", help="command starting the server; it prints `listening on URL`")
    ap.add_argument("--profile", type=int, default=2, help="how many of the slowest cases to profile")
    args = ap.parse_args(argv)
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
