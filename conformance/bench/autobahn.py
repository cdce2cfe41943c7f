"""`make bench-autobahn`: Autobahn|Testsuite's fuzzingclient and this suite on the same server and
the same cases, group by group, in one run; prints both wall times and their ratio.

Autobahn runs on Python 2.7 (`pip install autobahntestsuite` gives `wstest`). Without it the
benchmark is skipped with a message and exit status 0, so that `make bench-autobahn` can stand in
a CI job on machines that lack it. The server is the embedded reference (started through
`conformance echo-server`) unless `--server URL` names one.
"""

from __future__ import annotations

__all__ = ["find_wstest", "main"]

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_GROUPS = ("1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13")


def find_wstest(explicit: str | None = None) -> list[str] | None:
    """The command that runs Autobahn's `wstest`, or None when no Python 2.7 with it is found."""
    if explicit:
        return explicit.split()
    wstest = shutil.which("wstest")
    if wstest:
        return [wstest]
    for py in ("python2.7", "python2"):
        exe = shutil.which(py)
        if exe and subprocess.run([exe, "-c", "import autobahntestsuite"], capture_output=True,
                                  check=False).returncode == 0:
            return [exe, "-m", "autobahntestsuite.wstest"]
    return None


def _autobahn(wstest: list[str], url: str, group: str, tmp: Path) -> float:
    spec = {"outdir": str(tmp / f"autobahn-{group}"), "servers": [{"agent": "target", "url": url}],
            "cases": [f"{group}.*"], "exclude-cases": [], "exclude-agent-cases": {}}
    path = tmp / f"fuzzingclient-{group}.json"
    path.write_text(json.dumps(spec))
    t = time.perf_counter()
    subprocess.run([*wstest, "-m", "fuzzingclient", "-s", str(path)], cwd=tmp,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def _ours(url: str, group: str, tmp: Path, jobs: int) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "conformance", "run", "--server", url, "--cases", f"{group}.*",
                    "--out", str(tmp / f"ours-{group}"), "--jobs", str(jobs), "--quiet"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--wstest", help="command running Autobahn's wstest (default: found on PATH)")
    ap.add_argument("--server", help="ws:// URL of the server both run against")
    ap.add_argument("--groups", nargs="*", default=list(_GROUPS))
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args(argv)
    wstest = find_wstest(args.wstest or os.environ.get("WSTEST"))
    if wstest is None:
        print("bench-autobahn: skipped: no Python 2.7 with autobahntestsuite (wstest) was found; "
              "install it (e.g. pyenv install 2.7.18; pip install autobahntestsuite) or pass --wstest CMD")
        return 0
    from conformance.bench.suite import _server

    print(f"{'group':<6}{'Autobahn s':>11}{'suite s':>9}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp, _server(args.server, None) as (url, _proc):
        for group in args.groups:
            theirs = _autobahn(wstest, url, group, Path(tmp))
            ours = _ours(url, group, Path(tmp), args.jobs)
            print(f"{group:<6}{theirs:>11.1f}{ours:>9.1f}{ours / max(theirs, 1e-9):>7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
