"""`conformance run` and `conformance echo-server`."""

from __future__ import annotations

__all__ = [
    "add_run_commands",
    "cmd_echo_client",
    "cmd_echo_server",
    "cmd_run",
    "cmd_serve",
    "embedded_server",
]

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from conformance.errors import ExitCode, TargetError, UsageError
from conformance.verdicts import is_not_run


def add_run_commands(sub: Any) -> None:
    from conformance.commands import add_selection_args

    r = sub.add_parser("run", help="run the catalogue against a target (default: the embedded "
                       "reference echo server)")
    tgt = r.add_mutually_exclusive_group()
    tgt.add_argument("--server", metavar="URL", help="a WebSocket server to test (ws:// or wss://, loopback only)")
    tgt.add_argument("--client", metavar="CMD", help='a client command to test, with {url} and {agent}')
    tgt.add_argument("--impl", metavar="NAME", help="an in-process sans-IO library (wsproto, websockets, module:factory)")
    tgt.add_argument("--browser", choices=["chromium", "firefox"],
                     help="the client catalogue in a headless browser's own WebSocket (agent: its name and version)")
    tgt.add_argument("--server-cmd", metavar="CMD", help='a server command with {port}: the suite starts it on '
                     "127.0.0.1, watches its memory, CPU time and exit, and restarts it after a crash")
    r.add_argument("--robustness", action="store_true", help="run the resource group (30) in full, its heavy "
                   "variants included (the default run has only its light cases)")
    add_selection_args(r)
    r.add_argument("--spec", metavar="FILE", help="Autobahn's fuzzingclient.json (servers, cases, exclude-cases, "
                   "exclude-agent-cases, outdir) or fuzzingserver.json (with --client)")
    r.add_argument("--agent", help="name of the implementation in the report (default: testee, client, the "
                   "library's name or reference)")
    r.add_argument("--out", default=None, metavar="DIR", help="report directory (default reports/run); earlier "
                   "results of the same agent there are replaced, other agents' kept")
    r.add_argument("--jobs", type=_positive_int, default=4, help="cases run at once (default 4)")
    r.add_argument("--timeout", type=_positive_float, default=None,
                   help="seconds per case (default 10, or the case's own budget for large cases); "
                        "given explicitly, it also caps those budgets")
    r.add_argument("--wait", type=_positive_float, default=2.0,
                   help="seconds to wait for an expected reaction such as an echo or a close (default 2)")
    r.add_argument("--settle", type=_positive_float, default=1.0,
                   help="upper bound at a checkpoint for a peer that answers the ping with neither a pong "
                        "nor a close, or where no ping can be sent (default 1)")
    r.add_argument("--budget", type=_positive_float, help="seconds for the whole run")
    r.add_argument("--strict", action="store_true", help="NON-STRICT counts as a failure")
    r.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    r.add_argument("--baseline", metavar="FILE", help="fail only on differences from this baseline")
    r.add_argument("--retries", type=_nonneg_int, default=0, help="retry failing cases N times; "
                   "a case that passes only on retry is reported as flaky")
    r.add_argument("--resume", metavar="DIR", help="continue an interrupted run in DIR: same target, agent "
                   "and cases as the run that made it")
    r.add_argument("--ca", metavar="FILE", help="CA certificate (PEM) to trust for wss://")
    r.add_argument("--insecure", action="store_true", help="do not verify the wss:// certificate")
    r.add_argument("--http2", action="store_true", help="over HTTP/2 extended CONNECT (RFC 8441): "
                   "--server http://... (prior knowledge) or https://... (ALPN h2)")
    r.add_argument("--http3", action="store_true", help="over HTTP/3 extended CONNECT (RFC 9220): "
                   "--server https://... (QUIC on UDP, ALPN h3)")
    r.add_argument("--max-message", "--memory-limit", dest="max_message", type=_positive_int,
                   default=64 * 1024 * 1024,
                   help="most octets the suite holds from one connection: the message or frame being "
                        "read plus the messages recorded (default 64 MiB); a target that exceeds it is stopped")
    r.add_argument("--server-max-message", type=_positive_int, default=None, metavar="N",
                   help="the largest message the server accepts, when known: the exact-limit cases (30.9) "
                        "use it instead of probing for it")
    r.add_argument("--max-echo", type=_positive_int, default=None, metavar="N",
                   help="send at most N messages in each echo step (Autobahn's groups 9, 12 and 13 send "
                        "up to 1000 large ones); the case report says when it was capped")
    _add_verbosity(r)
    r.set_defaults(func=cmd_run)

    sv = sub.add_parser("serve", help="serve the client catalogue on Autobahn's fuzzing-server endpoints")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on, loopback only (default 127.0.0.1)")
    sv.add_argument("--port", type=_port, default=9001, help="port to listen on (default 9001; 0: any free port)")
    sv.add_argument("--out", default=None, metavar="DIR", help="report directory (default reports/clients)")
    add_selection_args(sv)
    sv.add_argument("--spec", metavar="FILE", help="Autobahn's fuzzingserver.json (url, cases, exclude-cases, "
                    "exclude-agent-cases, outdir)")
    sv.add_argument("--timeout", type=_positive_float, default=10.0, help="seconds per case (default 10)")
    sv.add_argument("--wait", type=_positive_float, default=2.0,
                    help="seconds to wait for an expected reaction of the client (default 2)")
    sv.add_argument("--strict", action="store_true", help="NON-STRICT counts as a failure in the summary")
    sv.add_argument("--max-echo", type=_positive_int, default=None, metavar="N",
                    help="send at most N messages in each echo step")
    sv.add_argument("--cert", metavar="FILE", help="TLS certificate (PEM) to listen with wss://")
    sv.add_argument("--key", metavar="FILE", help="TLS private key (PEM)")
    sv.add_argument("--browser-client", action="append", default=[], metavar="AGENT", type=_agent_pattern,
                    help="the client reporting as AGENT (a name or shell pattern; repeats) is a web browser: "
                         "the WHATWG WebSockets rules bind it (a browser that follows a redirected handshake "
                         "is FAILED, 20.4.22-27); without it every client is judged as a non-browser")
    _add_verbosity(sv)
    sv.set_defaults(func=cmd_serve)

    ec = sub.add_parser("echo-client", help="the reference echo client (a conforming testee client)")
    ec.add_argument("--url", required=True, help="the serve URL, e.g. ws://127.0.0.1:9001 or wss://...")
    ec.add_argument("--agent", required=True, help="agent name the client reports under")
    ec.add_argument("--ca", metavar="FILE", help="CA certificate to trust for wss://")
    ec.add_argument("--insecure", action="store_true", help="do not verify the wss:// certificate")
    ec.set_defaults(func=cmd_echo_client)

    e = sub.add_parser("echo-server", help="the reference echo server (a conforming testee)")
    e.add_argument("--host", default="127.0.0.1", help="address to listen on, loopback only (default 127.0.0.1)")
    e.add_argument("--port", type=_port, required=True, help="port (0: any free port, printed)")
    e.add_argument("--deflate", action="store_true", help="accept permessage-deflate")
    e.add_argument("--cert", help="TLS certificate (PEM) to listen with wss://")
    e.add_argument("--key", help="TLS private key (PEM)")
    e.add_argument("--max-message", type=_positive_int, default=64 * 1024 * 1024,
                   help="largest message accepted, after inflation (default 64 MiB; larger: close 1009)")
    e.add_argument("--max-head", type=_positive_int, default=16384,
                   help="largest handshake request head in octets (default 16384; larger: 431)")
    e.add_argument("--max-headers", type=_positive_int, default=100,
                   help="most header lines in the handshake request (default 100; more: 431)")
    e.add_argument("--handshake-timeout", type=_positive_float, default=5.0,
                   help="seconds for the whole handshake request to arrive (default 5; later: 408)")
    e.add_argument("--http2", action="store_true", help="serve WebSocket over HTTP/2 (RFC 8441)")
    e.add_argument("--http3", action="store_true", help="serve WebSocket over HTTP/3 (RFC 9220), on UDP; "
                   "a self-signed certificate is made when no --cert/--key is given")
    e.set_defaults(func=cmd_echo_server)


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_const", const=-1, dest="verbosity", default=0,
                   help="no progress and no table: only the failing cases and the last line")
    p.add_argument("-v", "--verbose", action="store_const", const=1, dest="verbosity",
                   help="a line per case as it finishes")


