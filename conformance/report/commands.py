"""`conformance report`, `conformance diff`, `conformance baseline`."""

from __future__ import annotations

__all__ = ["add_report_commands", "merge_reports", "run_report"]

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from conformance.errors import CaseFileError, ExitCode, UsageError


def run_report(report_dir: str | os.PathLike[str]) -> None:
    from conformance.catalog.load import load_catalogue
    from conformance.report.html import write_html

    try:
        titles = load_catalogue().titles
    except CaseFileError:
        titles = {}
    write_html(report_dir, titles)


def _require_dir(path: str) -> None:
    if not (Path(path) / "index.json").is_file():
        raise UsageError(f"{path}: not a report directory (no index.json)")


def merge_reports(into: str | os.PathLike[str], sources: list[str]) -> int:
    """Copy every agent's results from `sources` into the report directory `into` (runs made in
    parallel, or on several machines, become one report); returns the number of cases copied."""
    import json
    import shutil

    from conformance.report.model import ReportDir

    dest = ReportDir(into)
    dest.path.mkdir(parents=True, exist_ok=True)
    index = dest.load_index()
    copied = 0
    for src in sources:
        _require_dir(src)
        try:
            theirs = json.loads((Path(src) / "index.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UsageError(f"{src}/index.json: not valid JSON ({exc})") from None
        for agent, cases in theirs.items():
            for case_id, entry in cases.items():
                f = Path(src) / entry.get("reportfile", "")
                if f.is_file() and f.resolve() != (dest.path / f.name).resolve():
                    shutil.copyfile(f, dest.path / f.name)
                index.setdefault(agent, {})[case_id] = entry
                copied += 1
    (dest.path / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True), encoding="utf-8")
    return copied


def _cmd_report(args: argparse.Namespace) -> int:
    if args.merge:
        n = merge_reports(args.dir, args.merge)
        print(f"merged {n} case results from {len(args.merge)} run(s) into {args.dir}")
    _require_dir(args.dir)
    run_report(args.dir)
    print(f"wrote {Path(args.dir) / 'index.html'}")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from conformance.report.diff import diff_runs, render

    d = diff_runs(args.old, args.new)
    if args.out:
        Path(args.out).write_text(render(d, args.format) + "\n", encoding="utf-8")
        print(f"wrote {args.out}: {len(d.regressions)} regressions, {len(d.fixes)} fixes", file=sys.stderr)
    else:
        print(render(d, args.format))
    return int(ExitCode.CASE_FAILED) if d.regressions else 0


def _cmd_baseline(args: argparse.Namespace) -> int:
    from conformance.report.baseline import baseline_from_dir

    _require_dir(args.dir)
    sys.stdout.write(baseline_from_dir(args.dir))
    return 0


def add_report_commands(sub: Any) -> None:
    r = sub.add_parser("report", help="rebuild the HTML report from the JSON in DIR")
    r.add_argument("dir", help="the report directory (with index.json)")
    r.add_argument("--merge", nargs="+", metavar="RUN", default=[],
                   help="first copy the results of these report directories into DIR (agents side by side)")
    r.set_defaults(func=_cmd_report)
    d = sub.add_parser("diff", help="regressions and fixes between two runs (exit 1 on a regression)")
    d.add_argument("old", help="a report directory or its index.json")
    d.add_argument("new", help="a report directory or its index.json")
    d.add_argument("--format", choices=("text", "json", "markdown", "html"), default="text",
                   help="text (default), json, markdown for a pull-request comment, or html: a page with "
                        "only the flipped cases and both wire logs side by side, frame by frame")
    d.add_argument("--out", metavar="FILE", help="write the diff to FILE instead of stdout")
    d.set_defaults(func=_cmd_diff)
    b = sub.add_parser("baseline", help="print a baseline (YAML) of the run in DIR")
    b.add_argument("dir", help="the report directory of the run (with index.json)")
    b.set_defaults(func=_cmd_baseline)
