"""The `conformance` command (contract in DESIGN.md); `python -m conformance` is the same.

Errors are one line on stderr and a documented exit code: 0 nothing unexpected failed, 1 a case
failed (or differs from the baseline), 2 bad usage or a bad case/baseline file, 3 the target
could not be reached.
"""

from __future__ import annotations

__all__ = ["build_parser", "main"]

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from conformance.errors import ConformanceError, ExitCode


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, as every other bad input does."""

    def error(self, message: str) -> Any:
        self.exit(ExitCode.BAD_INPUT, f"conformance: error: {message}\n"
                  f"(see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="conformance", description="WebSocket (RFC 6455 / RFC 7692) conformance suite")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_cases(sub)
    _add_rules(sub)
    for adder in _optional_adders():
        adder(sub)
    return p


def _add_cases(sub: Any) -> None:
    c = sub.add_parser("cases", help="list or check the case catalogue")
    csub = c.add_subparsers(dest="cases_command", required=True, parser_class=_Parser)
    lst = csub.add_parser("list", help="list cases (optionally matching GLOB)")
    lst.add_argument("glob", nargs="*", help="shell patterns over whole IDs, e.g. '6.4.*'")
    lst.add_argument("--cases-dir", help="case directory (default: the bundled cases/)")
    lst.set_defaults(func=_cmd_cases_list)
    chk = csub.add_parser("check", help="load and validate every case file")
    chk.add_argument("--cases-dir", help="case directory (default: the bundled cases/)")
    chk.set_defaults(func=_cmd_cases_check)


def _add_rules(sub: Any) -> None:
    r = sub.add_parser("rules", help="list the engine's rules with RFC sections and levels")
    r.set_defaults(func=_cmd_rules)


def _optional_adders() -> list[Any]:
    """Subcommands of the layers above the engine (run, serve, report, ...)."""
    from conformance.commands import adders

    return adders()


def _cmd_cases_list(args: argparse.Namespace) -> int:
    from conformance.catalog.load import load_catalogue, select

    cat = load_catalogue(args.cases_dir)
    for case in select(cat.cases, args.glob):
        print(f"{case.id:<10} {case.level:<13} {case.role:<6} {case.title}")
    return 0


def _cmd_cases_check(args: argparse.Namespace) -> int:
    from conformance.catalog.load import load_catalogue

    t0 = time.perf_counter()
    cat = load_catalogue(args.cases_dir)
    groups: dict[str, int] = {}
    for case in cat.cases:
        groups[case.group] = groups.get(case.group, 0) + 1
    summary = ", ".join(f"{g}: {n}" for g, n in sorted(groups.items(), key=lambda kv: int(kv[0])))
    print(f"{len(cat.cases)} cases OK in {time.perf_counter() - t0:.2f} s ({summary})")
    return 0


def _cmd_rules(args: argparse.Namespace) -> int:
    from conformance.catalog.load import declare_all_rules
    from conformance.engine.rules import RULES

    declare_all_rules()
    for r in sorted(RULES.values(), key=lambda r: r.id):
        code = f" -> {r.close_code}" if r.close_code else f" -> HTTP {r.http_status}" if r.http_status else ""
        print(f"{r.id:<36} {r.section:<18} {r.level.value:<13}{code}\n    {r.text}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConformanceError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
