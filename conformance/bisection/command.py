"""`conformance bisect`: the first release or commit whose verdicts differ from a good one's.

    conformance bisect --case ID [--case ID ...] --good V1 --bad V2
                       (--pip PACKAGE | --npm PACKAGE | --git REPO [--build CMD])
                       (--server-cmd "CMD {port}" | --client-cmd "CMD {url} {agent}") [--cache DIR]

Each candidate is made ready (envs.py), its server started and watched (targets/watch.py) or its
client started (runner/client_run.py), the cases run through the normal runner into one report
directory (an agent per candidate), and search.py picks the next candidate.
"""

from __future__ import annotations

__all__ = ["add_bisect_command", "cmd_bisect"]

import argparse
import asyncio
import os
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from conformance.bisection.envs import (
    CandidateError,
    Prepared,
    fill,
    git_candidate,
    git_revisions,
    npm_candidate,
    pip_candidate,
)
from conformance.bisection.search import NoReference, Outcome, Trial, Verdicts, bisect, most_runs, run_bound
from conformance.bisection.versions import between, npm_releases, pip_releases
from conformance.errors import ExitCode, TargetError, UsageError
from conformance.report.model import CaseResult, ReportDir
from conformance.runner.trace import RunOptions
from conformance.verdicts import is_not_run

_DESCRIPTION = """\
Installs each version between --good and --bad into its own environment under --cache (or checks
out and builds each commit with --git), starts the server (or client) with it, runs the cases and
binary-searches for the first version whose verdicts differ from --good's. A version that does not
install, build or start is skipped, and the search goes on around it.

placeholders in --server-cmd / --client-cmd (and --build):
  {port}      the loopback port the server must listen on (--server-cmd, required)
  {url} {agent}  where the client connects, the agent it reports (--client-cmd)
  {python}    the candidate's python (--pip: its venv, whose bin/ is also first on PATH, so a plain
              `python` is the candidate too; --npm/--git: the suite's python)
  {env}       the candidate's venv (--pip) or npm prefix (--npm: its node_modules is on NODE_PATH,
              which node reads after any node_modules above the script)
  {version}   the version (or the commit's short hash)
  {checkout} {rev}  --git: the commit's worktree and its hash; the server command and --build run
              there (a client command runs in the current directory)
results: 0 the first differing version was found; 1 none differs from --good, or skipped versions
leave it open; 3 --good itself could not be installed, built or started"""


def add_bisect_command(sub: Any) -> None:
    b = sub.add_parser("bisect", help="find the first release or commit whose verdicts differ from a good one's",
                       description=_DESCRIPTION)
    b.add_argument("--case", action="append", required=True, metavar="ID",
                   help="a case ID (or shell pattern over IDs) to run on each candidate (repeatable)")
    b.add_argument("--good", required=True, metavar="V1", help="the version or commit whose verdicts are the reference")
    b.add_argument("--bad", required=True, metavar="V2", help="a later version or commit that gives other verdicts")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--pip", metavar="PACKAGE", help="versions of a package on the Python package index")
    src.add_argument("--npm", metavar="PACKAGE", help="versions of a package on the npm registry")
    src.add_argument("--git", metavar="REPO", help="commits of a local git repository")
    b.add_argument("--build", metavar="CMD", help="--git: a shell command run in each checkout before the "
                   "server starts (a failure skips the commit)")
    tgt = b.add_mutually_exclusive_group(required=True)
    tgt.add_argument("--server-cmd", metavar="CMD", help='the server command, with {port} (see placeholders)')
    tgt.add_argument("--client-cmd", metavar="CMD", help='a client command, with {url} and {agent}: the '
                     "client catalogue's cases")
    b.add_argument("--pre", action="store_true", help="also try pre-releases between --good and --bad")
    b.add_argument("--cache", metavar="DIR", default=None, help="where environments and checkouts are kept "
                   "and reused (default $XDG_CACHE_HOME/conformance/bisect or ~/.cache/conformance/bisect)")
    b.add_argument("--out", metavar="DIR", default="reports/bisect", help="report directory, an agent per "
                   "candidate tried (default reports/bisect)")
    b.add_argument("--jobs", type=int, default=2, metavar="N", help="cases run at once (default 2)")
    b.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds per case (default 10)")
    b.add_argument("--cases-dir", action="append", default=[], metavar="DIR",
                   help="more case files, added to the bundled catalogue (repeatable)")
    b.set_defaults(func=cmd_bisect)


