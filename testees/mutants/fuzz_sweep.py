"""Fuzz every mutant without the catalogue: `make fuzz-mutants` (SECONDS=60 per mutant by default).

For each mutant in testees/mutants/serve.py it runs `conformance fuzz --engine hypothesis` (with
--strict for the SHOULD-level breaks), then replays the exported case with `conformance run` and
checks that the replay fails too. Prints one line per mutant and exits 1 if any was missed.

python -m testees.mutants.fuzz_sweep [--seconds 60] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from conformance.cli import main as cli
from testees.mutants.serve import MUTANTS
from testees.peers.spawn import spawn_server


def sweep_one(name: str, seconds: float, work: Path) -> tuple[bool, float, str]:
    """(found and replayed, seconds to find, what was found)."""
    level = MUTANTS[name][1]
    found = work / name / "found"
    strict = ["--strict"] if level == "SHOULD" else []
    with spawn_server(["-m", "testees.mutants.serve", name]) as (url, _):
        t0 = time.monotonic()
        code = cli(["fuzz", "--server", url, "--seconds", str(seconds), "--out", str(found), *strict])
        took = time.monotonic() - t0
        files = sorted(found.glob("90_found_*.yaml"))
        if code != 1 or not files:
            return False, took, "nothing found"
        out = work / name / "replay"
        replay = cli(["run", "--quiet", "--server", url, "--cases-dir", str(found), "--out", str(out), *strict])
    (agent,) = json.loads((out / "index.json").read_text()).values()
    (entry,) = agent.values()
    result = json.loads((out / entry["reportfile"]).read_text())
    what = f"{result['behavior']}/{result['behaviorClose']} rule={result.get('rule')}"
    return replay in (1, 3), took, what  # 3: the replayed handshake never opened (e.g. a bad accept)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("names", nargs="*", default=sorted(MUTANTS))
    args = ap.parse_args()
    missed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names:
            ok, took, what = sweep_one(name, args.seconds, Path(tmp))
            print(f"{'found ' if ok else 'MISSED'} {name:28} {took:5.1f} s  {what}", flush=True)
            if not ok:
                missed.append(name)
    print(f"{len(args.names) - len(missed)} of {len(args.names)} mutants found by fuzzing alone")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
