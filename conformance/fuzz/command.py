"""`conformance fuzz`: generated conversations against a server or an in-process library."""

from __future__ import annotations

__all__ = [
    "add_fuzz_commands",
    "cmd_fuzz",
]

import argparse
import sys
from pathlib import Path
from typing import Any

from conformance.errors import ExitCode, UsageError


def add_fuzz_commands(sub: Any) -> None:
    f = sub.add_parser("fuzz", help="generated conversations judged by the engine; exports what it finds")
    tgt = f.add_mutually_exclusive_group(required=True)
    tgt.add_argument("--server", metavar="URL", help="fuzz this server over TCP (ws://, loopback only)")
    tgt.add_argument("--impl", metavar="NAME", help="fuzz this in-process library (wsproto, websockets, module:factory)")
    f.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    f.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis",
                   help="hypothesis (default: generated conversations) or atheris (coverage-guided, --impl only)")
    f.add_argument("--out", default="reports/found", help="where found cases are written (default reports/found)")
    f.add_argument("--max-steps", "--max-frames", dest="max_steps", type=int, default=5,
                   help="most steps (frames, messages, checkpoints) per exchange (default 5; "
                        "an in-process conversation gets three times as many)")
    f.add_argument("--strict", action="store_true",
                   help="SHOULD-level verdicts (NON-STRICT, FAILED BY CLIENT) count as discrepancies too")
    f.add_argument("--corpus", metavar="DIR",
                   help="atheris: the corpus directory, kept between runs (default OUT/corpus/IMPL)")
    f.add_argument("--jobs", type=int, default=1, help="atheris: fuzzing processes at once (default 1)")
    f.set_defaults(func=cmd_fuzz)


def cmd_fuzz(args: argparse.Namespace) -> int:
    if args.engine == "atheris":
        return _fuzz_atheris(args)
    if args.impl:
        return _fuzz_conversations(args)
    from conformance.fuzz.hypo import fuzz_hypothesis

    url = args.server
    try:
        summary = fuzz_hypothesis(url, args.seconds, Path(args.out), max_steps=args.max_steps, strict=args.strict)
    except ConnectionError as exc:
        print(f"conformance: {url}: {exc}", file=sys.stderr)
        return int(ExitCode.UNREACHABLE)
    rate = summary.examples / max(summary.seconds, 1e-9)
    print(f"{summary.examples} generated exchanges in {summary.seconds:.1f} s ({rate:.0f}/s)")
    if summary.found_after is not None:
        print(f"first discrepancy after {summary.found_after:.1f} s; shrinking took "
              f"{summary.seconds - summary.found_after:.1f} s")
    return _report(summary.found, summary.detail, "discrepancy, shrunk", "--server URL")


def _fuzz_conversations(args: argparse.Namespace) -> int:
    """In process: the stateful conversation machine, the engine asked at every step."""
    from conformance.fuzz.conversation import fuzz_conversations

    s = fuzz_conversations(args.impl, args.seconds, Path(args.out), steps=max(args.max_steps, 1) * 3)
    print(f"{s.examples} generated conversations in {s.seconds:.1f} s ({s.examples / max(s.seconds, 1e-9):.0f}/s), "
          "half with permessage-deflate offered")
    return _report(s.found, s.detail, "disagreement, shrunk", f"--impl {args.impl}")


def _fuzz_atheris(args: argparse.Namespace) -> int:
    if not args.impl:
        raise UsageError("--engine atheris fuzzes in-process libraries: use --impl NAME (or --engine hypothesis "
                         "for a server over TCP)")
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    try:
        import atheris  # noqa: F401
    except ImportError:
        raise UsageError("--engine atheris needs the atheris package: pip install 'ws-conformance[fuzz]'") from None
    from conformance.fuzz.atheris_engine import fuzz_atheris

    s = fuzz_atheris(args.impl, args.seconds, Path(args.out), Path(args.corpus) if args.corpus else None, args.jobs)
    if s.runs == 0:
        print(f"conformance: the atheris process did not run; its output:\n{s.log[-3000:]}", file=sys.stderr)
        return int(ExitCode.UNREACHABLE)
    print(f"{s.runs} differential executions with {s.jobs} process(es) ({s.seconds:.1f} s in all): "
          f"{s.exec_per_second:.0f} exec/s, {s.exec_per_second / s.jobs:.0f} per process; corpus {s.corpus}")
    return _report(s.found, s.detail, "disagreement, minimised", f"--impl {args.impl}")


def _report(found: list[Path], detail: list[str], what: str, target: str) -> int:
    """Each exported finding with how to replay it; the exit code of the fuzzing run."""
    for path, why in zip(found, detail, strict=True):
        print(f"{what} and written to {path}: {why}")
        print(f"  replay: conformance run {target} --cases-dir {path.parent}")
    return int(ExitCode.CASE_FAILED) if found else 0
