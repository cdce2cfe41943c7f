"""Where the cases of a run wait, from the report alone: `python -m conformance.bench.waits DIR ...`.

Each per-case JSON carries `measurements.waited` (seconds by phase: connect, handshake,
step:KIND, close:..., pause, teardown, watch) and `measurements.waited_on_timer` (the part of
each that ended on its timer because the peer did nothing). This prints, per group, the cases'
own time (the sum of their durations), how much of it was waiting, how much of that ended on a
timer, and the phases that took most; then the cases that waited longest on a timer, with the
phase: the waits no peer event ended. `make bench-suite` prints the same for its groups.

Exit 0, or 2 with one line when a directory holds no readable report.
"""

from __future__ import annotations

__all__ = ["CaseWaits", "GroupWaits", "by_group", "load_waits", "main", "summary", "summary_of_dirs"]

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class CaseWaits:
    """One case's time and its waits (seconds)."""

    agent: str
    id: str
    seconds: float
    waited: dict[str, float]
    on_timer: dict[str, float]

    @property
    def group(self) -> str:
        return self.id.split(".")[0]


@dataclasses.dataclass
class GroupWaits:
    """The sums over the cases of one group."""

    group: str
    cases: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = dataclasses.field(default_factory=dict)
    timers: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def waited(self) -> float:
        return sum(self.phases.values())

    @property
    def on_timer(self) -> float:
        return sum(self.timers.values())

    def add(self, case: CaseWaits) -> None:
        self.cases += 1
        self.seconds += case.seconds
        for name, v in case.waited.items():
            self.phases[name] = self.phases.get(name, 0.0) + v
        for name, v in case.on_timer.items():
            self.timers[name] = self.timers.get(name, 0.0) + v


def _figures(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, (int, float))}


def load_waits(directory: str | Path) -> list[CaseWaits]:
    """The waits of every case in a report directory (through its index.json); ValueError when
    it holds no readable report."""
    root = Path(directory)
    try:
        index = json.loads((root / "index.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{root}: no readable index.json ({exc})") from None
    out = []
    for agent, entries in index.items():
        for case_id, entry in entries.items():
            try:
                detail = json.loads((root / entry["reportfile"]).read_text())
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a case without its file (not run): nothing to count
            m = detail.get("measurements") or {}
            out.append(CaseWaits(agent, case_id, float(entry.get("duration", 0)) / 1000,
                                 _figures(m.get("waited")), _figures(m.get("waited_on_timer"))))
    return out


def by_group(cases: Iterable[CaseWaits]) -> list[GroupWaits]:
    groups: dict[str, GroupWaits] = {}
    for case in cases:
        groups.setdefault(case.group, GroupWaits(case.group)).add(case)
    return sorted(groups.values(), key=lambda g: (int(g.group) if g.group.isdigit() else 1000, g.group))


def _top(phases: dict[str, float], n: int = 3) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(phases.items(), key=lambda kv: -kv[1])[:n] if v >= 0.005)


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:4.0f}%" if whole > 0 else "    -"


def summary(cases: Sequence[CaseWaits], longest: int = 10) -> str:
    """The table per group and the cases that waited longest on a timer."""
    head = (f"{'group':<6}{'cases':>6}{'case s':>9}{'waited':>9}{'share':>7}{'on timer':>10}{'share':>7}"
            "  most waited (s)")
    lines = ["time the cases spent waiting (case s: the sum of their durations; they overlap under --jobs)",
             head, "-" * len(head)]
    groups = by_group(cases)
    total = GroupWaits("all")
    for g in groups:
        lines.append(f"{g.group:<6}{g.cases:>6}{g.seconds:>9.2f}{g.waited:>9.2f}{_share(g.waited, g.seconds):>7}"
                     f"{g.on_timer:>10.2f}{_share(g.on_timer, g.seconds):>7}  {_top(g.phases)}")
        total.cases += g.cases
        total.seconds += g.seconds
        for src, dst in ((g.phases, total.phases), (g.timers, total.timers)):
            for k, v in src.items():
                dst[k] = dst.get(k, 0.0) + v
    lines.append(f"{'all':<6}{total.cases:>6}{total.seconds:>9.2f}{total.waited:>9.2f}"
                 f"{_share(total.waited, total.seconds):>7}{total.on_timer:>10.2f}"
                 f"{_share(total.on_timer, total.seconds):>7}  {_top(total.phases)}")
    timed = sorted((c for c in cases if c.on_timer), key=lambda c: -sum(c.on_timer.values()))[:longest]
    if timed:
        lines.append("waits that ended on their timer (no peer event ended them):")
        lines += [f"  {c.agent} {c.id}: {_top(c.on_timer)}" for c in timed]
    else:
        lines.append("no wait ended on its timer: each ended on what the peer did")
    return "\n".join(lines)


def summary_of_dirs(dirs: Iterable[str | Path], longest: int = 10) -> str:
    """`summary` over several report directories, leaving out those without a readable report
    (a group whose run broke down): what `make bench-suite` prints after its table."""
    cases: list[CaseWaits] = []
    for d in dirs:
        try:
            cases += load_waits(d)
        except ValueError:
            continue
    return summary(cases, longest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.bench.waits", description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="report directories of `conformance run`")
    ap.add_argument("--longest", type=int, default=10, help="how many of the longest timer waits to list")
    args = ap.parse_args(argv)
    cases: list[CaseWaits] = []
    for d in args.dirs:
        try:
            cases += load_waits(d)
        except ValueError as exc:
            print(f"bench.waits: {exc}", file=sys.stderr)
            return 2
    print(summary(cases, args.longest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
