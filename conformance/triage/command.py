"""`conformance replay`: the subcommand's flags, and the exit code of a replay."""

from __future__ import annotations

__all__ = ["add_triage_commands", "cmd_replay"]

import argparse
import sys
from typing import Any

from conformance.errors import ExitCode


def add_triage_commands(sub: Any) -> None:
    r = sub.add_parser("replay", help="send the octets of a recorded case run again; show the answer then "
                       "and now, and both verdicts (exit 1 if the case fails now)")
    r.add_argument("report", help="a per-case report of `conformance run --out DIR`: DIR/<agent>_case_<id>.json")
    r.add_argument("--server", required=True, metavar="URL",
                   help="the server to replay to (ws:// or wss://, loopback only); the request is sent as "
                        "recorded, Host header included")
    r.add_argument("--export", metavar="FILE", help="also write the recording as a case file (group 91), "
                   "for `conformance run --cases-dir DIR`")
    r.add_argument("--cases-dir", action="append", default=[], metavar="DIR",
                   help="case files of your own, when the recorded case is one of them (repeatable)")
    r.add_argument("--wait", type=float, default=2.0, help="upper bound in seconds for each peer event the "
                   "replay waits for, as in a run (default 2)")
    r.add_argument("--settle", type=float, default=1.0, help="upper bound at a checkpoint (default 1)")
    r.add_argument("--ca", metavar="FILE", help="CA certificate (PEM) to trust for wss://")
    r.add_argument("--insecure", action="store_true", help="do not verify the wss:// certificate")
    r.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from conformance.errors import UsageError
    from conformance.runner.trace import RunOptions
    from conformance.targets.tcp import ServerTarget
    from conformance.triage.replay import render_outcome, replay_report, write_export

    if not (args.wait > 0 and args.settle > 0):
        raise UsageError("--wait and --settle are seconds, more than 0")
    target = ServerTarget.from_url(args.server, args.ca, args.insecure)
    outcome = replay_report(args.report, target, RunOptions(wait=args.wait, settle=args.settle),
                            cases_dirs=args.cases_dir)
    print(render_outcome(outcome))
    if args.export:
        case = write_export(outcome, args.export)
        print(f"wrote case {case.id} to {args.export}", file=sys.stderr)
    return int(ExitCode.CASE_FAILED) if outcome.new.is_failure() else 0
