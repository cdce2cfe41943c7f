"""pytest plugin (entry point `ws_conformance`): every case of the catalogue as a test item.

    pytest --ws-server ws://127.0.0.1:9001/            # your server
    pytest --ws-impl wsproto -n auto                   # an in-process library, cases spread over cores
    pytest --ws-server URL --ws-cases '6.*' -k 6.4     # a part of the catalogue

Each item is named by its case ID (`ws-conformance::6.4.1`). A case passes when `conformance run`
would count it as passed (OK, INFORMATIONAL, and NON-STRICT unless --ws-strict); UNIMPLEMENTED
(compression not offered) is a skip. The run writes the standard report directory (per-case JSON,
index.json, index.html) to --ws-out, default reports/pytest, also under pytest-xdist: workers
send their results to the controlling process, which alone writes the directory.

Until --ws-server or --ws-impl is given, the plugin does nothing, so it is safe in any pytest run;
with one of them, only the case items are collected (the usual tests are left out).
"""

from __future__ import annotations

__all__ = [
    "CaseItem",
    "CaseFailed",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_ignore_collect",
    "pytest_load_initial_conftests",
    "pytest_runtest_logreport",
    "pytest_sessionfinish",
    "pytest_sessionstart",
    "pytest_terminal_summary",
]

import asyncio
import contextlib
import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.verdicts import Behavior

_RESULT_KEY = "ws_conformance_result"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ws-conformance", "WebSocket conformance cases (RFC 6455 / RFC 7692)")
    g.addoption("--ws-server", metavar="URL", help="run the catalogue against this server (loopback only)")
    g.addoption("--ws-impl", metavar="NAME", help="run it against an in-process library: wsproto, websockets "
                "or module:factory")
    g.addoption("--ws-cases", metavar="GLOBS", action="append", default=[],
                help="case IDs or globs, comma-separated (repeatable; default: all)")
    g.addoption("--ws-exclude", metavar="GLOBS", action="append", default=[], help="case IDs or globs to leave out")
    g.addoption("--ws-cases-dir", metavar="DIR", help="case directory (default: the bundled cases/)")
    g.addoption("--ws-out", metavar="DIR", default="reports/pytest", help="report directory (default reports/pytest)")
    g.addoption("--ws-agent", metavar="NAME", help="agent name in the report (default: testee, or the impl name)")
    g.addoption("--ws-strict", action="store_true", help="SHOULD-level failures fail the test too")
    g.addoption("--ws-timeout", type=float, default=10.0, help="seconds per case (default 10)")
    g.addoption("--ws-rfc", metavar="SECTION", action="append", default=[],
                help="only cases citing this RFC section or one below it, e.g. '6455 §5.5' (repeatable)")
    g.addoption("--ws-rule", metavar="GLOB", action="append", default=[],
                help="only cases checking a rule matching this pattern, e.g. 'close.*' (repeatable)")
    g.addoption("--ws-level", metavar="LEVEL", action="append", default=[],
                help="only cases of this level: MUST, SHOULD, MAY or informational (repeatable)")
    g.addoption("--ws-ca", metavar="FILE", help="CA certificate (PEM) to trust for a wss:// --ws-server")
    g.addoption("--ws-insecure", action="store_true", help="do not verify the wss:// certificate")


