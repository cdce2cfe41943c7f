"""Proof of stability: the catalogue gives the same verdicts quiet and with every core busy.

    python -m testees.stability [--rounds N] [--client-runs N] [--jobs N] [--out DIR] [--no-client]

For each server target (the embedded reference echo server, the websockets and wsproto echo servers
in testees/peers/) it runs the catalogue without the volume groups 9, 12 and 13, in N rounds of one
quiet run and one run under `cpu_load()`; then the client catalogue against the reference client
and the websockets client, five runs each (quiet, loaded, quiet, loaded, quiet). Every run is
compared with the first quiet run of its target, case by case, on the (behavior, behaviorClose)
pair. It prints a table (target, cases, runs, flips quiet vs quiet, flips loaded vs quiet) and
every flipped case with both verdicts and their reasons. Exit 0 when nothing flipped, 1 otherwise.
"""

from __future__ import annotations

__all__ = [
    "CLIENT_TARGETS", "Flip", "SERVER_TARGETS", "TEST_SERVER_CASES", "VOLUME_GROUPS", "Verdict",
    "flips", "format_flips", "main", "read_verdicts", "run_client_catalogue", "run_server_catalogue",
]

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from testees.load import cpu_load
from testees.peers.spawn import spawn_server

VOLUME_GROUPS = ("9.*", "12.*", "13.*")
# The size `make test` affords: framing, pings, reserved bits, opcodes, fragmentation, UTF-8, close.
TEST_SERVER_CASES = ("1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "15.*")
# target name -> the echo server's argv (None: the embedded reference server of `conformance run`)
SERVER_TARGETS: dict[str, list[str] | None] = {
    "reference": None,
    "websockets": ["-m", "testees.peers.websockets_server"],
    "wsproto": ["-m", "testees.peers.wsproto_server"],
}
CLIENT_TARGETS: dict[str, str] = {
    "reference-client": f"{sys.executable} -m conformance echo-client --url {{url}} --agent {{agent}}",
    "websockets-client": f"{sys.executable} -m testees.clients.websockets_client {{url}} {{agent}}",
}
_RUN_LIMIT = 900.0  # seconds: an upper bound on one catalogue run, never a measure of it


@dataclasses.dataclass(frozen=True)
class Verdict:
    behavior: str
    behavior_close: str
    result: str = ""
    result_close: str = ""

    @property
    def pair(self) -> tuple[str, str]:
        return (self.behavior, self.behavior_close)

    def __str__(self) -> str:
        return f"{self.behavior}/{self.behavior_close} ({self.result} | {self.result_close})"


@dataclasses.dataclass(frozen=True)
class Flip:
    case_id: str
    quiet: Verdict | None
    other: Verdict | None

    def __str__(self) -> str:
        return f"{self.case_id}:\n    quiet:  {self.quiet or 'not run'}\n    loaded: {self.other or 'not run'}"


def read_verdicts(out: Path) -> dict[str, Verdict]:
    """Every case's verdict and reasons from a report directory with one agent."""
    index: dict[str, Any] = json.loads((out / "index.json").read_text(encoding="utf-8"))
    got: dict[str, Verdict] = {}
    for entries in index.values():
        for case_id, entry in entries.items():
            detail: dict[str, Any] = {}
            report = out / entry.get("reportfile", "")
            if entry.get("reportfile") and report.is_file():
                detail = json.loads(report.read_text(encoding="utf-8"))
            got[case_id] = Verdict(entry["behavior"], entry["behaviorClose"],
                                   str(detail.get("result", "")), str(detail.get("resultClose", "")))
    return got


def flips(quiet: dict[str, Verdict], other: dict[str, Verdict]) -> list[Flip]:
    """Cases whose (behavior, behaviorClose) differs between two runs, or that only one run has."""
    ids = sorted(set(quiet) | set(other), key=_id_key)
    return [Flip(c, quiet.get(c), other.get(c)) for c in ids
            if c not in quiet or c not in other or quiet[c].pair != other[c].pair]


def format_flips(target: str, found: Sequence[Flip]) -> str:
    lines = [f"{target}: {len(found)} case(s) flipped"]
    lines += [f"  {f}" for f in found]
    return "\n".join(lines)


def _id_key(case_id: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def _selection(cases: Sequence[str], exclude: Sequence[str]) -> list[str]:
    argv: list[str] = []
    for glob in cases:
        argv += ["--cases", glob]
    for glob in exclude:
        argv += ["--exclude", glob]
    return argv


def _conformance(argv: list[str], out: Path) -> dict[str, Verdict]:
    """Run `python -m conformance run ...` into `out`; exit 0 or 1 (cases judged) is expected."""
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--quiet", "--out", str(out), *argv],
                          check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=_RUN_LIMIT)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"conformance run {' '.join(argv)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return read_verdicts(out)


@contextlib.contextmanager
def _server(target: str) -> Iterator[list[str]]:
    argv = SERVER_TARGETS[target]
    if argv is None:
        yield []
        return
    with spawn_server(argv) as (url, _):
        yield ["--server", url]


def run_server_catalogue(target: str, out: Path, cases: Sequence[str] = (),
                         exclude: Sequence[str] = VOLUME_GROUPS, jobs: int = 4) -> dict[str, Verdict]:
    """One server-side run of the selection against a fresh `target` process."""
    with _server(target) as where:
        return _conformance([*where, "--agent", target, "--jobs", str(jobs), *_selection(cases, exclude)], out)


def run_client_catalogue(target: str, out: Path, cases: Sequence[str] = (),
                         exclude: Sequence[str] = VOLUME_GROUPS) -> dict[str, Verdict]:
    """One client-side run: the suite serves, the client command runs every case."""
    return _conformance(["--client", CLIENT_TARGETS[target], "--agent", target.replace("-", "_"),
                         *_selection(cases, exclude)], out)


@dataclasses.dataclass
class _Row:
    target: str
    cases: int = 0
    runs: int = 0
    quiet_flips: set[str] = dataclasses.field(default_factory=set)
    loaded_flips: set[str] = dataclasses.field(default_factory=set)
    details: list[Flip] = dataclasses.field(default_factory=list)


def _runs(target: str, runs: int, work: Path, run: Any) -> _Row:
    """`runs` runs, quiet and loaded in turn (quiet first); each compared with the first quiet one."""
    row = _Row(target)
    first: dict[str, Verdict] | None = None
    for n in range(runs):
        loaded = n % 2 == 1
        kind = "loaded" if loaded else "quiet"
        with cpu_load() if loaded else contextlib.nullcontext():
            got: dict[str, Verdict] = run(target, work / f"{target}-{n + 1}-{kind}")
        row.runs += 1
        print(f"  {target} run {n + 1} {kind:<6}: {len(got)} cases", flush=True)
        if first is None:
            first, row.cases = got, len(got)
            continue
        found = flips(first, got)
        (row.loaded_flips if loaded else row.quiet_flips).update(f.case_id for f in found)
        row.details += [f for f in found if f.case_id not in {d.case_id for d in row.details}]
    return row


def _table(rows: Sequence[_Row]) -> str:
    head = f"{'target':<20} {'cases':>6} {'runs':>5} {'flips quiet':>12} {'flips loaded':>13}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.target:<20} {r.cases:>6} {r.runs:>5} {len(r.quiet_flips):>12} {len(r.loaded_flips):>13}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testees.stability", description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("STABILITY_ROUNDS", "3")),
                    help="quiet+loaded rounds per server target (default $STABILITY_ROUNDS or 3)")
    ap.add_argument("--client-runs", type=int, default=int(os.environ.get("STABILITY_CLIENT_RUNS", "5")),
                    help="client catalogue runs per client, quiet and loaded in turn (default "
                         "$STABILITY_CLIENT_RUNS or 5)")
    ap.add_argument("--jobs", type=int, default=4, help="cases at once in server runs (default 4)")
    ap.add_argument("--out", help="keep every run's report here (default: a temporary directory)")
    ap.add_argument("--no-client", action="store_true", help="server targets only")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.client_runs < 1 or args.jobs < 1:
        ap.error("--rounds, --client-runs and --jobs must be at least 1")
    with contextlib.ExitStack() as stack:
        work = Path(args.out) if args.out else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        rows = [_runs(t, 2 * args.rounds, work, lambda t, o: run_server_catalogue(t, o, jobs=args.jobs))
                for t in SERVER_TARGETS]
        if not args.no_client:
            rows += [_runs(t, args.client_runs, work, run_client_catalogue) for t in CLIENT_TARGETS]
    print()
    print(_table(rows))
    for row in rows:
        if row.details:
            print(format_flips(row.target, row.details))
    return 1 if any(r.details for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