def _number(kind: type[int] | type[float], ok: Callable[[float], bool], need: str) -> Callable[[str], Any]:
    """An argparse type: parse with `kind`, then check `ok`; errors say what was expected."""
    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'a whole number' if kind is int else 'a number'}: {text!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"must be {need}: {text!r}")
        return v

    return parse


_positive_int = _number(int, lambda v: v >= 1, "at least 1")
_nonneg_int = _number(int, lambda v: v >= 0, "0 or more")
_positive_float = _number(float, lambda v: v > 0, "more than 0")
_port = _number(int, lambda v: 0 <= v <= 65535, "a port from 0 to 65535")


def _agent_pattern(text: str) -> str:
    """An argparse type: an agent name or shell pattern, not empty (it would match no agent)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an agent name or pattern, not empty")
    return text


@contextlib.contextmanager
def embedded_server(deflate: bool = True, http2: bool = False, http3: bool = False) -> Iterator[str]:
    """Start the reference echo server in a child process (it gets its own core)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", "echo-server", "--port", "0"] + (["--deflate"] if deflate else [])
        + (["--http2"] if http2 else []) + (["--http3"] if http3 else []),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening"):
            raise TargetError("the embedded reference server did not start")
        url = line.split()[-1]
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- what to run -----------------------------------------------------------------------------------

