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
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)  # one line, whatever was typed
        self.exit(ExitCode.BAD_INPUT, f"conformance: error: {shown} (see `{self.prog} --help`)\n")


_EXAMPLES = {
    "run": "conformance run --server ws://127.0.0.1:9001/ --agent myserver --cases '6.*' --out reports/myserver",
    "serve": "conformance serve --port 9001 --out reports/clients",
    "echo-server": "conformance echo-server --port 9001 --deflate",
    "echo-client": "conformance echo-client --url ws://127.0.0.1:9001 --agent reference",
    "fuzz": "conformance fuzz --impl wsproto --seconds 60",
    "diff": "conformance diff reports/last-night reports/tonight --format markdown",
    "baseline": "conformance baseline reports/nightly > conformance-baseline.yaml",
    "report": "conformance report reports/nightly",
    "cases": "conformance cases list --rfc '6455 §5.5' --level MUST",
    "list": "conformance cases list '7.*' --json",
    "check": "conformance cases check --cases-dir reports/found",
    "rules": "conformance rules",
    "replay": "conformance replay reports/nightly/testee_case_6_4_1.json --server ws://127.0.0.1:9001/",
    "bisect": "conformance bisect --pip websockets --good 13.0 --bad 17.4 --case 6.3.1 "
              "--server-cmd '{python} -m testees.peers.websockets_server --port {port}'",
}


def _version() -> str:
    from conformance import __version__

    return f"conformance {__version__}"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="conformance", description="WebSocket (RFC 6455 / RFC 7692) conformance suite")
    p.add_argument("--version", action="version", version=_version(), help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_cases(sub)
    _add_rules(sub)
    for adder in _optional_adders():
        adder(sub)
    _add_epilogs(p, "run")
    return p


def _add_epilogs(parser: argparse.ArgumentParser, example: str) -> None:
    """Every parser's --help ends with the exit codes and one example."""
    from conformance.commands import EXIT_CODES

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = f"{EXIT_CODES}\n\nexample:\n  {_EXAMPLES.get(example, _EXAMPLES['run'])}"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                _add_epilogs(child, name)


def _add_cases(sub: Any) -> None:
    from conformance.commands import add_selection_args

    c = sub.add_parser("cases", help="list or check the case catalogue")
    csub = c.add_subparsers(dest="cases_command", required=True, parser_class=_Parser)
    lst = csub.add_parser("list", help="list cases with their RFC sections and level (optionally matching GLOB)")
    add_selection_args(lst, positional_globs=True)
    lst.add_argument("--json", action="store_true", help="one JSON array of {id, title, rfc, level, role, rule}")
    lst.set_defaults(func=_cmd_cases_list)
    chk = csub.add_parser("check", help="load and validate every case file")
    chk.add_argument("--cases-dir", action="append", default=[], metavar="DIR",
                     help="more case files, checked together with the bundled catalogue (repeatable)")
    chk.set_defaults(func=_cmd_cases_check)


def _add_rules(sub: Any) -> None:
    r = sub.add_parser("rules", help="list the engine's rules with RFC sections and levels")
    r.set_defaults(func=_cmd_rules)


def _optional_adders() -> list[Any]:
    """Subcommands of the layers above the engine (run, serve, fuzz, report, ...)."""
    from conformance.bisection.command import add_bisect_command
    from conformance.fuzz.command import add_fuzz_commands
    from conformance.report.commands import add_report_commands
    from conformance.runner.command import add_run_commands
    from conformance.triage.command import add_triage_commands

    return [add_run_commands, add_fuzz_commands, add_report_commands, add_triage_commands, add_bisect_command]


def _cmd_cases_list(args: argparse.Namespace) -> int:
    import json

    from conformance.commands import selected_cases

    _, cases = selected_cases(args, None)
    if args.json:
        print(json.dumps([{"id": c.id, "title": c.title, "rfc": list(c.rfc), "level": c.level,
                           "role": c.role, "rule": c.rule} for c in cases], indent=1, ensure_ascii=False))
        return 0
    for case in cases:
        sections = ", ".join(s.removeprefix("RFC ") for s in case.rfc)
        print(f"{case.id:<10} {case.level:<13} {case.role:<6} {sections:<24} {case.title}")
    return 0


def _cmd_cases_check(args: argparse.Namespace) -> int:
    from conformance.commands import catalogue_from_args

    t0 = time.perf_counter()
    cat = catalogue_from_args(args, parse=True)  # a check of the files: no catalogue read back
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
    except ConformanceError as exc:  # one line, even when a parser's message has several
        print("conformance: " + " ".join(part.strip() for part in str(exc).splitlines() if part.strip()),
              file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except ConnectionError as exc:
        print(f"conformance: cannot connect: {exc.strerror or exc}", file=sys.stderr)
        return int(ExitCode.UNREACHABLE)
    except OSError as exc:  # a path given on the command line that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"conformance: {where}{exc.strerror or exc}", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
