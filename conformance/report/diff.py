"""The difference between two runs: regressions, fixes and changed close codes (durations ignored).

`render(d, "html")` is the triage page: only the flipped cases, each with its verdict, rule and
section then and now, and both wire logs side by side, aligned frame by frame
(report/align.py), the first frame where the peer's answers differ marked."""

from __future__ import annotations

__all__ = ["RunDiff", "diff_runs", "render", "render_html"]

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from conformance.errors import CaseFileError
from conformance.verdicts import Behavior, CloseBehavior

# How good a verdict is, best first (used to tell a regression from a fix).
# (the enums list them in that order; JSON strings look the members up by value)
# INFORMATIONAL ranks with OK: it is no deviation, so OK <-> INFORMATIONAL is neither a regression nor a fix.
_RANK: dict[str, int] = {str(b): i for i, b in enumerate(Behavior)} | {str(Behavior.INFORMATIONAL): 0}
_RANK_CLOSE: dict[str, int] = {str(c): i for i, c in enumerate(
    (CloseBehavior.OK, CloseBehavior.INFORMATIONAL, CloseBehavior.UNIMPLEMENTED, CloseBehavior.FAILED_BY_CLIENT,
     CloseBehavior.WRONG_CODE, CloseBehavior.UNCLEAN, CloseBehavior.FAILED))} | {str(CloseBehavior.INFORMATIONAL): 0}


@dataclasses.dataclass
class RunDiff:
    regressions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    fixes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    close_codes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    added: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)
    note: str = ""
    sources: tuple[str, str] = ("", "")  # the index.json files compared (the per-case files sit beside them)


def _index_file(where: str | os.PathLike[str]) -> Path:
    p = Path(where)
    return p / "index.json" if p.is_dir() else p


def _load(where: str | os.PathLike[str]) -> dict[str, Any]:
    f = _index_file(where)
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CaseFileError(str(f), None, None, f"cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CaseFileError(str(f), getattr(exc, "lineno", None), None, f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) and all(isinstance(e, dict) for e in v.values())
                                             for v in data.values()):
        raise CaseFileError(str(f), 1, None, "not an index.json (agent -> case -> verdict)")
    return data


def _pair_agents(old: dict[str, Any], new: dict[str, Any], where: tuple[str, str]) -> tuple[dict[str, Any], str]:
    """Runs are compared agent by agent. With no agent in common, two one-agent runs are compared
    with each other (and the diff says so); otherwise nothing could be compared: a CaseFileError."""
    if set(old) & set(new) or not old or not new:
        return old, ""
    if len(old) == 1 and len(new) == 1:
        (a, cases), b = next(iter(old.items())), next(iter(new))
        return {b: cases}, f"comparing agent {a!r} (old) with agent {b!r} (new): the runs share no agent name"
    raise CaseFileError(where[1], None, None, f"no agent in common with {where[0]} (old: {', '.join(sorted(old))}; "
                        f"new: {', '.join(sorted(new))}), so there is nothing to compare")


def _worse(old: dict[str, Any], new: dict[str, Any]) -> int:
    """>0 when new is worse, <0 when better, 0 when the same verdicts."""
    ob, nb = _RANK.get(old.get("behavior", ""), 9), _RANK.get(new.get("behavior", ""), 9)
    oc, nc = _RANK_CLOSE.get(old.get("behaviorClose", ""), 9), _RANK_CLOSE.get(new.get("behaviorClose", ""), 9)
    return (nb - ob) * 10 + (nc - oc) if nb != ob else (nc - oc)


def diff_runs(old: str | os.PathLike[str], new: str | os.PathLike[str]) -> RunDiff:
    a, b = _load(old), _load(new)
    a, note = _pair_agents(a, b, (str(old), str(new)))
    d = RunDiff(note=note, sources=(str(_index_file(old)), str(_index_file(new))))
    for agent in sorted(set(a) | set(b)):
        oa, na = a.get(agent, {}), b.get(agent, {})
        for cid in sorted(set(oa) | set(na), key=lambda c: tuple(int(x) for x in c.split(".") if x.isdigit())):
            if cid not in na:
                d.removed.append(f"{agent} {cid}")
                continue
            if cid not in oa:
                d.added.append(f"{agent} {cid}")
                continue
            o, n = oa[cid], na[cid]
            row = {"agent": agent, "case": cid, "old": f"{o.get('behavior')}/{o.get('behaviorClose')}",
                   "new": f"{n.get('behavior')}/{n.get('behaviorClose')}",
                   "old_file": str(o.get("reportfile") or ""), "new_file": str(n.get("reportfile") or "")}
            change = _worse(o, n)
            if change > 0:
                d.regressions.append(row)
            elif change < 0:
                d.fixes.append(row)
            if o.get("remoteCloseCode") != n.get("remoteCloseCode"):
                d.close_codes.append({"agent": agent, "case": cid, "old": o.get("remoteCloseCode"),
                                      "new": n.get("remoteCloseCode")})
    return d


