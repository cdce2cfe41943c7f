"""`conformance report`, `conformance diff`, `conformance baseline`."""

from __future__ import annotations

__all__ = ["add_report_commands", "run_report"]

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


def _cmd_report(args: argparse.Namespace) -> int:
    _require_dir(args.dir)
    run_report(args.dir)
    print(f"wrote {Path(args.dir) / 'index.html'}")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from conformance.report.diff import diff_runs, render

    d = diff_runs(args.old, args.new)
    print(render(d, args.format))
    return int(ExitCode.CASE_FAILED) if d.regressions else 0


def _cmd_baseline(args: argparse.Namespace) -> int:
    from conformance.report.baseline import baseline_from_dir

    _require_dir(args.dir)
    sys.stdout.write(baseline_from_dir(args.dir))
    return 0


def add_report_commands(sub: Any) -> None:
    r = sub.add_parser("report", help="rebuild the HTML report from the JSON in DIR")
    r.add_argument("dir")
    r.set_defaults(func=_cmd_report)
    d = sub.add_parser("diff", help="regressions and fixes between two runs (exit 1 on a regression)")
    d.add_argument("old", help="a report directory or its index.json")
    d.add_argument("new", help="a report directory or its index.json")
    d.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    d.set_defaults(func=_cmd_diff)
    b = sub.add_parser("baseline", help="print a baseline (YAML) of the run in DIR")
    b.add_argument("dir")
    b.set_defaults(func=_cmd_baseline)