def cmd_bisect(args: argparse.Namespace) -> int:
    _check_commands(args)
    cat, cases = _cases(args)
    candidates, what = _candidates(args)
    cache = Path(args.cache or _default_cache()).resolve()
    _check_dirs(cache, args.out)
    out = ReportDir(args.out)
    n = len(candidates)
    print(f"bisect {what}: {n} candidates from {candidates[0][:12]} to {candidates[-1][:12]}, cases "
          f"{', '.join(c.id for c in cases)}; at most {most_runs(n)} runs unless some are skipped "
          f"(the bound: log2({n}) + 2 = {run_bound(n):.1f})", flush=True)
    printer = _Printer(candidates)
    try:
        outcome = bisect(candidates, printer.wrap(lambda c: _trial(args, cache, c, cases, out)))
    except NoReference as exc:
        raise TargetError(f"--good {args.good} cannot be tried, so there is nothing to compare with: "
                          f"{str(exc).split(': ', 1)[-1]}") from None
    from conformance.report.html import write_html

    write_html(args.out, cat.titles)
    return _conclude(outcome, candidates, args.out)


def _check_dirs(cache: Path, out: str) -> None:
    """The cache and the report directory can be written, before anything is installed."""
    from conformance.rundir import check_writable_dir

    check_writable_dir(out, "--out")
    check_writable_dir(str(cache), "--cache")


def _default_cache() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "conformance" / "bisect")


def _check_commands(args: argparse.Namespace) -> None:
    if args.server_cmd is not None and "{port}" not in args.server_cmd:
        raise UsageError(f"--server-cmd needs {{port}} in the command: {args.server_cmd!r}")
    if args.client_cmd is not None and "{url}" not in args.client_cmd:
        raise UsageError(f"--client-cmd needs {{url}} in the command: {args.client_cmd!r}")
    if args.build is not None and args.git is None:
        raise UsageError("--build applies to --git only")
    if args.jobs < 1 or args.timeout <= 0:
        raise UsageError("--jobs must be at least 1 and --timeout more than 0")
    for flag in ("server_cmd", "client_cmd", "build"):
        value = getattr(args, flag)
        if value is not None:
            try:
                shlex.split(value)
            except ValueError as exc:
                raise UsageError(f"--{flag.replace('_', '-')} cannot be split into words: {exc}") from None


