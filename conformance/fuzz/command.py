"""`conformance fuzz`: generated conversations against a server or an in-process library."""

from __future__ import annotations

__all__ = ["add_fuzz_commands"]

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance.errors import ExitCode, UsageError


def add_fuzz_commands(sub: Any) -> None:
    f = sub.add_parser("fuzz", help="generated conversations judged by the engine; exports what it finds")
    tgt = f.add_mutually_exclusive_group(required=True)
    tgt.add_argument("--server", metavar="URL")
    tgt.add_argument("--impl", metavar="NAME")
    f.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    f.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis")
    f.add_argument("--out", default="reports/found", help="where found cases are written (default reports/found)")
    f.add_argument("--max-frames", type=int, default=5, help="longest conversation (default 5)")
    f.set_defaults(func=cmd_fuzz)


@contextlib.contextmanager
def _target(args: argparse.Namespace) -> Iterator[str]:
    if args.server:
        yield args.server
        return
    from conformance.targets.inprocess import impl_server

    with impl_server(args.impl) as url:
        yield url


def cmd_fuzz(args: argparse.Namespace) -> int:
    if args.engine == "atheris":
        raise UsageError("--engine atheris is not available yet for targets; use --engine hypothesis "
                         "(the engine's own atheris harness runs with `make fuzz-engine`)")
    from conformance.fuzz.hypo import fuzz_hypothesis

    with _target(args) as url:
        try:
            summary = fuzz_hypothesis(url, args.seconds, Path(args.out), max_frames=args.max_frames)
        except ConnectionError as exc:
            print(f"conformance: {url}: {exc}", file=sys.stderr)
            return int(ExitCode.UNREACHABLE)
    rate = summary.examples / max(summary.seconds, 1e-9)
    print(f"{summary.examples} generated conversations in {summary.seconds:.1f} s ({rate:.0f}/s)")
    for path, why in zip(summary.found, summary.detail, strict=True):
        print(f"discrepancy, shrunk and written to {path}: {why}")
        print(f"  replay: conformance run --server URL --cases-dir {path.parent}")
    return int(ExitCode.CASE_FAILED) if summary.found else 0