_NODE_PREFIX = "ws-conformance::"


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Node IDs the plugin prints (`ws-conformance::6.4.1`) select those cases when passed back."""
    def case_id(arg: str) -> str | None:
        return arg.removeprefix("::")[len(_NODE_PREFIX):] if arg.removeprefix("::").startswith(_NODE_PREFIX) else None

    ids = [cid for a in args if (cid := case_id(a))]
    if ids:
        args[:] = [a for a in args if case_id(a) is None] + ["--ws-cases", ",".join(ids)]


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("--ws-server") or config.getoption("--ws-impl"))


def _globs(values: list[str]) -> list[str]:
    return [g.strip() for v in values for g in v.split(",") if g.strip()]


def pytest_configure(config: pytest.Config) -> None:
    if not _active(config):
        return
    if config.getoption("--ws-server") and config.getoption("--ws-impl"):
        raise pytest.UsageError("--ws-server and --ws-impl: give one of them")
    config.addinivalue_line("markers", "ws_case(id): a WebSocket conformance case")
    from conformance.errors import ConformanceError
    from conformance.targets.inprocess import load_adapter
    from conformance.targets.tcp import ServerTarget

    try:  # a wrong URL or library name is a usage error before anything runs
        if config.getoption("--ws-server"):
            _check_tls(config)
            ServerTarget.from_url(config.getoption("--ws-server"))
        else:
            load_adapter(config.getoption("--ws-impl"))
    except ConformanceError as exc:
        raise pytest.UsageError(f"ws-conformance: {exc}") from None
    config.stash[_STATE] = _State(config)


def _check_tls(config: pytest.Config) -> None:
    from conformance.errors import UsageError

    ca, insecure = config.getoption("--ws-ca"), config.getoption("--ws-insecure")
    if (ca or insecure) and not str(config.getoption("--ws-server")).startswith("wss://"):
        raise UsageError("--ws-ca and --ws-insecure apply to a wss:// --ws-server only")
    if ca:
        import ssl

        try:
            ssl.create_default_context(cafile=ca)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise UsageError(f"--ws-ca {ca}: not a readable PEM certificate ({exc})") from None


def _probe(config: pytest.Config) -> None:
    """An unreachable --ws-server ends the session with exit 3, as `conformance run` does."""
    import socket

    from conformance.wire.uri import parse_uri

    url = config.getoption("--ws-server")
    uri = parse_uri(url)
    try:
        socket.create_connection((uri.host, uri.port), timeout=5).close()
    except OSError as exc:
        pytest.exit(f"ws-conformance: {url}: cannot connect: {exc.strerror or exc or type(exc).__name__}", returncode=3)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With --ws-server / --ws-impl only the cases are collected: skip test files and folders."""
    if _active(config) and collection_path != config.rootpath:
        return True
    return None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _active(config):
        return
    from conformance.catalog.load import load_catalogue
    from conformance.catalog.select import Selection, apply_selection
    from conformance.errors import ConformanceError

    selection = Selection(cases=tuple(_globs(config.getoption("--ws-cases"))),
                          exclude=tuple(_globs(config.getoption("--ws-exclude"))),
                          rfc=tuple(config.getoption("--ws-rfc")), rules=tuple(config.getoption("--ws-rule")),
                          levels=tuple(_globs(config.getoption("--ws-level"))))
    extra = [config.getoption("--ws-cases-dir")] if config.getoption("--ws-cases-dir") else []
    try:
        cat = load_catalogue(None, extra=extra)
        if cat.added and selection == Selection():  # as `conformance run --cases-dir`: just those cases
            selection = Selection(cases=tuple(cat.added))
        cases = apply_selection(cat.cases, selection, "server")
    except ConformanceError as exc:
        raise pytest.UsageError(f"ws-conformance: {exc}") from None
    cases = [c for c in cases if c.transport != "h2"]  # group 40 needs `run --http2`
    config.stash[_STATE].titles = cat.titles
    collector = _Catalogue.from_parent(session, name="ws-conformance", nodeid="ws-conformance")
    items[:] = [CaseItem.from_parent(collector, name=c.id, case=c) for c in cases]
    # Tell the terminal (and --collect-only) about them, as if the collector had collected them.
    config.hook.pytest_collectreport(report=pytest.CollectReport(collector.nodeid, "passed", None, list(items)))


class _Catalogue(pytest.Collector):
    """The parent of the case items (it collects nothing itself: the items are made above)."""

    def collect(self) -> list[pytest.Item]:  # pragma: no cover - never called
        return []


class CaseFailed(Exception):
    pass