def _cases(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    from conformance.catalog.load import load_catalogue
    from conformance.catalog.select import Selection, apply_selection

    cat = load_catalogue(None, extra=list(args.cases_dir))
    side = "client" if args.client_cmd is not None else "server"
    return cat, apply_selection(cat.cases, Selection(cases=tuple(args.case)), side)


def _candidates(args: argparse.Namespace) -> tuple[list[str], str]:
    if args.git is not None:
        return git_revisions(args.git, args.good, args.bad), f"commits of {args.git}"
    if args.pip is not None:
        releases, what = pip_releases(args.pip), args.pip
    else:
        releases, what = npm_releases(args.npm), args.npm
    return between(releases, args.good, args.bad, pre=args.pre, what=what), what


def _prepare(args: argparse.Namespace, cache: Path, candidate: str) -> Prepared:
    if args.git is not None:
        return git_candidate(cache, args.git, candidate, args.build)
    if args.pip is not None:
        return pip_candidate(cache, args.pip, candidate)
    return npm_candidate(cache, args.npm, candidate)


def _agent(args: argparse.Namespace, candidate: str) -> str:
    if args.git is not None:
        return f"{Path(args.git).resolve().name}-{candidate[:12]}"
    return f"{args.pip or args.npm}-{candidate}"


# -- one candidate ----------------------------------------------------------------------------------

def _trial(args: argparse.Namespace, cache: Path, candidate: str, cases: list[Any], out: ReportDir) -> Trial:
    """Make `candidate` ready, run the cases against it, and read its verdicts (or why it is skipped)."""
    try:
        prepared = _prepare(args, cache, candidate)
    except CandidateError as exc:
        return Trial(candidate, None, str(exc))
    opts = RunOptions(agent=_agent(args, candidate), timeout=args.timeout)
    try:
        if args.server_cmd is not None:
            results = _run_server(args, prepared, cases, opts, out)
        else:
            results = _run_client(args, prepared, cases, opts, out)
    except (TargetError, CandidateError) as exc:
        return Trial(candidate, None, str(exc))
    unreached = [r.id for r in results if is_not_run(r.behavior, r.behaviorClose)]
    if unreached:
        return Trial(candidate, None, f"cases not run: {', '.join(unreached)}")
    return Trial(candidate, _verdicts(results))


def _verdicts(results: Sequence[CaseResult]) -> Verdicts:
    return tuple(sorted((r.id, r.behavior, r.behaviorClose) for r in results))


def _run_server(args: argparse.Namespace, prepared: Prepared, cases: list[Any], opts: RunOptions,
                out: ReportDir) -> list[CaseResult]:
    from conformance.runner.run import run_cases
    from conformance.targets.tcp import ServerTarget
    from conformance.targets.watch import WatchedServer

    watch = WatchedServer(fill(args.server_cmd, prepared.values), env=prepared.env, cwd=prepared.cwd)
    try:
        try:
            watch.start()
        except (TargetError, UsageError) as exc:
            raise CandidateError(f"the server did not start: {exc}") from None
        opts.watch = watch
        summary = asyncio.run(run_cases(cases, ServerTarget.from_url(watch.url), opts, out, jobs=args.jobs,
                                        quiet=True))
    finally:
        watch.close()
    if summary.unreachable:
        raise CandidateError(f"no case could run: {summary.note or 'every connection was refused'}")
    return summary.results


def _run_client(args: argparse.Namespace, prepared: Prepared, cases: list[Any], opts: RunOptions,
                out: ReportDir) -> list[CaseResult]:
    """The client command runs in the suite's directory, with the candidate's environment through
    `env` (its PATH, VIRTUAL_ENV and NODE_PATH)."""
    from conformance.runner.client_run import run_client_command

    changed = [f"{k}={v}" for k, v in prepared.env.items() if os.environ.get(k) != v]
    command = " ".join(shlex.quote(w) for w in ["env", *changed]) + " " + fill(args.client_cmd, prepared.values)
    summary = asyncio.run(run_client_command(command, cases, out, opts, quiet=True))
    if not summary.connected:
        raise CandidateError(f"the client never connected: {summary.note}")
    return summary.results


# -- what is printed --------------------------------------------------------------------------------

_SHOWN = 6  # verdicts named on one line; more are counted


def _show(verdicts: Verdicts) -> str:
    """`1.1.1 OK/OK, 3.1 FAILED/OK` for a few cases; for many, how many cases got each verdict."""
    if len(verdicts) <= _SHOWN:
        return ", ".join(f"{cid} {b}/{c}" for cid, b, c in verdicts)
    counts: dict[str, int] = {}
    for _, b, c in verdicts:
        counts[f"{b}/{c}"] = counts.get(f"{b}/{c}", 0) + 1
    return f"{len(verdicts)} cases: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _capped(items: list[str]) -> str:
    more = len(items) - _SHOWN
    return ", ".join(items[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


class _Printer:
    """A line per candidate as it is tried: its verdicts, and whether they match --good's."""

    def __init__(self, candidates: Sequence[str]) -> None:
        self.order = {c: i for i, c in enumerate(candidates)}
        self.reference: Verdicts | None = None
        self.count = 0

    def wrap(self, trial: Callable[[str], Trial]) -> Callable[[str], Trial]:
        def tried(candidate: str) -> Trial:
            result = trial(candidate)
            self.count += 1
            print(self.line(result), flush=True)
            return result

        return tried

    def line(self, t: Trial) -> str:
        head = f"run {self.count}: {t.candidate[:12]:<12}"
        if t.verdicts is None:
            return f"{head} skip: {t.detail}"
        if self.reference is None:
            self.reference = t.verdicts
            return f"{head} good (reference): {_show(t.verdicts)}"
        if t.verdicts == self.reference:
            return f"{head} same as --good: {_show(t.verdicts)}"
        was = {cid: f"{b}/{c}" for cid, b, c in self.reference}
        diff = [f"{cid} {b}/{c} (was {was.get(cid, 'not run')})" for cid, b, c in t.verdicts
                if was.get(cid) != f"{b}/{c}"]
        return f"{head} differs: {_capped(diff)}"


def _conclude(outcome: Outcome, candidates: Sequence[str], out: str) -> int:
    n = len(candidates)
    runs = f"{outcome.runs} runs for {n} candidates (bound log2({n}) + 2 = {run_bound(n):.1f})"
    skipped = [t.candidate for t in outcome.trials if t.skipped]
    if skipped:
        runs += f", {len(skipped)} skipped: {', '.join(s[:12] for s in skipped)}"
    if outcome.found:
        assert outcome.first_bad is not None
        print(f"first differing version: {outcome.first_bad} (the one before it, {outcome.last_good}, "
              f"matches --good)")
        print(f"{runs}; reports in {out}")
        return int(ExitCode.OK)
    if outcome.first_bad is None and not outcome.unknown:
        print(f"no version up to {candidates[-1]} differs from {candidates[0]}; {runs}")
    else:
        end = f" or {outcome.first_bad}" if outcome.first_bad else ""
        print(f"the first differing version is one of the skipped {', '.join(outcome.unknown)}{end} "
              f"(after {outcome.last_good}); {runs}")
    return int(ExitCode.CASE_FAILED)
