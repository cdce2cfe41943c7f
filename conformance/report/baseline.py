"""Baselines: the verdicts a project expects today, so CI fails only on differences.

Format (YAML): agent -> case id -> {behavior, behaviorClose, reason}. Cases not listed are expected
to be OK/OK. `conformance baseline DIR` writes one from a run, listing every case that is not OK.
"""

from __future__ import annotations

__all__ = ["Baseline", "baseline_from_dir", "compare_to_baseline", "load_baseline", "unknown_agents"]

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from conformance.catalog.yamlload import LDict, load_yaml
from conformance.errors import CaseFileError
from conformance.report.model import BEHAVIORS, CLOSE_BEHAVIORS, CaseResult, ReportDir

Baseline = dict[str, dict[str, dict[str, str]]]


def baseline_from_dir(report_dir: str | os.PathLike[str]) -> str:
    out: dict[str, dict[str, dict[str, str]]] = {}
    for r in sorted(ReportDir(report_dir).results(), key=lambda r: (r.agent, _key(r.id))):
        if r.behavior == "OK" and r.behaviorClose == "OK":
            continue
        reason = r.result if r.behavior != "OK" else r.resultClose
        out.setdefault(r.agent, {})[r.id] = {"behavior": r.behavior, "behaviorClose": r.behaviorClose,
                                             "reason": reason.splitlines()[0][:200] if reason else ""}
    head = ("# Baseline of known verdicts (conformance baseline). Cases not listed are expected OK/OK.\n"
            "# Use with: conformance run ... --baseline THIS_FILE\n")
    return head + yaml.safe_dump(out, sort_keys=False, allow_unicode=True, width=120)


def _key(case_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in case_id.split(".") if p.isdigit())


def load_baseline(path: str | os.PathLike[str]) -> Baseline:
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseFileError(p, None, None, f"cannot read the baseline: {exc}") from None
    doc = load_yaml(text, p)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise CaseFileError(p, 1, None, "a baseline maps agent names to cases")
    out: Baseline = {}
    for agent, cases in doc.items():
        line = doc.lines.get(agent) if isinstance(doc, LDict) else None
        if not isinstance(cases, dict):
            raise CaseFileError(p, line, str(agent), "maps case ids to {behavior, behaviorClose, reason}")
        for cid, entry in cases.items():
            eline = cases.lines.get(cid) if isinstance(cases, LDict) else line
            out.setdefault(str(agent), {})[str(cid)] = _entry(p, eline, f"{agent}.{cid}", entry)
    return out


_ENTRY_KEYS = ("behavior", "behaviorClose", "reason")


def _entry(path: str, line: int | None, field: str, entry: Any) -> dict[str, str]:
    if not isinstance(entry, dict):
        raise CaseFileError(path, line, field, "must be {behavior, behaviorClose, reason}")
    for key in entry:
        if key not in _ENTRY_KEYS:
            kline = entry.lines.get(key, line) if isinstance(entry, LDict) else line
            raise CaseFileError(path, kline, f"{field}.{key}", f"unknown key; allowed: {', '.join(_ENTRY_KEYS)}")
    b = entry.get("behavior", "OK")
    c = entry.get("behaviorClose", "OK")
    if b not in BEHAVIORS:
        raise CaseFileError(path, line, f"{field}.behavior", f"{b!r} is not one of {', '.join(BEHAVIORS)}")
    if c not in CLOSE_BEHAVIORS:
        raise CaseFileError(path, line, f"{field}.behaviorClose", f"{c!r} is not one of {', '.join(CLOSE_BEHAVIORS)}")
    return {"behavior": b, "behaviorClose": c, "reason": str(entry.get("reason", ""))}


def unknown_agents(baseline: Baseline, agents: Iterable[str]) -> list[str]:
    """Agents the baseline lists that the run does not have (a renamed agent compares nothing)."""
    have = set(agents)
    return sorted(a for a in baseline if a not in have)


def _passing(verdicts: tuple[str, str]) -> tuple[str, str]:
    """INFORMATIONAL is no deviation: it compares like OK."""
    b, c = verdicts
    return ("OK" if b == "INFORMATIONAL" else b, "OK" if c == "INFORMATIONAL" else c)


def compare_to_baseline(results: Iterable[CaseResult], baseline: Baseline) -> list[str]:
    """Every difference, in both directions: new failures and unexpected passes (INFORMATIONAL
    counts as OK on either side)."""
    diffs = []
    for r in sorted(results, key=lambda r: (r.agent, _key(r.id))):
        want = baseline.get(r.agent, {}).get(r.id, {"behavior": "OK", "behaviorClose": "OK"})
        got = _passing((r.behavior, r.behaviorClose))
        was = _passing((want["behavior"], want["behaviorClose"]))
        if got != was:
            kind = "unexpected pass" if got == ("OK", "OK") else "new failure" if was == ("OK", "OK") else "changed"
            diffs.append(f"{r.agent} {r.id}: {kind}: baseline {want['behavior']}/{want['behaviorClose']}, "
                         f"now {r.behavior}/{r.behaviorClose} — {r.result if r.behavior != 'OK' else r.resultClose}")
    return diffs