def render(d: RunDiff, fmt: str = "text") -> str:
    if fmt == "html":
        return render_html(d)
    if fmt == "json":
        return json.dumps(dataclasses.asdict(d), indent=1)
    md = fmt == "markdown"
    out = [f"Note: {d.note}"] if d.note else []
    for title, rows in (("Regressions", d.regressions), ("Fixes", d.fixes)):
        out.append(f"### {title} ({len(rows)})" if md else f"{title}: {len(rows)}")
        if md and rows:
            out += ["| agent | case | before | after |", "| --- | --- | --- | --- |"]
            out += [f"| {r['agent']} | {r['case']} | {r['old']} | {r['new']} |" for r in rows]
        else:
            out += [f"  {r['agent']} {r['case']}: {r['old']} -> {r['new']}" for r in rows]
    out.append(f"### Changed close codes ({len(d.close_codes)})" if md else f"Changed close codes: {len(d.close_codes)}")
    out += [f"{'- ' if md else '  '}{r['agent']} {r['case']}: {r['old'] or 'no close code'} -> "
            f"{r['new'] or 'no close code'}" for r in d.close_codes]
    if d.added or d.removed:
        out.append(f"Cases only in the new run: {len(d.added)}; only in the old run: {len(d.removed)}")
    return "\n".join(out)


# -- the triage page -----------------------------------------------------------------------------


def render_html(d: RunDiff) -> str:
    """The flipped cases (regressions first), each with both wire logs aligned frame by frame."""
    from conformance.report.html import COLORS, _render  # the report's page: same CSS and CSP

    flips = [("regression", r) for r in d.regressions] + [("fix", r) for r in d.fixes]
    cases = [_flip(kind, row, d.sources) for kind, row in flips]
    return _render("diff.html.j2", "Flipped cases", old=d.sources[0], new=d.sources[1], note=d.note,
                   cases=cases, regressions=len(d.regressions), fixes=len(d.fixes), colors=COLORS)


def _flip(kind: str, row: dict[str, Any], sources: tuple[str, str]) -> dict[str, Any]:
    from conformance.report.align import align, first_difference, wire_items

    old, old_why = _case_report(sources[0], row["old_file"], row["old"])
    new, new_why = _case_report(sources[1], row["new_file"], row["new"])
    out: dict[str, Any] = {"kind": kind, "kind_label": "Regression" if kind == "regression" else "Fix",
                           "agent": row["agent"], "case": row["case"], "old": old, "new": new, "rows": [],
                           "first": None, "missing": old_why or new_why,
                           "anchor": f"{row['agent']}-{row['case']}".replace(".", "_")}
    if old_why or new_why:
        return out
    rows = align(wire_items(old["wirelog"]), wire_items(new["wirelog"]))
    first = first_difference(rows)
    out["first"] = first
    out["rows"] = [{"old": f"{r.old.dir}  {r.old.text}" if r.old else "", "new": f"{r.new.dir}  {r.new.text}" if r.new else "",
                    "old_dir": r.old.dir if r.old else "", "new_dir": r.new.dir if r.new else "",
                    "first": i == first, "cls": "first" if i == first else ("differs" if r.differs else "")}
                   for i, r in enumerate(rows)]
    return out


_SHOWN = ("behavior", "behaviorClose", "result", "resultClose", "rule", "section")


def _case_report(index: str, name: str, verdicts: str) -> tuple[dict[str, Any], str]:
    """The per-case JSON beside `index` as the page shows it (words, never None), or why it is missing."""
    behavior, _, close = verdicts.partition("/")
    shown: dict[str, Any] = {"behavior": behavior, "behaviorClose": close, "result": "", "resultClose": "",
                             "rule": "none", "section": "none", "wirelog": []}
    f = Path(index).parent / name
    try:
        data = json.loads(f.read_text(encoding="utf-8")) if name else None
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("wirelog"), list):
        return shown, f"The wire logs are not shown: {f} is missing or not a per-case report."
    for k in _SHOWN:
        if data.get(k) not in (None, ""):
            shown[k] = str(data[k])
    shown["wirelog"] = [e for e in data["wirelog"] if isinstance(e, dict)]
    return shown, ""