class CaseItem(pytest.Item):
    """One case: run, judged, stored; fails as `conformance run` would count it."""

    def __init__(self, *, case: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.add_marker(pytest.mark.ws_case(case.id))
        self._result: Any = None

    def runtest(self) -> None:
        from conformance.runner.run import make_result
        from conformance.runner.session import execute_case

        state: _State = self.config.stash[_STATE]
        target, opts = state.target()
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        trace = asyncio.run(execute_case(self.case, target, opts))
        res = make_result(self.case, trace, opts.agent, started)
        self._result = res
        self.user_properties.append((_RESULT_KEY, res.to_json()))
        if res.behavior == Behavior.UNIMPLEMENTED:
            pytest.skip(f"UNIMPLEMENTED: {res.result}")
        if res.is_failure(state.strict):
            raise CaseFailed(res)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            r = excinfo.value.args[0]
            rule = f"{r.rule} ({r.section})" if r.rule else (r.section or "")
            return (f"{r.id} {r.title}\n  behaviour: {r.behavior}: {r.result}\n"
                    f"  close:     {r.behaviorClose}: {r.resultClose}\n  rule:      {rule}")
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        source = self.case.source.rsplit(":", 1)
        line = int(source[1]) - 1 if len(source) == 2 and source[1].isdigit() else None
        return Path(source[0]), line, f"case {self.case.id}: {self.case.title}"


class _State:
    """Per process: the target (an in-process library is started once per worker), options, titles."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.strict = bool(config.getoption("--ws-strict"))
        self.out = Path(config.getoption("--ws-out"))
        self.titles: dict[str, str] = {}
        self.results = 0
        self._stack = contextlib.ExitStack()
        self._target: Any = None
        self._opts: Any = None

    def target(self) -> tuple[Any, Any]:
        if self._target is None:
            from conformance.errors import ConformanceError
            from conformance.runner.session import RunOptions
            from conformance.targets.tcp import ServerTarget

            impl = self.config.getoption("--ws-impl")
            try:
                url = self.config.getoption("--ws-server") or self._stack.enter_context(_impl(impl))
                ca = self.config.getoption("--ws-ca") if not impl else None
                self._target = ServerTarget.from_url(url, ca, bool(self.config.getoption("--ws-insecure")))
            except ConformanceError as exc:
                raise pytest.UsageError(f"ws-conformance: {exc}") from None
            agent = self.config.getoption("--ws-agent") or (impl if impl else "testee")
            timeout = float(self.config.getoption("--ws-timeout"))
            self._opts = RunOptions(agent=agent, timeout=timeout)
        return self._target, self._opts

    def close(self) -> None:
        self._stack.close()


@contextlib.contextmanager
def _impl(spec: str) -> Iterator[str]:
    from conformance.targets.inprocess import impl_server

    with impl_server(spec) as url:
        yield url


_STATE = pytest.StashKey[_State]()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """In the controlling process (or a run without xdist): store each result as it arrives."""
    for key, value in getattr(report, "user_properties", ()):
        if key != _RESULT_KEY or report.when not in ("call", "setup"):
            continue
        _store(value)


_REPORT: dict[str, Any] = {}


def _store(value: dict[str, Any]) -> None:
    report = _REPORT.get("dir")
    if report is None:
        return
    from conformance.report.model import CaseResult

    report.write_case(CaseResult.from_json(value))
    _REPORT["count"] = _REPORT.get("count", 0) + 1


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if _active(config) and not _is_worker(config):
        from conformance.report.model import ReportDir

        if config.getoption("--ws-server") and not config.option.collectonly:
            _probe(config)  # in the controlling process, so also before pytest-xdist starts workers

        out = Path(config.getoption("--ws-out"))
        out.mkdir(parents=True, exist_ok=True)
        index = out / "index.json"
        if index.exists():
            index.unlink()  # a fresh run: results of earlier runs in this directory are not mixed in
        _REPORT["dir"] = ReportDir(out)
        _REPORT["count"] = 0


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if not _active(config):
        return
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()
    if _is_worker(config) or "dir" not in _REPORT:
        return
    from conformance.catalog.load import load_catalogue
    from conformance.errors import ConformanceError
    from conformance.report.html import write_html

    if _REPORT.get("count"):
        try:
            extra = [config.getoption("--ws-cases-dir")] if config.getoption("--ws-cases-dir") else []
            titles = load_catalogue(None, extra=extra).titles
        except ConformanceError:
            titles = {}
        write_html(_REPORT["dir"].path, titles)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _active(config) and not _is_worker(config) and _REPORT.get("count"):
        out = _REPORT["dir"].path
        terminalreporter.write_line(f"ws-conformance: {_REPORT['count']} case results in {out / 'index.json'}; "
                                    f"report: {out / 'index.html'}")
