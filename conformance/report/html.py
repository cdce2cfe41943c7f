"""HTML reports (jinja2 templates in report/templates/): an index with the agents side by side, and
one page per case.

The index has a summary per agent, a colour matrix of groups x agents, the time spent per group,
the throughput of the performance cases, and every case with its reason on hover. Each case is
counted once, by its outcome (conformance.report.present.outcome, which asks
conformance.verdicts.is_failure): a close that breaks a MUST rule makes the case red even when its
behaviour is OK, and a case the run never reached is "not run", never a failure.

Pages work offline from file:// (no CDN, fonts or network), and everything that comes from the
target (headers, reasons, payloads, agent names) is escaped by the templates' autoescaping. A
Content-Security-Policy allows only the page's own script, by hash, so injected markup could not
run script even if it slipped through escaping.
"""

from __future__ import annotations

__all__ = ["write_html"]

import base64
import contextlib
import datetime
import difflib
import hashlib
import os
from collections import Counter
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from conformance.catalog.cache import cache_dir
from conformance.report.model import CaseResult, ReportDir, case_file_stem
from conformance.report.present import (
    OUTCOMES,
    comparable,
    expected_close_text,
    expected_text,
    measurement_rows,
    observed_text,
    outcome,
    tx_frames,
    words,
)
from conformance.verdicts import is_not_run

COLORS = {
    "OK": "#2e7d32", "NON-STRICT": "#9e9d24", "INFORMATIONAL": "#1565c0", "UNIMPLEMENTED": "#6d4c41",
    "FAILED": "#c62828", "WRONG CODE": "#ef6c00", "UNCLEAN": "#ad1457", "FAILED BY CLIENT": "#8e24aa",
    "NOT RUN": "#9e9e9e",
}
# one colour per agent in the charts (cycled)
_AGENT_COLORS = ("#1565c0", "#ef6c00", "#2e7d32", "#8e24aa", "#00838f", "#ad1457", "#5d4037", "#546e7a")
_SEVERITY = {o.key: i for i, o in enumerate(OUTCOMES)}


def _static(name: str) -> str:
    return (resources.files("conformance.report") / "static" / name).read_text(encoding="utf-8")


_ENV_OPTIONS: dict[str, Any] = {"autoescape": True, "undefined": jinja2.StrictUndefined,
                                "trim_blocks": True, "lstrip_blocks": True}


@cache
def _env() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("conformance.report") / "templates"))
    return jinja2.Environment(loader=loader, bytecode_cache=_bytecode_cache(), **_ENV_OPTIONS)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The templates compiled by an earlier run (25 ms of every run otherwise), in the catalogue's
    cache directory (catalog/cache.py). jinja2 keys each by its source's checksum; the directory's
    name adds what else makes the compiled code (jinja2's version, the environment's options).
    None when that directory is off or cannot be written (jinja2 would fail the render on a write
    it cannot do)."""
    where = cache_dir()
    if where is None:
        return None
    made_by = f"{jinja2.__version__} {sorted((k, repr(v)) for k, v in _ENV_OPTIONS.items())}"
    path = where / f"templates-{hashlib.sha256(made_by.encode()).hexdigest()[:16]}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    return _QuietBytecodeCache(str(path)) if os.access(path, os.W_OK | os.X_OK) else None


class _QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
    """jinja2's cache of compiled templates, where a file that cannot be read or written (a full
    disk, an entry cut short) only means compiling the template again, never a failed report."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # whatever is wrong with the entry, the source is there
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _csp(script: str | None) -> str:
    src = "'none'"
    if script is not None:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        src = f"'sha256-{digest}'"
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {src}; "
            "base-uri 'none'; form-action 'none'")


def _render(template: str, title: str, script: str | None = None, **data: Any) -> str:
    return _env().get_template(template).render(title=title, csp=_csp(script), css=_static("report.css"),
                                                script=script, **data)


def _sort_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in case_id.split("."))


