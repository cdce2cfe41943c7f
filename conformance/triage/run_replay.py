"""`conformance replay DIR`: every per-case report of a run replayed, and the verdicts then and now
compared: "N of N verdicts reproduced", and each case that did not, with why.

A case counts as reproduced when both parts of its verdict (behaviour and close) are the same
now. The steps made again from their seeds (runner/regen.py) are also checked for the same
octets; a case whose verdict held but whose regenerated octets differ is listed apart, since the
claim "the same octets" is then not made.
"""

from __future__ import annotations

__all__ = ["RunReplay", "read_index", "render_run", "replay_run"]

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from conformance.catalog.load import load_catalogue
from conformance.catalog.model import Case
from conformance.errors import CaseFileError
from conformance.runner.trace import RunOptions
from conformance.targets.tcp import ServerTarget
from conformance.triage.replay import ReplayOutcome, replay_report


@dataclasses.dataclass
class RunReplay:
    """What replaying a run gave, case by case (agent, case id)."""

    reproduced: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    differ: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # (agent, id, then -> now)
    other_octets: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # same verdict, other octets
    refused: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # (agent, id, why)

    @property
    def total(self) -> int:
        return len(self.reproduced) + len(self.differ) + len(self.refused)

    @property
    def all_reproduced(self) -> bool:
        return self.total > 0 and len(self.reproduced) == self.total


def read_index(run_dir: Path) -> dict[str, dict[str, dict[str, object]]]:
    path = run_dir / "index.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CaseFileError(str(path), None, None, f"cannot read ({exc.strerror or exc}): a run directory of "
                            "`conformance run --out DIR` has one") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CaseFileError(str(path), None, None, f"not JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CaseFileError(str(path), None, None, "not the index of a run ({agent: {case id: {...}}})")
    return data


def replay_run(run_dir: str | os.PathLike[str], target: ServerTarget, opts: RunOptions,
               cases: Sequence[Case] | None = None, cases_dirs: Sequence[str] = (),
               progress: Callable[[str, str, ReplayOutcome | None], None] | None = None,
               given: frozenset[str] = frozenset()) -> RunReplay:
    """Replay every per-case report that `run_dir`'s index.json names against `target`, each
    under the bounds its run recorded except those in `given` (triage/replay.py, recorded_options)."""
    d = Path(run_dir)
    index = read_index(d)
    if cases is None:
        cases = load_catalogue(None, extra=list(cases_dirs)).cases
    out = RunReplay()
    for agent, entries in index.items():
        for cid, entry in entries.items():
            o = _one(d, agent, cid, entry, target, opts, cases, out, given)
            if progress is not None:
                progress(agent, cid, o)
    return out


def _one(d: Path, agent: str, cid: str, entry: dict[str, object], target: ServerTarget, opts: RunOptions,
         cases: Sequence[Case], out: RunReplay, given: frozenset[str] = frozenset()) -> ReplayOutcome | None:
    report = d / str(entry.get("reportfile") or "")
    try:
        o = replay_report(report, target, opts, cases, given=given)
    except CaseFileError as exc:
        out.refused.append((agent, cid, exc.message))
        return None
    then = (o.old.behavior, o.old.behaviorClose)
    now = (o.new.behavior, o.new.behaviorClose)
    if then != now:
        out.differ.append((agent, cid, f"{'/'.join(then)} then, {'/'.join(now)} now: {o.new.result} {o.new.resultClose}"))
    else:
        out.reproduced.append((agent, cid))
        if not o.same_octets:
            out.other_octets.append((agent, cid, "; ".join(c.line() for c in o.steps if not c.same_octets)))
    return o


def _refusals(refused: list[tuple[str, str, str]], shown: int = 8) -> list[str]:
    """One line per reason (a client run gives the same one for every case)."""
    by_why: dict[str, list[str]] = {}
    for agent, cid, why in refused:
        by_why.setdefault(why, []).append(f"{agent} {cid}")
    out = []
    for why, ids in by_why.items():
        more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
        out.append(f"not replayable: {', '.join(ids[:shown])}{more}: {why}")
    return out


def render_run(r: RunReplay) -> str:
    lines = [f"differs: {agent} {cid}: {why}" for agent, cid, why in r.differ]
    lines += _refusals(r.refused)
    lines += [f"same verdict, other octets: {agent} {cid}: {why}" for agent, cid, why in r.other_octets]
    regen = f"; {len(r.other_octets)} of them with other octets in a step made again from its seed" if r.other_octets else ""
    lines.append(f"{len(r.reproduced)} of {r.total} verdicts reproduced"
                 + (f" ({len(r.differ)} differ, {len(r.refused)} not replayable{regen})" if not r.all_reproduced
                    else regen))
    return "\n".join(lines)
