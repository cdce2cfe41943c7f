"""`make bench-autobahn`: Autobahn|Testsuite's fuzzingclient and this suite on the same server and
the same cases, group by group, in one run; prints both wall times, their ratio, and the server's
CPU time during each, since a run cannot be shorter than the work the server must do for it.

Autobahn runs on Python 2.7: `make autobahn-deps` unpacks one from Debian 11's packages into
.py27 and installs autobahntestsuite there (conformance/bench/autobahn_py27.sh); `wstest` on PATH,
a python2.7 that imports autobahntestsuite, or `--wstest CMD` (WSTEST=CMD) are used as well.
Without any, the benchmark is skipped with a message and exit status 0. The server is the
embedded reference (started through `conformance echo-server`) unless `--server URL` or
`--server-cmd CMD` names one. Autobahn runs its cases one after the other; the suite runs with
`--jobs` (default 4) as `make demo` does. The rows "1-10" and "12-13" run each tool once over all
those groups, as a user would, so that start-up is counted once.
"""

from __future__ import annotations

__all__ = ["find_wstest", "main"]

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

_GROUPS = ("1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13")
_TOTALS = (("1-10", ("1", "2", "3", "4", "5", "6", "7", "9", "10")), ("12-13", ("12", "13")))
_LOCAL = Path(".py27") / "wstest"  # where `make autobahn-deps` puts it


def find_wstest(explicit: str | None = None) -> list[str] | None:
    """The command that runs Autobahn's `wstest`, or None when no Python 2.7 with it is found."""
    if explicit:
        return explicit.split()
    wstest = shutil.which("wstest")
    if wstest:
        return [wstest]
    if os.access(_LOCAL, os.X_OK):
        return [str(_LOCAL.resolve())]
    for py in ("python2.7", "python2"):
        exe = shutil.which(py)
        if exe and subprocess.run([exe, "-c", "import autobahntestsuite"], capture_output=True,
                                  check=False).returncode == 0:
            return [exe, "-m", "autobahntestsuite.wstest"]
    return None


@dataclasses.dataclass(frozen=True)
class Timed:
    """One tool's run over some groups: wall seconds, its own CPU, the server's CPU, verdicts."""

    wall: float
    cpu: float
    server_cpu: float
    verdicts: dict[str, int]

    @property
    def cases(self) -> int:
        return sum(self.verdicts.values())


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        t = proc.cpu_times()
        return float(t.user + t.system + t.children_user + t.children_system)
    return 0.0


def _timed(argv: list[str], cwd: Path, server: psutil.Process | None, out: Path) -> Timed:
    before = _cpu(server)
    t = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    return Timed(wall, usage.ru_utime + usage.ru_stime, _cpu(server) - before, _verdicts(out / "index.json"))


def _verdicts(index: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError):
        return counts
    for entries in data.values():
        for entry in entries.values():
            counts[entry["behavior"]] = counts.get(entry["behavior"], 0) + 1
    return counts


def _autobahn(wstest: list[str], url: str, groups: Sequence[str], tmp: Path, server: psutil.Process | None) -> Timed:
    name = "-".join(groups)
    out = tmp / f"autobahn-{name}"
    spec = {"outdir": str(out), "servers": [{"agent": "target", "url": url}],
            "cases": [f"{g}.*" for g in groups], "exclude-cases": [], "exclude-agent-cases": {}}
    path = tmp / f"fuzzingclient-{name}.json"
    path.write_text(json.dumps(spec))
    return _timed([*wstest, "-m", "fuzzingclient", "-s", str(path)], tmp, server, out)


def _ours(url: str, groups: Sequence[str], tmp: Path, jobs: int, server: psutil.Process | None) -> Timed:
    out = tmp / f"ours-{'-'.join(groups)}"
    argv = [sys.executable, "-m", "conformance", "run", "--server", url, "--out", str(out),
            "--jobs", str(jobs), "--quiet", "--cases", *(f"{g}.*" for g in groups)]
    return _timed(argv, Path.cwd(), server, out)


def _row(label: str, theirs: Timed, ours: Timed) -> str:
    ratio = ours.wall / max(theirs.wall, 1e-9)
    floor = ours.server_cpu / max(theirs.wall, 1e-9)
    return (f"{label:<7}{theirs.cases:>6}{ours.cases:>6}{theirs.wall:>10.1f}{theirs.cpu:>8.1f}{theirs.server_cpu:>8.1f}"
            f"{ours.wall:>9.1f}{ours.cpu:>8.1f}{ours.server_cpu:>8.1f}{ratio:>8.2f}x{floor:>8.2f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wstest", help="command running Autobahn's wstest (default: found on PATH or in .py27)")
    ap.add_argument("--server", help="ws:// URL of the server both run against (its CPU is then not measured)")
    ap.add_argument("--server-cmd", help="a command that starts the server and prints `listening on URL`")
    ap.add_argument("--groups", nargs="*", default=list(_GROUPS))
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--no-totals", action="store_true", help="only the per-group rows")
    args = ap.parse_args(argv)
    wstest = find_wstest(args.wstest or os.environ.get("WSTEST"))
    if wstest is None:
        print("bench-autobahn: skipped: no Python 2.7 with autobahntestsuite (wstest) was found; "
              "`make autobahn-deps` installs one on Debian, or pass --wstest CMD")
        return 0
    from conformance.bench.suite import _server

    print(f"{'':<7}{'cases':>12}{'Autobahn':>26}{'this suite':>25}")
    print(f"{'group':<7}{'AB':>6}{'ours':>6}{'wall s':>10}{'CPU':>8}{'server':>8}{'wall s':>9}{'CPU':>8}{'server':>8}"
          f"{'ratio':>9}{'floor':>9}")
    with tempfile.TemporaryDirectory() as tmp, _server(args.server, args.server_cmd) as (url, proc):
        for group in args.groups:
            print(_row(group, _autobahn(wstest, url, [group], Path(tmp), proc),
                       _ours(url, [group], Path(tmp), args.jobs, proc)), flush=True)
        if not args.no_totals:
            for label, groups in _TOTALS:
                chosen = [g for g in groups if g in args.groups]
                if chosen:
                    print(_row(label, _autobahn(wstest, url, chosen, Path(tmp), proc),
                               _ours(url, chosen, Path(tmp), args.jobs, proc)), flush=True)
    print("ratio: the suite's wall time over Autobahn's. floor: the server's CPU time during the suite's run over "
          "Autobahn's wall time, the least ratio any client could reach against this server (one server process). "
          "CPU: each tool's own (and its children's).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
