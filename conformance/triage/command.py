"""`conformance replay`: the subcommand's flags, and the exit code of a replay."""

from __future__ import annotations

__all__ = ["add_triage_commands", "cmd_replay"]

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance.errors import ExitCode


def add_triage_commands(sub: Any) -> None:
    r = sub.add_parser("replay", help="send the octets of a recorded case run again; show the answer then "
                       "and now, and both verdicts (exit 1 if the case fails now); a run directory: every case of "
                       "it, and how many verdicts were reproduced (exit 1 unless all)")
    r.add_argument("report", help="a per-case report of `conformance run --out DIR`: DIR/<agent>_case_<id>.json, "
                   "or DIR itself (every case its index.json names)")
    r.add_argument("--server", metavar="URL",
                   help="the server to replay to (ws:// or wss://, loopback only); the request is sent as "
                        "recorded, Host header included (default: a fresh embedded reference server, as `run`)")
    r.add_argument("--export", metavar="FILE", help="also write the recording as a case file (group 91), "
                   "for `conformance run --cases-dir DIR` (one report only)")
    r.add_argument("--cases-dir", action="append", default=[], metavar="DIR",
                   help="case files of your own, when the recorded case is one of them (repeatable)")
    r.add_argument("--wait", type=float, default=None, help="upper bound in seconds for each peer event the "
                   "replay waits for (default: the run's, recorded in the report; 2 for older reports)")
    r.add_argument("--settle", type=float, default=None,
                   help="upper bound at a checkpoint (default: the run's, recorded; 1 for older reports)")
    r.add_argument("--ca", metavar="FILE", help="CA certificate (PEM) to trust for wss://")
    r.add_argument("--insecure", action="store_true", help="do not verify the wss:// certificate")
    r.set_defaults(func=cmd_replay)


@contextlib.contextmanager
def _server(target: Any) -> Iterator[Any]:
    """`target` (from --server), or a fresh embedded reference server."""
    from conformance.runner.command import embedded_server
    from conformance.targets.tcp import ServerTarget

    if target is not None:
        yield target
        return
    with embedded_server() as url:
        yield ServerTarget.from_url(url)


def cmd_replay(args: argparse.Namespace) -> int:
    from conformance.errors import UsageError
    from conformance.runner.trace import RunOptions

    if any(v is not None and not v > 0 for v in (args.wait, args.settle)):
        raise UsageError("--wait and --settle are seconds, more than 0")
    given = frozenset(n for n in ("wait", "settle") if getattr(args, n) is not None)
    if args.server is not None and not args.server:
        raise UsageError("--server needs a ws:// or wss:// URL")
    from conformance.targets.tcp import ServerTarget

    # a bad URL is exit 2 before anything is read
    target = ServerTarget.from_url(args.server, args.ca, args.insecure) if args.server is not None else None
    opts = RunOptions(wait=2.0 if args.wait is None else args.wait, settle=1.0 if args.settle is None else args.settle)
    args.given = given
    if Path(args.report).is_dir():
        if args.export:
            raise UsageError("--export writes one case: give one per-case report, not a run directory")
        return _replay_dir(args, opts, target)
    return _replay_one(args, opts, target)


def _replay_one(args: argparse.Namespace, opts: Any, target: Any) -> int:
    from conformance.triage.replay import load_case_report, render_outcome, replay_report, write_export

    load_case_report(args.report)  # a bad file is exit 2 before any server starts
    with _server(target) as server:
        outcome = replay_report(args.report, server, opts, cases_dirs=args.cases_dir, given=args.given)
    print(render_outcome(outcome))
    if args.export:
        case = write_export(outcome, args.export)
        print(f"wrote case {case.id} to {args.export}", file=sys.stderr)
    return int(ExitCode.CASE_FAILED) if outcome.new.is_failure() else 0


def _replay_dir(args: argparse.Namespace, opts: Any, target: Any) -> int:
    from conformance.triage.run_replay import read_index, render_run, replay_run

    read_index(Path(args.report))  # a directory without a readable index is exit 2 before any server starts
    done = [0]

    def progress(agent: str, cid: str, _: Any) -> None:  # a long replay (the whole volume) shows it is alive
        done[0] += 1
        if sys.stderr.isatty() and done[0] % 50 == 0:
            print(f"replayed {done[0]} cases (last: {agent} {cid})", file=sys.stderr)

    with _server(target) as server:
        result = replay_run(args.report, server, opts, cases_dirs=args.cases_dir, progress=progress,
                            given=args.given)
    print(render_run(result))
    if result.total and len(result.refused) == result.total:
        return int(ExitCode.BAD_INPUT)  # nothing in it could be replayed: the lines above say why
    return 0 if result.all_reproduced else int(ExitCode.CASE_FAILED)
