"""`conformance run` and `conformance echo-server`."""

from __future__ import annotations

__all__ = ["add_run_commands"]

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from conformance.errors import ExitCode, TargetError, UsageError


def add_run_commands(sub: Any) -> None:
    r = sub.add_parser("run", help="run the catalogue against a target (default: the embedded "
                       "reference echo server)")
    tgt = r.add_mutually_exclusive_group()
    tgt.add_argument("--server", metavar="URL", help="a WebSocket server to test (ws:// or wss://, loopback only)")
    tgt.add_argument("--client", metavar="CMD", help='a client command to test, with {url} and {agent}')
    tgt.add_argument("--impl", metavar="NAME", help="an in-process sans-IO library (wsproto, websockets, module:factory)")
    r.add_argument("--cases", action="append", nargs="+", default=[], metavar="GLOB",
                   help="case IDs to run, shell patterns over the whole ID (repeatable)")
    r.add_argument("--exclude", action="append", nargs="+", default=[], metavar="GLOB",
                   help="case IDs to leave out (repeatable)")
    r.add_argument("--agent", help="name of the implementation in the report")
    r.add_argument("--out", default="reports/run", metavar="DIR", help="report directory (default reports/run)")
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
    r.add_argument("--resume", metavar="DIR", help="continue an interrupted run in DIR")
    r.add_argument("--ca", metavar="FILE", help="CA certificate to trust for wss://")
    r.add_argument("--insecure", action="store_true", help="do not verify the wss:// certificate")
    r.add_argument("--cases-dir", help="case directory (default: the bundled cases/)")
    r.add_argument("--http2", action="store_true", help="over HTTP/2 extended CONNECT (RFC 8441): "
                   "--server http://... (prior knowledge) or https://... (ALPN h2)")
    r.add_argument("--max-message", "--memory-limit", dest="max_message", type=_positive_int,
                   default=64 * 1024 * 1024,
                   help="most octets the suite holds from one connection: the message or frame being "
                        "read plus the messages recorded (default 64 MiB); a target that exceeds it is stopped")
    r.add_argument("--max-echo", type=_positive_int, default=None, metavar="N",
                   help="send at most N messages in each echo step (Autobahn's groups 9, 12 and 13 send "
                        "up to 1000 large ones); the case report says when it was capped")
    r.add_argument("--quiet", action="store_true", help="no progress line")
    r.set_defaults(func=cmd_run)

    sv = sub.add_parser("serve", help="serve the client catalogue on Autobahn's fuzzing-server endpoints")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=9001)
    sv.add_argument("--out", default="reports/clients", metavar="DIR")
    sv.add_argument("--cases", action="append", nargs="+", default=[], metavar="GLOB")
    sv.add_argument("--exclude", action="append", nargs="+", default=[], metavar="GLOB")
    sv.add_argument("--timeout", type=_positive_float, default=10.0)
    sv.add_argument("--wait", type=_positive_float, default=2.0)
    sv.add_argument("--cases-dir", help="case directory (default: the bundled cases/)")
    sv.add_argument("--max-echo", type=_positive_int, default=None, metavar="N",
                    help="send at most N messages in each echo step")
    sv.set_defaults(func=cmd_serve)

    ec = sub.add_parser("echo-client", help="the reference echo client (a conforming testee client)")
    ec.add_argument("--url", required=True, help="the serve URL, e.g. ws://127.0.0.1:9001")
    ec.add_argument("--agent", required=True)
    ec.set_defaults(func=cmd_echo_client)

    e = sub.add_parser("echo-server", help="the reference echo server (a conforming testee)")
    e.add_argument("--host", default="127.0.0.1")
    e.add_argument("--port", type=int, required=True, help="port (0: any free port, printed)")
    e.add_argument("--deflate", action="store_true", help="accept permessage-deflate")
    e.add_argument("--cert", help="TLS certificate (PEM) to listen with wss://")
    e.add_argument("--key", help="TLS private key (PEM)")
    e.add_argument("--http2", action="store_true", help="serve WebSocket over HTTP/2 (RFC 8441)")
    e.set_defaults(func=cmd_echo_server)


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


def _flatten(groups: list[list[str]]) -> list[str]:
    return [g for group in groups for g in group]