def _group_of(case_id: str) -> str:
    return case_id.split(".", maxsplit=1)[0]


def _subgroup_of(case_id: str) -> str:
    parts = case_id.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def _summary(agents: list[str], results: list[CaseResult]) -> list[dict[str, Any]]:
    rows = []
    for a in agents:
        counts = Counter(outcome(r).key for r in results if r.agent == a)
        rows.append({"agent": a, "total": sum(counts.values()),
                     "counts": {o.key: counts.get(o.key, 0) for o in OUTCOMES}})
    return rows


def _breakdown(results: list[CaseResult]) -> str:
    counts = Counter(outcome(r).key for r in results)
    return ", ".join(f"{counts[o.key]} {o.label}" for o in reversed(OUTCOMES) if counts.get(o.key))


def _matrix_cell(results: list[CaseResult]) -> dict[str, Any] | None:
    if not results:
        return None
    worst = max((outcome(r) for r in results), key=lambda o: _SEVERITY[o.key])
    failing = sum(1 for r in results if outcome(r).key == "fails")
    n = f"{len(results)} case{'s' if len(results) != 1 else ''}"
    text = f"{failing} of {len(results)} fail" if failing else f"{n}, {worst.label}"
    return {"color": worst.color, "key": worst.key, "text": text, "hover": _breakdown(results)}


def _matrix(agents: list[str], groups: list[str], titles: dict[str, str],
            by_group: dict[tuple[str, str], list[CaseResult]]) -> list[dict[str, Any]]:
    return [{"group": g, "title": titles.get(g, ""),
             "cells": [_matrix_cell(by_group.get((a, g), [])) for a in agents]} for g in groups]


def _durations(agents: list[str], groups: list[str],
               by_group: dict[tuple[str, str], list[CaseResult]]) -> dict[str, Any]:
    """Horizontal bars: for each group one bar per agent, the seconds its cases took together."""
    left, width, bar_h = 40, 300, 10
    secs = {(a, g): sum(r.duration for r in by_group.get((a, g), [])) / 1000 for a in agents for g in groups}
    top = max(secs.values(), default=0) or 1
    bars, y = [], 0
    for g in groups:
        for i, a in enumerate(agents):
            s = secs[(a, g)]
            bars.append({"label": g if i == 0 else "", "y": y, "w": round(width * s / top, 1),
                         "color": _AGENT_COLORS[i % len(_AGENT_COLORS)], "value": _seconds(s),
                         "hover": f"group {g}, {a}: {_seconds(s)}"})
            y += bar_h + 1
        y += 5
    return {"left": left, "width": left + width + 50, "height": max(y, 1), "bar_h": bar_h, "bars": bars,
            "agents": _agent_legend(agents)}


def _seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s"


def _agent_legend(agents: list[str]) -> list[dict[str, str]]:
    return [{"name": a, "color": _AGENT_COLORS[i % len(_AGENT_COLORS)]} for i, a in enumerate(agents)]


def _performance(agents: list[str], results: list[CaseResult]) -> dict[str, Any]:
    """Bars of MB/s for every case that measured throughput, one bar per agent."""
    left, width, bar_h = 50, 260, 6
    perf = {(r.agent, r.id): float(r.measurements["mb_per_s"]) for r in results
            if isinstance(r.measurements.get("mb_per_s"), (int, float))}
    ids = sorted({i for _, i in perf}, key=_sort_key)
    top = max(perf.values(), default=0) or 1
    bars, y = [], 0
    for case_id in ids:
        first = True
        for i, a in enumerate(agents):
            if (a, case_id) in perf:
                v = perf[(a, case_id)]
                bars.append({"label": case_id if first else "", "y": y, "w": round(width * v / top, 1),
                             "color": _AGENT_COLORS[i % len(_AGENT_COLORS)],
                             "hover": f"{case_id}, {a}: {v:g} MB/s"})
                first = False
                y += bar_h + 1
        y += 5
    return {"left": left, "width": left + width + 10, "height": max(y, 1), "bar_h": bar_h, "bars": bars,
            "agents": _agent_legend(agents)}


