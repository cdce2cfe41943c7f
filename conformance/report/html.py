"""HTML reports: an index with agents side by side, and one page per case.

Pages work offline from file:// (no CDN, fonts or network), and everything that comes from the
target (headers, reasons, payloads, agent names) is escaped. A Content-Security-Policy allows
only the page's own inline script, by hash, so injected markup could not run script even if it
slipped through escaping.
"""

from __future__ import annotations

__all__ = ["write_html"]

import base64
import datetime
import difflib
import hashlib
import html
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conformance.report.model import BEHAVIORS, CaseResult, ReportDir, case_file_stem

_COLORS = {
    "OK": "#2e7d32", "NON-STRICT": "#9e9d24", "INFORMATIONAL": "#1565c0", "UNIMPLEMENTED": "#6d4c41",
    "FAILED": "#c62828", "WRONG CODE": "#ef6c00", "UNCLEAN": "#ad1457", "FAILED BY CLIENT": "#8e24aa",
}
_CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#263238;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#cfd8dc}
main{padding:16px 24px}a{color:#0d47a1}table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #e0e0e0;padding:3px 8px;text-align:left;vertical-align:top}
thead th{position:sticky;top:0;background:#eceff1;z-index:1}
tr.group th{background:#37474f;color:#fff;font-weight:600}tr.sub th{background:#eceff1;font-weight:600}
.v{display:inline-block;min-width:84px;padding:1px 6px;border-radius:3px;color:#fff;font-size:12px;text-decoration:none}
.c{display:inline-block;padding:1px 5px;border-radius:3px;color:#fff;font-size:11px;margin-left:3px}
.dur{color:#757575;font-size:11px;margin-left:4px}.controls{margin:10px 0 14px;display:flex;gap:18px;align-items:center}
.charts{display:flex;flex-wrap:wrap;gap:18px;margin-bottom:14px}.chart{background:#fff;border:1px solid #e0e0e0;padding:8px}
.legend span{display:inline-block;margin-right:10px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
pre{background:#f5f5f5;border:1px solid #e0e0e0;padding:8px;overflow:auto;max-height:360px;font-size:12px;white-space:pre-wrap;word-break:break-all}
section{background:#fff;border:1px solid #e0e0e0;margin:0 0 14px;padding:10px 14px}section h2{margin:0 0 8px;font-size:16px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}dt{font-weight:600;color:#455a64}
.wire td{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}.tx{color:#0d47a1}.rx{color:#1b5e20}
.diff .add{background:#e8f5e9}.diff .del{background:#ffebee}.muted{color:#757575}
"""
_INDEX_JS = """
(function(){
var f=document.getElementById('failonly'),g=document.getElementById('group');
function apply(){var only=f.checked,grp=g.value;
document.querySelectorAll('tbody tr').forEach(function(r){
var okGroup=!grp||r.dataset.group===grp;var okFail=!only||r.dataset.bad==='1'||!r.dataset.case;
r.style.display=(okGroup&&okFail)?'':'none';});}
f.addEventListener('change',apply);g.addEventListener('change',apply);})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _csp(script: str | None) -> str:
    src = "'none'"
    if script is not None:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        src = f"'sha256-{digest}'"
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {src}; "
            "base-uri 'none'; form-action 'none'")


def _page(title: str, body: str, script: str | None = None) -> str:
    js = f"<script>{script}</script>" if script else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_e(_csp(script))}">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>{body}{js}</body></html>")


def _badge(verdict: str, cls: str = "v", href: str | None = None) -> str:
    color = _COLORS.get(verdict, "#616161")
    inner = _e(verdict)
    if href:
        return f'<a class="{cls}" style="background:{color}" href="{_e(href)}">{inner}</a>'
    return f'<span class="{cls}" style="background:{color}">{inner}</span>'


def _bad(r: CaseResult) -> bool:
    """Marked in the summary: whatever would fail a --strict run (a SHOULD break included)."""
    return r.is_failure(strict=True)


def _sort_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in case_id.split("."))


def _group_of(case_id: str) -> str:
    return case_id.split(".", maxsplit=1)[0]


def _subgroup_of(case_id: str) -> str:
    parts = case_id.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def _chart(agent: str, results: list[CaseResult], groups: list[str]) -> str:
    """Stacked bars: for each group, the share of each behaviour verdict."""
    width, bar_h, gap = 360, 14, 4
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in results:
        counts[_group_of(r.id)][r.behavior] += 1
    rows = []
    for i, g in enumerate(groups):
        total = sum(counts[g].values())
        if not total:
            continue
        y = i * (bar_h + gap)
        x = 40.0
        rows.append(f'<text x="0" y="{y + 11}" font-size="11">{_e(g)}</text>')
        for v in BEHAVIORS:
            n = counts[g].get(v, 0)
            if n:
                w = (width - 40) * n / total
                rows.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{_COLORS[v]}">'
                            f"<title>{_e(g)}: {n} {_e(v)}</title></rect>")
                x += w
    height = max(1, len(groups)) * (bar_h + gap)
    legend = "".join(f'<span><i style="background:{_COLORS[v]}"></i>{_e(v)}</span>' for v in BEHAVIORS)
    return (f'<div class="chart"><strong>{_e(agent)}</strong><div class="legend">{legend}</div>'
            f'<svg width="{width}" height="{height}" role="img" aria-label="verdicts per group for {_e(agent)}">'
            f'{"".join(rows)}</svg></div>')


def _index(results: list[CaseResult], titles: dict[str, str]) -> str:
    agents = sorted({r.agent for r in results})
    by: dict[tuple[str, str], CaseResult] = {(r.agent, r.id): r for r in results}
    ids = sorted({r.id for r in results}, key=_sort_key)
    groups = sorted({_group_of(i) for i in ids}, key=lambda g: int(g) if g.isdigit() else 0)
    meta = {r.id: r for r in results}
    totals: dict[str, dict[str, int]] = {a: defaultdict(int) for a in agents}
    for r in results:
        totals[r.agent][r.behavior] += 1
    summary = "".join(
        f"<tr><th>{_e(a)}</th>" + "".join(f"<td>{totals[a].get(v, 0)}</td>" for v in BEHAVIORS)
        + f"<td>{sum(1 for r in results if r.agent == a and _bad(r))}</td></tr>" for a in agents)
    head_summary = "<tr><th>agent</th>" + "".join(f"<th>{_e(v)}</th>" for v in BEHAVIORS) + "<th>not OK</th></tr>"
    rows: list[str] = []
    for g in groups:
        gids = [i for i in ids if _group_of(i) == g]
        counts = []
        for a in agents:
            c: dict[str, int] = defaultdict(int)
            for i in gids:
                if (a, i) in by:
                    c[by[(a, i)].behavior] += 1
            counts.append(" ".join(f'<span class="c" style="background:{_COLORS[v]}">{c[v]}</span>'
                                   for v in BEHAVIORS if c.get(v)))
        rows.append(f'<tr class="group" data-group="{_e(g)}"><th colspan="2">{_e(g)} {_e(titles.get(g, ""))}</th>'
                    + "".join(f"<th>{x}</th>" for x in counts) + "</tr>")
        last_sub = None
        for i in gids:
            sub = _subgroup_of(i)
            if sub != g and sub != last_sub and sub in titles:
                rows.append(f'<tr class="sub" data-group="{_e(g)}"><th colspan="{2 + len(agents)}">'
                            f"{_e(sub)} {_e(titles[sub])}</th></tr>")
            last_sub = sub
            cells = []
            bad_any = False
            for a in agents:
                got = by.get((a, i))
                if got is None:
                    cells.append('<td class="muted">not run</td>')
                    continue
                r = got
                bad_any = bad_any or _bad(r)
                page = case_file_stem(a, i) + ".html"
                close = "" if r.behaviorClose == "OK" else _badge(r.behaviorClose, "c")
                cells.append(f"<td>{_badge(r.behavior, href=page)}{close}"
                             f'<span class="dur">{r.duration} ms</span></td>')
            m = meta[i]
            rows.append(f'<tr data-case="{_e(i)}" data-group="{_e(g)}" data-bad="{int(bad_any)}">'
                        f'<td>{_e(i)}</td><td>{_e(m.title)}</td>{"".join(cells)}</tr>')
    options = "".join(f'<option value="{_e(g)}">{_e(g)} {_e(titles.get(g, ""))}</option>' for g in groups)
    charts = "".join(_chart(a, [r for r in results if r.agent == a], groups) for a in agents)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (f"<header><h1>WebSocket conformance report</h1><p>{len(ids)} cases, {len(agents)} "
            f"agent{'s' if len(agents) != 1 else ''}; generated {stamp}. Verdicts follow Autobahn: "
            "behaviour, then close.</p></header><main>"
            f"<table>{head_summary}{summary}</table>"
            f'<div class="controls"><label><input type="checkbox" id="failonly"> failures only</label>'
            f'<label>group <select id="group"><option value="">all</option>{options}</select></label></div>'
            f'<div class="charts">{charts}</div>'
            f'<table id="cases"><thead><tr><th>case</th><th>title</th>'
            + "".join(f"<th>{_e(a)}</th>" for a in agents) + f'</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            "</main>")
    return _page("WebSocket conformance report", body, _INDEX_JS)


def _rfc_links(sections: Iterable[str]) -> str:
    out = []
    for s in sections:
        rfc, _, sec = str(s).partition(" §")
        num = rfc.replace("RFC", "").strip()
        if num.isdigit() and sec:
            out.append(f'<a href="https://www.rfc-editor.org/rfc/rfc{num}#section-{_e(sec)}">{_e(s)}</a>')
        else:
            out.append(_e(s))
    return ", ".join(out)


def _hexdump(hexstr: str, total: int) -> str:
    data = bytes.fromhex(hexstr) if hexstr else b""
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hexpart = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:06x}  {hexpart:<47}  {text}")
        if len(lines) >= 64:
            break
    shown = min(len(data), 64 * 16)
    if total > shown:
        lines.append(f"... {total - shown} more octets not shown ({total} in all)")
    return "\n".join(lines)


def _wirelog(entries: list[dict[str, Any]]) -> str:
    rows = []
    for e in entries:
        d = e.get("dir", "")
        detail = _e(e.get("text", ""))
        if e.get("kind") == "frame":
            detail += (f' <span class="muted">fin={_e(e.get("fin"))} rsv={_e(e.get("rsv"))} '
                       f'masked={_e(e.get("masked"))} len={_e(e.get("payload_len"))}</span>')
        dump = ""
        if e.get("hex"):
            dump = f"<details><summary>{_e(e.get('len'))} octets</summary><pre>{_e(_hexdump(e['hex'], int(e.get('len', 0))))}</pre></details>"
        rows.append(f'<tr class="{_e(d)}"><td>{float(e.get("t", 0)):.4f}</td><td>{_e(d)}</td>'
                    f'<td>{_e(e.get("kind"))}</td><td>{detail}{dump}</td></tr>')
    return ('<table class="wire"><thead><tr><th>t (s)</th><th>dir</th><th>kind</th><th>content</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _diff(expected: dict[str, list[Any]], received: list[Any]) -> str:
    got = [" ".join(map(str, x)) if isinstance(x, list) else str(x) for x in received]
    want = [" ".join(map(str, x)) if isinstance(x, list) else str(x) for x in expected.get("OK", [])]
    lines = list(difflib.unified_diff(want, got, "expected (OK)", "observed", lineterm="", n=3))
    if not lines:
        return '<p class="muted">Observed exactly the OK sequence.</p>'
    out = []
    for ln in lines:
        cls = "add" if ln.startswith("+") and not ln.startswith("+++") else (
            "del" if ln.startswith("-") and not ln.startswith("---") else "")
        out.append(f'<div class="{cls}">{_e(ln)}</div>')
    return f'<pre class="diff">{"".join(out)}</pre>'


def _case_page(r: CaseResult) -> str:
    alternatives = "".join(
        f"<dt>{_e(k)}</dt><dd>{_e(', '.join(' '.join(map(str, o)) for o in v) or 'nothing')}</dd>"
        for k, v in r.expected.items())
    observed = _e(", ".join(" ".join(map(str, o)) for o in r.received) or "nothing")
    rule = f"{_e(r.rule)} ({_rfc_links([r.section]) if r.section else ''})" if r.rule else (
        _rfc_links([r.section]) if r.section else "none")
    meas = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in r.measurements.items())
    flaky = f"<p><strong>Flaky:</strong> {r.attempts} attempts.</p>" if r.flaky else ""
    body = (f'<header><h1>{_e(r.id)} {_e(r.title)}</h1><p>agent {_e(r.agent)} · '
            f'<a style="color:#fff" href="index.html">back to the index</a></p></header><main>'
            f"<section><h2>Verdict</h2><dl><dt>behaviour</dt><dd>{_badge(r.behavior)} {_e(r.result)}</dd>"
            f"<dt>close</dt><dd>{_badge(r.behaviorClose)} {_e(r.resultClose)}</dd>"
            f"<dt>rule</dt><dd>{rule}</dd><dt>level</dt><dd>{_e(r.level)}</dd>"
            f"<dt>RFC</dt><dd>{_rfc_links(r.rfc)}</dd><dt>duration</dt><dd>{_e(r.duration)} ms</dd></dl>{flaky}</section>"
            f"<section><h2>Case</h2><dl><dt>what the suite does</dt><dd>{_e(r.description)}</dd>"
            f"<dt>what a conforming peer does</dt><dd>{_e(r.expectation)}</dd></dl></section>"
            f"<section><h2>Expected versus observed</h2><dl>{alternatives}<dt>observed</dt><dd>{observed}</dd>"
            f"<dt>expected close</dt><dd>{_e(json.dumps(r.expectedClose))}</dd></dl>{_diff(r.expected, r.received)}</section>"
            f"<section><h2>Close</h2><dl><dt>peer's close code</dt><dd>{_e(r.remoteCloseCode)}</dd>"
            f"<dt>peer's reason</dt><dd>{_e(r.remoteCloseReason)}</dd><dt>the suite closed first</dt>"
            f"<dd>{_e(r.closedByMe)}</dd><dt>clean</dt><dd>{_e(r.wasClean)}</dd></dl></section>"
            + (f"<section><h2>Measurements</h2><dl>{meas}</dl></section>" if meas else "")
            + f"<section><h2>Opening handshake</h2><h3>request</h3><pre>{_e(r.httpRequest)}</pre>"
            f"<h3>response</h3><pre>{_e(r.httpResponse)}</pre></section>"
            f"<section><h2>Wire log</h2>{_wirelog(r.wirelog)}</section></main>")
    return _page(f"{r.id} {r.title} ({r.agent})", body)


def write_html(report_dir: str | os.PathLike[str], group_titles: dict[str, str] | None = None) -> None:
    """Write index.html and one page per case from the JSON in `report_dir`."""
    rd = ReportDir(report_dir)
    results = list(rd.results())
    titles = dict(group_titles or {})
    path = Path(report_dir)
    for r in results:
        (path / (case_file_stem(r.agent, r.id) + ".html")).write_text(_case_page(r), encoding="utf-8")
    (path / "index.html").write_text(_index(results, titles), encoding="utf-8")