_DEFAULT_AGENT = {"server": "testee", "server_cmd": "testee", "client": "client", "reference": "reference"}


@dataclasses.dataclass
class _Plan:
    """One agent's run: the target, where its report goes, the cases, and whether it resumes."""

    kind: str  # server, impl, client or reference
    value: str
    agent: str
    out: str
    cat: Any
    cases: list[Any]
    resume: bool = False


def _target(args: argparse.Namespace) -> tuple[str, str]:
    for kind in ("server", "impl", "client", "server_cmd"):
        value = getattr(args, kind)
        if value is None:
            continue
        if kind == "client" and not value.split():  # an empty value is a bad target, not "no target"
            raise UsageError("--client needs a command line, e.g. \"python my_client.py {url} {agent}\"")
        return kind, value
    return "reference", ""


def _side(kind: str) -> str:
    return "client" if kind == "client" else "server"


def _check_tls_args(args: argparse.Namespace, kind: str, value: str) -> None:
    if not (args.ca or args.insecure):
        return
    secure = value.startswith("wss://") or ((getattr(args, "http2", False) or getattr(args, "http3", False))
                                            and value.startswith("https://"))
    if kind == "server_cmd" and getattr(args, "http3", False):
        secure = True  # the watched server's URL is https:// (targets/h3_watch.py)
    if kind not in ("server", "server_cmd") or not secure:
        raise UsageError("--ca and --insecure apply to a wss:// --server URL only")
    if args.ca:
        import ssl

        if not Path(args.ca).is_file():
            raise UsageError(f"--ca {args.ca}: no such file")
        try:
            ssl.create_default_context(cafile=args.ca)
        except (ssl.SSLError, ValueError, OSError) as exc:
            raise UsageError(f"--ca {args.ca}: not a PEM certificate ({exc})") from None


def cmd_run(args: argparse.Namespace) -> int:
    if getattr(args, "http2", False) and (args.client or args.impl):
        raise UsageError("--http2 tests a server over HTTP/2: use it with --server, or alone for the reference")
    if getattr(args, "http3", False) and (args.client or args.impl or args.http2):
        raise UsageError("--http3 tests a server over HTTP/3: use it with --server or --server-cmd, "
                         "or alone for the reference")
    if getattr(args, "browser", None):  # a browser is a client command (conformance/targets/browser.py)
        from conformance.targets.browser import agent_name, browser_command, client_command

        if browser_command(args.browser) is None:
            raise UsageError(f"--browser {args.browser}: the browser is not installed (make browser-deps)")
        args.client, args.agent = client_command(args.browser), args.agent or agent_name(args.browser)
    if args.spec:
        return _run_spec(args)
    if args.resume:
        return _execute(args, _resume_plan(args))
    kind, value = _target(args)
    agent = args.agent or _DEFAULT_AGENT.get(kind, value)
    from conformance.commands import selected_cases

    cat, cases = selected_cases(args, _side(kind))
    cases = _resource_selection(args, cat, cases)
    return _execute(args, _Plan(kind, value, agent, args.out or "reports/run", cat, cases))