def _case_cell(r: CaseResult) -> dict[str, Any]:
    out = outcome(r)
    return {"key": out.key, "color": out.color, "behavior": r.behavior,
            "bcolor": COLORS.get(r.behavior, "#616161"), "page": case_file_stem(r.agent, r.id) + ".html",
            "hover": f"{out.label}: {r.result}" if r.result else out.label,
            "close": "" if r.behaviorClose in ("OK", r.behavior) else r.behaviorClose,
            "ccolor": COLORS.get(r.behaviorClose, "#616161"), "close_hover": r.resultClose,
            "duration": r.duration}


def _rows(agents: list[str], ids: list[str], titles: dict[str, str],
          by: dict[tuple[str, str], CaseResult]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    current_group, last_sub = None, None
    for i in ids:
        g, sub = _group_of(i), _subgroup_of(i)
        if g != current_group:
            current_group = g
            cells = []
            for a in agents:
                c = Counter(outcome(by[(a, x)]).key for x in ids if _group_of(x) == g and (a, x) in by)
                cells.append([{"color": o.color, "label": o.label, "n": c[o.key]} for o in OUTCOMES if c.get(o.key)])
            rows.append({"kind": "group", "group": g, "title": titles.get(g, ""), "cells": cells})
        if sub != g and sub != last_sub and sub in titles:
            rows.append({"kind": "sub", "group": g, "sub": sub, "title": titles[sub]})
        last_sub = sub
        got = [by.get((a, i)) for a in agents]
        meta = next(r for r in got if r is not None)
        rows.append({"kind": "case", "id": i, "group": g, "sub": sub, "title": meta.title,
                     "bad": int(any(r is not None and r.is_failure(strict=True) for r in got)),
                     "cells": [_case_cell(r) if r is not None else None for r in got]})
    return rows


def _index(results: list[CaseResult], titles: dict[str, str]) -> str:
    agents = sorted({r.agent for r in results})
    by = {(r.agent, r.id): r for r in results}
    ids = sorted({r.id for r in results}, key=_sort_key)
    groups = sorted({_group_of(i) for i in ids}, key=lambda g: int(g) if g.isdigit() else 0)
    by_group: dict[tuple[str, str], list[CaseResult]] = {}
    for r in results:
        by_group.setdefault((r.agent, _group_of(r.id)), []).append(r)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return _render("index.html.j2", "WebSocket conformance report", _static("index.js"),
                   n_cases=len(ids), agents=agents, stamp=stamp, outcomes=OUTCOMES,
                   summary=_summary(agents, results), matrix=_matrix(agents, groups, titles, by_group),
                   dur=_durations(agents, groups, by_group), perf=_performance(agents, results),
                   groups=[{"id": g, "title": titles.get(g, "")} for g in groups],
                   rows=_rows(agents, ids, titles, by))


def _rfc_link(section: str) -> Markup:
    rfc, _, sec = str(section).partition(" §")
    num = rfc.replace("RFC", "").strip()
    if num.isdigit() and sec:
        return Markup('<a href="https://www.rfc-editor.org/rfc/rfc{}#section-{}">{}</a>').format(num, sec, section)
    return escape(section)


def _hexdump(hexstr: str, total: int) -> str:
    data = bytes.fromhex(hexstr) if hexstr else b""
    lines = []
    for off in range(0, min(len(data), 64 * 16), 16):
        chunk = data[off : off + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:06x}  {' '.join(f'{b:02x}' for b in chunk):<47}  {text}")
    shown = min(len(data), 64 * 16)
    if total > shown:
        lines.append(f"... {total - shown} more octets not shown ({total} in all)")
    return "\n".join(lines)


def _flags(fin: Any, rsv: Any, masked: Any, length: Any) -> str:
    bits = "".join(str(int(bool(b))) for b in rsv) if isinstance(rsv, (list, tuple)) else words(rsv)
    return f"fin {int(bool(fin))}, rsv {bits}, {'masked' if masked else 'unmasked'}, {words(length)} octets"


def _wire(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent = tx_frames(entries)
    rows = []
    for n, e in enumerate(entries):
        frames = []
        text = str(e.get("text") or "")
        if e.get("kind") == "frame":
            frames = [{"text": text, "flags": _flags(e.get("fin"), e.get("rsv"), e.get("masked"),
                                                     e.get("payload_len"))}]
            text = ""
        elif n in sent:
            frames = [{"text": f.text, "flags": _flags(f.fin, [c == "1" for c in f.rsv], f.masked, f.length)}
                      for f in sent[n]]
            text = "" if text == "engine" or text.startswith(frames[0]["text"].split(" ")[0]) else text
        dump = _hexdump(e["hex"], int(e.get("len", 0))) if e.get("hex") else ""
        rows.append({"t": f"{float(e.get('t', 0)):.4f}", "dir": e.get("dir", ""), "kind": e.get("kind", ""),
                     "frames": frames, "text": text, "dump": dump, "len": e.get("len", 0)})
    return rows


def _diff(r: CaseResult) -> list[tuple[str, str]]:
    got = [observed_text(o) for o in r.received]
    want = [comparable(o) for o in r.expected.get("OK", [])]
    lines = list(difflib.unified_diff(want, got, "expected (OK)", "observed", lineterm="", n=3))
    out = []
    for ln in lines:
        cls = "add" if ln.startswith("+") and not ln.startswith("+++") else (
            "del" if ln.startswith("-") and not ln.startswith("---") else "")
        out.append((cls, ln))
    return out


def _same_note(r: CaseResult) -> str:
    if is_not_run(r.behavior, r.behaviorClose):
        return "The case was not run, so nothing was observed."
    if r.behavior == "OK":
        return "The messages received are exactly the OK sequence."
    return ("The messages received match the OK sequence; the verdict rests on something else the peer "
            "did (the handshake response, a rule it broke, or how it closed), as the verdict above says.")


def _who_closed(r: CaseResult) -> str:
    if r.closedByMe is None:
        return "no closing handshake was started"
    return "the suite" if r.closedByMe else "the peer"


def _close_rows(r: CaseResult) -> list[tuple[str, str]]:
    return [("peer's close code", words(r.remoteCloseCode)),
            ("peer's reason", "none" if r.remoteCloseReason in (None, "") else f"'{r.remoteCloseReason}'"),
            ("first close frame sent by", _who_closed(r)),
            ("clean close", "not known" if r.wasClean is None else words(r.wasClean))]


def _case_page(r: CaseResult) -> str:
    return _render("case.html.j2", f"{r.id} {r.title} ({r.agent})", None, r=r, out=outcome(r), colors=COLORS,
                   link=_rfc_link, expected=[(k, expected_text(v)) for k, v in r.expected.items()],
                   observed=", ".join(observed_text(o) for o in r.received) or "nothing",
                   expected_close=expected_close_text(r.expectedClose, "RESPONSE" in r.expected, "CLIENT" in r.expected), diff=_diff(r), same_note=_same_note(r),
                   close_rows=_close_rows(r), measurements=measurement_rows(r.measurements), wire=_wire(r.wirelog))


def write_html(report_dir: str | os.PathLike[str], group_titles: dict[str, str] | None = None) -> None:
    """Write index.html and one page per case from the JSON in `report_dir`."""
    results = list(ReportDir(report_dir).results())
    path = Path(report_dir)
    for r in results:
        (path / (case_file_stem(r.agent, r.id) + ".html")).write_text(_case_page(r), encoding="utf-8")
    (path / "index.html").write_text(_index(results, dict(group_titles or {})), encoding="utf-8")