@contextlib.contextmanager
def embedded_server(deflate: bool = True, http2: bool = False) -> Iterator[str]:
    """Start the reference echo server in a child process (it gets its own core)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", "echo-server", "--port", "0"] + (["--deflate"] if deflate else [])
        + (["--http2"] if http2 else []),
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


def _selected(args: argparse.Namespace, side: str) -> tuple[Any, list[Any]]:
    """The catalogue and the cases of `side` ("server" or "client") that the selection picks; a
    selection that picks none is a usage error, whatever the target."""
    from conformance.catalog.load import load_catalogue, select

    cat = load_catalogue(args.cases_dir)
    cases = [c for c in select(cat.cases, _flatten(args.cases), _flatten(args.exclude))
             if c.role in (side, "both")]
    if not cases:
        raise UsageError(f"no {side}-side case matches --cases {_flatten(args.cases)}")
    return cat, cases


def _client_cases(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    return _selected(args, "client")


def cmd_run(args: argparse.Namespace) -> int:
    if getattr(args, "http2", False) and (args.client or args.impl):
        raise UsageError("--http2 tests a server over HTTP/2: use it with --server, or alone for the reference")
    if args.client:
        return _run_client(args)
    if args.impl:
        return _run_impl(args)
    cat, cases = _selected(args, "server")
    baseline = _load_baseline(args.baseline)
    out_dir = args.resume or args.out
    if args.server:
        agent = args.agent or "testee"
        return _run(args, cat, cases, args.server, agent, out_dir, baseline)
    with embedded_server(http2=getattr(args, "http2", False)) as url:
        return _run(args, cat, cases, url, args.agent or "reference", out_dir, baseline)


def _run_client(args: argparse.Namespace) -> int:
    from conformance.report.model import ReportDir
    from conformance.runner.client_run import run_client_command
    from conformance.runner.run import RunSummary, summary_table
    from conformance.runner.session import RunOptions

    cat, cases = _client_cases(args)
    baseline = _load_baseline(args.baseline)
    agent = args.agent or "client"
    out_dir = args.resume or args.out
    report = ReportDir(out_dir)
    opts = RunOptions(agent=agent, timeout=args.timeout or 10.0, timeout_cap=args.timeout, wait=args.wait,
                      settle=args.settle, max_message=args.max_message, max_echo=args.max_echo)
    print(f"testing a client with {len(cases)} cases (report in {out_dir})", file=sys.stderr)
    summary = asyncio.run(run_client_command(args.client, cases, report, opts, titles=cat.titles,
                                             budget=args.budget, quiet=args.quiet))
    _write_reports(out_dir, cat.titles, args, report)
    print(summary_table(summary.results, cat.titles))
    if summary.note:
        print(f"note: {summary.note}", file=sys.stderr)
    if not summary.connected:
        print("conformance: the client never connected", file=sys.stderr)
        return int(ExitCode.UNREACHABLE)
    failed = RunSummary(summary.results, [], summary.seconds).failed(args.strict)
    print(f"{len(summary.results)} cases in {summary.seconds:.1f} s: {len(failed)} failed; "
          f"report: {Path(out_dir) / 'index.html'}")
    if baseline is not None:
        return _against_baseline(baseline, summary.results)
    return int(ExitCode.CASE_FAILED) if failed else int(ExitCode.OK)


def _run_impl(args: argparse.Namespace) -> int:
    """An in-process library behind a loopback echo server (targets/inprocess.py), then a server run."""
    try:
        from conformance.targets.inprocess import impl_server
    except ImportError:
        raise UsageError("--impl needs the in-process adapters (conformance.targets.inprocess)") from None
    cat, cases = _selected(args, "server")
    baseline = _load_baseline(args.baseline)
    with impl_server(args.impl) as url:
        return _run(args, cat, cases, url, args.agent or args.impl, args.resume or args.out, baseline)


def cmd_serve(args: argparse.Namespace) -> int:
    from conformance.report.model import ReportDir
    from conformance.runner.serve import CaseServer
    from conformance.runner.session import RunOptions
    from conformance.targets.tcp import check_loopback

    check_loopback(args.host)
    args.baseline = None
    cat, cases = _client_cases(args)
    server = CaseServer(cases, ReportDir(args.out), RunOptions(agent="client", timeout=args.timeout,
                                                                 wait=args.wait, max_echo=args.max_echo),
                         cat.titles)

    async def main() -> None:
        srv = await server.listen(args.host, args.port, reuse_address=True)
        port = srv.sockets[0].getsockname()[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"serving {len(cases)} client cases; listening on ws://{host}:{port}", flush=True)
        async with srv:
            await srv.serve_forever()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def cmd_echo_client(args: argparse.Namespace) -> int:
    from conformance.targets.echo_client import run_echo_client
    from conformance.targets.tcp import ServerTarget

    ServerTarget.from_url(args.url)  # loopback only, and a valid ws:// URL
    try:
        n = asyncio.run(run_echo_client(args.url, args.agent))
    except (OSError, ConnectionError) as exc:
        raise TargetError(f"{args.url}: {exc}") from None
    print(f"ran {n} cases as {args.agent}")
    return 0


def _load_baseline(path: str | None) -> Any:
    if not path:
        return None
    from conformance.report.baseline import load_baseline

    return load_baseline(path)


def _run(args: argparse.Namespace, cat: Any, cases: list[Any], url: str, agent: str,
         out_dir: str, baseline: Any) -> int:
    from conformance.report.model import ReportDir
    from conformance.runner.run import run_cases, summary_table
    from conformance.runner.session import RunOptions
    from conformance.targets.tcp import ServerTarget

    if getattr(args, "http2", False):  # RFC 8441: conformance/runner/h2_command.py
        from conformance.runner.h2_command import h2_cases
        from conformance.targets.h2 import H2Target

        target: ServerTarget = H2Target.from_url(url, args.ca, args.insecure)
        cases = h2_cases(cases)
    else:
        from conformance.runner.h2_command import without_h2_cases

        target = ServerTarget.from_url(url, args.ca, args.insecure)
        cases = without_h2_cases(cases)
    report = ReportDir(out_dir)
    if args.resume:
        done = report.finished_ids(agent)
        cases = [c for c in cases if c.id not in done]
        print(f"resuming in {out_dir}: {len(done)} cases already done, {len(cases)} to run",
              file=sys.stderr)
    opts = RunOptions(agent=agent, timeout=args.timeout or 10.0, timeout_cap=args.timeout, wait=args.wait,
                      settle=args.settle, max_message=args.max_message, max_echo=args.max_echo)
    print(f"running {len(cases)} cases against {url} as agent {agent!r} "
          f"(jobs {args.jobs}, report in {out_dir})", file=sys.stderr)
    summary = None
    try:
        with _sigterm_as_interrupt():
            summary = asyncio.run(run_cases(cases, target, opts, report, jobs=args.jobs,
                                            budget=args.budget, retries=args.retries,
                                            quiet=args.quiet))
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished cases are in {out_dir}; continue with --resume {out_dir}",
              file=sys.stderr)
        _write_reports(out_dir, cat.titles, args, report)
        return 130
    _write_reports(out_dir, cat.titles, args, report)
    all_results = list(report.results())
    print(summary_table([r for r in all_results if r.agent == agent], cat.titles))
    if summary.note:
        print(f"note: {summary.note}", file=sys.stderr)
    if summary.unreachable:
        why = summary.note if summary.note.startswith(url) else "the target refused or dropped every connection"
        print(f"conformance: {url}: no case could run: {why}", file=sys.stderr)
        return int(ExitCode.UNREACHABLE)
    failed = summary.failed(args.strict)
    print(f"{len(summary.results)} cases in {summary.seconds:.1f} s: {len(failed)} failed"
          f"{' (NON-STRICT counts)' if args.strict else ''}; report: {Path(out_dir) / 'index.html'}")
    if baseline is not None:
        return _against_baseline(baseline, [r for r in all_results if r.agent == agent])
    return int(ExitCode.CASE_FAILED) if failed or summary.not_run else int(ExitCode.OK)


def _against_baseline(baseline: Any, results: list[Any]) -> int:
    from conformance.report.baseline import compare_to_baseline

    diffs = compare_to_baseline(results, baseline)
    for d in diffs:
        print(f"baseline: {d}")
    return int(ExitCode.CASE_FAILED) if diffs else int(ExitCode.OK)


def _write_reports(out_dir: str, titles: dict[str, str], args: argparse.Namespace, report: Any) -> None:
    try:
        from conformance.report.html import write_html
    except ImportError:  # pragma: no cover - during development of the report layer
        return
    write_html(out_dir, titles)
    if args.junit:
        from conformance.report.junit import write_junit

        write_junit(list(report.results()), args.junit, args.strict)


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


def cmd_echo_server(args: argparse.Namespace) -> int:
    if args.http2:
        from conformance.runner.h2_command import h2_echo_server

        return h2_echo_server(args)
    from conformance.targets.echo_server import serve_echo
    from conformance.targets.tcp import check_loopback

    check_loopback(args.host)
    ctx = None
    if args.cert:
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)

    async def main() -> None:
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve_echo(args.host, args.port, deflate=args.deflate,
                                              ssl_context=ctx, ready=ready))
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