def _run_spec(args: argparse.Namespace) -> int:
    """Autobahn's fuzzingclient.json: every server in turn, into one report directory."""
    from conformance.commands import selected_cases
    from conformance.spec import load_spec

    spec = load_spec(args.spec)
    if spec.ignored:
        print(f"note: {args.spec}: ignoring Autobahn settings that change nothing here: "
              f"{', '.join(spec.ignored)}", file=sys.stderr)
    args.cases = [*args.cases, *([g] for g in spec.case_globs())]
    out = args.out or spec.outdir or "reports/run"
    kind, value = _target(args)
    if kind != "reference" or not spec.servers:
        if args.resume:
            raise UsageError("--resume with --spec: resume one agent's run with --resume DIR alone")
        agent = args.agent or _DEFAULT_AGENT.get(kind, value)
        cat, cases = selected_cases(args, _side(kind), spec.excluded_for(agent))
        return _execute(args, _Plan(kind, value, agent, out, cat, cases))
    codes = []
    for server in spec.servers:
        cat, cases = selected_cases(args, "server", spec.excluded_for(server.agent))
        codes.append(_execute(args, _Plan("server", server.url, server.agent, out, cat, cases)))
    return max(codes)


def _resume_plan(args: argparse.Namespace) -> _Plan:
    """The run recorded in --resume DIR, less the cases it finished."""
    from conformance.commands import catalogue_from_args
    from conformance.rundir import read_index, read_runs

    out = args.resume
    if not Path(out).is_dir():
        raise UsageError(f"--resume {out}: no such directory (start a run with --out {out})")
    index, runs = read_index(out), read_runs(out)
    agent = args.agent or (next(iter(runs)) if len(runs) == 1 else None)
    if agent is None:
        names = ", ".join(sorted(runs)) or "none recorded"
        raise UsageError(f"--resume {out}: name the agent to resume with --agent (agents there: {names})")
    rec = runs.get(agent)
    if rec is None:
        raise UsageError(f"--resume {out}: no run of agent {agent!r} recorded there"
                         f"{' (agents: ' + ', '.join(sorted(runs)) + ')' if runs else ''}")
    kind, value = _target(args)
    if kind != "reference" and (kind, value) != (rec.kind, rec.value):
        raise UsageError(f"--resume {out}: that run was against {rec.describe()}; resume it without a target "
                         "or with the same one")
    cat = catalogue_from_args(args)
    done = {cid for cid in index.get(agent, {}) if not _not_run(out, index[agent][cid])}
    by_id = cat.by_id()
    cases = [by_id[cid] for cid in rec.cases if cid in by_id and cid not in done]
    print(f"resuming {rec.describe()} as {agent!r} in {out}: {len(rec.cases) - len(cases)} of "
          f"{len(rec.cases)} cases done, {len(cases)} to run", file=sys.stderr)
    return _Plan(rec.kind, rec.value, agent, out, cat, cases, resume=True)


