"""`make bench-suite`: wall time and peak memory of whole-catalogue runs against real servers.

Runs `conformance run` as a child process (so its peak RSS is its own) against a websockets echo
server with compression on, and against the embedded reference server, and prints the numbers
next to the goals of the project (all cases < 60 s, groups 1-10 < 3 s, peak RSS < 4x the largest
message). Run from a checkout: the websockets peer is the testee `python -m testees.peers.websockets_server`
(started as a command; nothing in conformance/ imports the testees).
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conformance.targets.process import announced_server

ROOT = Path(__file__).resolve().parents[2]


def _run(url: str | None, cases: list[str], out: str, jobs: int) -> tuple[float, float, dict[str, int]]:
    argv = [sys.executable, "-m", "conformance", "run", "--out", out, "--jobs", str(jobs), "--quiet"]
    if url:
        argv += ["--server", url, "--agent", "websockets"]
    for c in cases:
        argv += ["--cases", c]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    verdicts: dict[str, int] = {}
    try:
        index = json.loads((Path(out) / "index.json").read_text())
        for cases_ in index.values():
            for entry in cases_.values():
                verdicts[entry["behavior"]] = verdicts.get(entry["behavior"], 0) + 1
    except OSError:
        pass
    return wall, max(peak, before) / 1024, verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args(argv)
    largest = 16 * 1024 * 1024  # 9.1.6 / 9.2.6: the largest message of the catalogue
    rows: list[tuple[str, float, float, dict[str, int]]] = []
    with tempfile.TemporaryDirectory() as tmp, announced_server(
            [sys.executable, "-m", "testees.peers.websockets_server"], cwd=str(ROOT)) as (url, _):
        for label, target, sel in [
            ("websockets (deflate), groups 1-10", url, ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]),
            ("websockets (deflate), all cases", url, []),
            ("reference server, all cases", None, []),
        ]:
            out = os.path.join(tmp, label.split()[0] + str(len(rows)))
            wall, rss_mb, verdicts = _run(target, sel, out, args.jobs)
            rows.append((label, wall, rss_mb, verdicts))
    print(f"{'run':<38} {'wall s':>8} {'peak RSS MiB':>13}  verdicts")
    for label, wall, rss, verdicts in rows:
        print(f"{label:<38} {wall:>8.1f} {rss:>13.0f}  {verdicts}")
    print(f"goals: all cases < 60 s; groups 1-10 < 3 s; peak RSS < {4 * largest / 2**20:.0f} MiB "
          "(4x the largest message, 16 MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