def _not_run(out: str, entry: dict[str, Any]) -> bool:
    """A case stored as not run (budget, a lost target) is run again on resume."""
    import json

    try:
        data = json.loads((Path(out) / str(entry.get("reportfile", ""))).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return isinstance(data, dict) and str(data.get("result", "")).startswith(("Not run:", "The case did not run:"))


def _resource_selection(args: argparse.Namespace, cat: Any, cases: list[Any]) -> list[Any]:
    """Group 30 runs only when named or with --robustness, which adds the whole group: its verdicts
    rest on deadlines (a server slowed by a flood or by a busy machine looks like one that hangs), so
    it stays out of the default, unattended run."""
    if getattr(args, "robustness", False):  # alone: the group; beside --cases: added to them
        picked = cases if args.cases else []
        have = {c.id for c in picked}
        return picked + [c for c in cat.cases if c.group == "30" and c.id not in have]
    if args.cases:
        return cases
    return [c for c in cases if c.resources is None]


def _prepare(args: argparse.Namespace, plan: _Plan) -> None:
    """Checks before any case runs (output places, the baseline), then the run record."""
    from conformance.rundir import RunRecord, check_writable_dir, check_writable_file, forget_agent, record_run

    check_writable_dir(plan.out, "--resume" if plan.resume else "--out")
    if plan.kind == "server" and not (getattr(args, "http2", False) or getattr(args, "http3", False)):
        from conformance.targets.tcp import ServerTarget

        ServerTarget.from_url(plan.value)  # a bad URL is one line, before earlier results are forgotten
    if args.junit:
        check_writable_file(args.junit, "--junit")
    if plan.resume:
        return
    n = forget_agent(plan.out, plan.agent)
    if n:
        print(f"replacing {n} earlier results of agent {plan.agent!r} in {plan.out}", file=sys.stderr)
    record_run(plan.out, RunRecord(plan.agent, plan.kind, plan.value, tuple(c.id for c in plan.cases)))


def _execute(args: argparse.Namespace, plan: _Plan) -> int:
    _check_tls_args(args, plan.kind, plan.value)
    baseline = _load_baseline(args.baseline)
    _prepare(args, plan)
    if plan.kind == "client":
        return _run_client(args, plan, baseline)
    if plan.kind == "impl":
        try:
            from conformance.targets.inprocess import AdapterLog, impl_server
        except ImportError:
            raise UsageError("--impl needs the in-process adapters (conformance.targets.inprocess)") from None
        log = AdapterLog()
        try:
            with impl_server(plan.value, log) as url:
                return _run(args, plan, url, baseline, adapter_log=log)
        finally:
            if log.summary():
                print(f"conformance: --impl {plan.value}: {log.summary()}", file=sys.stderr)
    if plan.kind == "server":
        return _run(args, plan, plan.value, baseline)
    if plan.kind == "server_cmd":
        return _run_watched(args, plan, baseline)
    with embedded_server(http2=getattr(args, "http2", False), http3=getattr(args, "http3", False)) as url:
        if getattr(args, "http3", False):
            args.insecure = True  # the embedded reference's certificate is made for this run
        return _run(args, plan, url, baseline)


def _console(args: argparse.Namespace) -> Any:
    from conformance.console import Console

    return Console(getattr(args, "verbosity", 0))


def _options(args: argparse.Namespace, agent: str, watch: Any = None, adapter_log: Any = None) -> Any:
    from conformance.runner.session import RunOptions

    return RunOptions(agent=agent, timeout=args.timeout or 10.0, timeout_cap=args.timeout, wait=args.wait,
                      settle=args.settle, max_message=args.max_message, max_echo=args.max_echo, watch=watch,
                      adapter_log=adapter_log, browser=bool(getattr(args, "browser", None)),
                      server_max_message=getattr(args, "server_max_message", None))


def _run_watched(args: argparse.Namespace, plan: _Plan, baseline: Any) -> int:
    """--server-cmd: start the server, watch it through the run (targets/watch.py), stop it after."""
    from conformance.targets.watch import WatchedServer

    if getattr(args, "http3", False) or getattr(args, "http2", False):  # RFC 9220 / 8441: targets/h3_watch.py
        from conformance.targets.h3_watch import H2WatchedServer, H3WatchedServer

        watch: WatchedServer = (H3WatchedServer if args.http3 else H2WatchedServer)(plan.value)
    else:
        watch = WatchedServer(plan.value)
    # a resource case runs alone against a watched server, so that the figures are its own
    plan.cases = [dataclasses.replace(c, exclusive=True) if c.resources is not None else c for c in plan.cases]
    try:
        watch.start()
        code = _run(args, plan, watch.url, baseline, watch=watch)
        if watch.restarts:
            print(f"note: the server was restarted {watch.restarts} time(s) after it died", file=sys.stderr)
        return code
    finally:
        watch.close()


def _run_client(args: argparse.Namespace, plan: _Plan, baseline: Any) -> int:
    from conformance.report.model import ReportDir
    from conformance.runner.client_run import run_client_command

    report = ReportDir(plan.out)
    con = _console(args)
    if args.verbosity >= 0:
        print(f"testing a client with {len(plan.cases)} cases (report in {plan.out})", file=sys.stderr)
    con.start(len(plan.cases), "client cases")
    try:
        summary = asyncio.run(run_client_command(plan.value, plan.cases, report, _options(args, plan.agent),
                                                 titles=plan.cat.titles, budget=args.budget,
                                                 quiet=con.live() or args.verbosity < 0,
                                                 progress=lambda r: con.case(r, args.strict)))
    finally:
        con.stop()
    _write_reports(plan.out, plan.cat.titles, args, report)
    if summary.note:
        print(f"note: {summary.note}", file=sys.stderr)
    if not summary.connected:
        print("conformance: the client never connected", file=sys.stderr)
        return int(ExitCode.UNREACHABLE)
    return _finish(args, plan, con, report, summary.results, summary.seconds, baseline, not_run=False)


def _run(args: argparse.Namespace, plan: _Plan, url: str, baseline: Any, watch: Any = None,
         adapter_log: Any = None) -> int:
    from conformance.report.model import ReportDir
    from conformance.runner.run import run_cases
    from conformance.targets.tcp import ServerTarget

    if getattr(args, "http3", False):  # RFC 9220: conformance/runner/h3_command.py
        from conformance.runner.h2_command import h2_cases
        from conformance.runner.h3_command import h3_target

        target: ServerTarget = h3_target(url, args.ca, args.insecure)
        plan.cases = h2_cases(plan.cases, transport="h3")
    elif getattr(args, "http2", False):  # RFC 8441: conformance/runner/h2_command.py
        from conformance.runner.h2_command import h2_cases
        from conformance.targets.h2 import H2Target

        target = H2Target.from_url(url, args.ca, args.insecure)
        plan.cases = h2_cases(plan.cases)
    else:
        from conformance.runner.h2_command import without_h2_cases

        target = ServerTarget.from_url(url, args.ca, args.insecure)
        plan.cases = without_h2_cases(plan.cases)
    report = ReportDir(plan.out)
    con = _console(args)
    if args.verbosity >= 0:
        print(f"running {len(plan.cases)} cases against {url} as agent {plan.agent!r} "
              f"(jobs {args.jobs}, report in {plan.out})", file=sys.stderr)
    con.start(len(plan.cases), plan.agent)
    try:
        with _sigterm_as_interrupt():
            summary = asyncio.run(run_cases(plan.cases, target, _options(args, plan.agent, watch, adapter_log), report,
                                            jobs=args.jobs, budget=args.budget, retries=args.retries,
                                            quiet=con.live() or args.verbosity < 0,
                                            on_result=lambda r: con.case(r, args.strict),
                                            # the embedded reference's figures are nobody's verdict
                                            exclusive_alone=plan.kind != "reference"))
    except KeyboardInterrupt:
        con.stop()
        print(f"\ninterrupted: finished cases are in {plan.out}; continue with --resume {plan.out}",
              file=sys.stderr)
        _write_reports(plan.out, plan.cat.titles, args, report)
        return 130
    con.stop()
    _write_reports(plan.out, plan.cat.titles, args, report)
    if summary.note:
        print(f"note: {summary.note}", file=sys.stderr)
    if summary.unreachable:
        why = summary.note if summary.note.startswith(url) else "the target refused or dropped every connection"
        print(f"conformance: {url}: no case could run: {why}", file=sys.stderr)
        return int(ExitCode.UNREACHABLE)
    return _finish(args, plan, con, report, summary.results, summary.seconds, baseline,
                   not_run=bool(summary.not_run))


def _finish(args: argparse.Namespace, plan: _Plan, con: Any, report: Any, ran: list[Any], seconds: float,
            baseline: Any, not_run: bool) -> int:
    """The group table, the failing cases, the last line and the exit code, over every result of the
    agent in the report (a resumed run's earlier ones included)."""
    from conformance.runner.run import summary_table

    mine = [r for r in report.results() if r.agent == plan.agent]
    con.table(summary_table(mine, plan.cat.titles))
    failed = [r for r in mine if r.is_failure(args.strict)]
    diffs = _baseline_diffs(baseline, mine) if baseline is not None else []
    known = _known(baseline, failed) if baseline is not None else set()
    con.failures(mine, args.strict, known)
    for d in diffs:
        print(f"baseline: {d}")
    where = Path(plan.out) / "index.html"
    unreached = sum(1 for r in mine if is_not_run(r.behavior, r.behaviorClose))
    text = (f"{len(mine)} cases ({len(ran)} run now) in {seconds:.1f} s: {len(failed)} failed"
            f"{f', {unreached} not run' if unreached else ''}{' (NON-STRICT counts)' if args.strict else ''}")
    if baseline is not None:
        text += f", {len(known)} of them known from the baseline, {len(diffs)} differences from it"
    con.last(f"{text}; report: {where}", ok=not diffs if baseline is not None else not failed)
    if baseline is not None:
        return int(ExitCode.CASE_FAILED) if diffs else int(ExitCode.OK)
    return int(ExitCode.CASE_FAILED) if failed or not_run else int(ExitCode.OK)


def _known(baseline: Any, failed: list[Any]) -> set[str]:
    """The failing cases that the baseline lists with exactly this verdict."""
    return {r.id for r in failed
            if (e := baseline.get(r.agent, {}).get(r.id)) and (e["behavior"], e["behaviorClose"]) == (
                r.behavior, r.behaviorClose)}


def _baseline_diffs(baseline: Any, results: list[Any]) -> list[str]:
    from conformance.report.baseline import compare_to_baseline, unknown_agents

    agents = {r.agent for r in results}
    for name in unknown_agents(baseline, agents):
        print(f"warning: the baseline lists agent {name!r}, which this run does not have "
              f"(agents here: {', '.join(sorted(agents))}); its entries are not compared", file=sys.stderr)
    return list(compare_to_baseline(results, baseline))


def cmd_serve(args: argparse.Namespace) -> int:
    from conformance.commands import selected_cases
    from conformance.report.model import ReportDir
    from conformance.rundir import check_writable_dir
    from conformance.runner.serve import CaseServer
    from conformance.runner.session import RunOptions
    from conformance.targets.tcp import check_loopback

    exclude: list[str] = []
    if args.spec:
        exclude = _serve_spec(args)
    args.out = args.out or "reports/clients"
    check_loopback(args.host)
    check_writable_dir(args.out, "--out")
    cat, cases = selected_cases(args, "client", exclude)
    ctx = _server_tls(args.cert, args.key)
    con = _console(args)
    seen: list[Any] = []

    def on_result(r: Any) -> None:
        seen.append(r)
        if args.verbosity >= 0:
            bad = r.is_failure(args.strict)
            print(con.paint(f"case {r.id} agent {r.agent}: {r.behavior}/{r.behaviorClose}", "\033[31m" if bad else None),
                  file=sys.stderr, flush=True)

    server = CaseServer(cases, ReportDir(args.out), RunOptions(agent="client", timeout=args.timeout,
                                                                 wait=args.wait, max_echo=args.max_echo),
                         cat.titles, on_result=on_result, ssl_context=ctx,
                         on_update=lambda: _write_html(args.out, cat.titles), browser_agents=args.browser_client)

    async def main() -> None:
        srv = await server.listen(args.host, args.port, reuse_address=True)
        port = srv.sockets[0].getsockname()[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        scheme = "wss" if ctx else "ws"
        print(f"serving {len(cases)} client cases; listening on {scheme}://{host}:{port}", flush=True)
        async with srv:
            await srv.serve_forever()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return _serve_summary(args, con, seen)


def _serve_spec(args: argparse.Namespace) -> list[str]:
    """fuzzingserver.json: where to listen, the cases, the report directory."""
    from conformance.spec import load_spec

    spec = load_spec(args.spec)
    if spec.url:
        args.host, args.port = _listen_address(args.spec, spec.url)
    args.out = args.out or spec.outdir
    args.cases = [*args.cases, *([g] for g in spec.case_globs())]
    if spec.exclude_agent_cases:
        print(f"note: {args.spec}: exclude-agent-cases needs the agent, which `serve` learns per case; "
              "only exclude-cases applies", file=sys.stderr)
    return list(spec.exclude_cases)


def _listen_address(path: str, url: str) -> tuple[str, int]:
    """fuzzingserver.json's `url` as (host, port); port 0 stays 0 (any free port)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{path}: url {url!r}: {exc}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"{path}: url {url!r}: expected ws://HOST:PORT")
    return parts.hostname, port if port is not None else (443 if parts.scheme == "wss" else 80)


def _serve_summary(args: argparse.Namespace, con: Any, results: list[Any]) -> int:
    """When `serve` stops: the failing cases and a count, per the run's results."""
    if not results:
        print("served no case", file=sys.stderr)
        return 0
    con.failures(results, args.strict)
    failed = [r for r in results if r.is_failure(args.strict)]
    agents = sorted({r.agent for r in results})
    con.last(f"{len(results)} cases served to {', '.join(agents)}: {len(failed)} failed; "
             f"report: {Path(args.out) / 'index.html'}", ok=not failed)
    return int(ExitCode.CASE_FAILED) if failed else int(ExitCode.OK)


def cmd_echo_client(args: argparse.Namespace) -> int:
    from conformance.targets.echo_client import run_echo_client
    from conformance.targets.tcp import ServerTarget

    target = ServerTarget.from_url(args.url, args.ca, args.insecure)  # loopback only, a valid ws:// or wss:// URL
    try:
        n = asyncio.run(run_echo_client(args.url, args.agent, ssl_context=target.ssl_context()))
    except (OSError, ConnectionError) as exc:
        raise TargetError(f"{args.url}: {exc}") from None
    print(f"ran {n} cases as {args.agent}")
    return 0


def _load_baseline(path: str | None) -> Any:
    if not path:
        return None
    from conformance.report.baseline import load_baseline

    return load_baseline(path)


def _write_html(out_dir: str, titles: dict[str, str]) -> None:
    from conformance.report.html import write_html

    write_html(out_dir, titles)


def _write_reports(out_dir: str, titles: dict[str, str], args: argparse.Namespace, report: Any) -> None:
    try:
        from conformance.report.html import write_html
    except ImportError:  # pragma: no cover - during development of the report layer
        return
    write_html(out_dir, titles)
    if args.junit:
        from conformance.report.junit import write_junit

        try:
            write_junit(list(report.results()), args.junit, args.strict)
        except OSError as exc:
            raise UsageError(f"--junit {args.junit}: cannot write: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends a run like Ctrl-C: finished results stay, the report is written."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _server_tls(cert: str | None, key: str | None) -> Any:
    """The TLS server context of `--cert`/`--key` (None without them); a bad file is a usage error."""
    if not cert:
        if key:
            raise UsageError("--key needs --cert")
        return None
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the TLS certificate {cert}: {exc}") from None
    return ctx


def cmd_echo_server(args: argparse.Namespace) -> int:
    if getattr(args, "http3", False):
        from conformance.runner.h3_command import h3_echo_server

        return h3_echo_server(args)
    if args.http2:
        from conformance.runner.h2_command import h2_echo_server

        return h2_echo_server(args)
    from conformance.targets.echo_server import serve_echo
    from conformance.targets.tcp import check_loopback

    check_loopback(args.host)
    ctx = _server_tls(args.cert, args.key)

    async def main() -> None:
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve_echo(args.host, args.port, deflate=args.deflate,
                                              ssl_context=ctx, ready=ready, max_message=args.max_message,
                                              max_head=args.max_head, max_headers=args.max_headers,
                                              handshake_timeout=args.handshake_timeout))
        port = await ready
        scheme = "wss" if ctx else "ws"
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"listening on {scheme}://{host}:{port}/", flush=True)
        await task

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0


