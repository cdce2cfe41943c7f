"""Redirect cases (20.4.22-27): the suite's 3xx points to its second listener on another loopback
port, and what a client does there is judged rule by rule. Real clients on real sockets: the
reference (never follows), the websockets library (follows, new key, drops the user info's
credentials), and raw followers that reuse the key or the Authorization header."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from conformance.catalog.load import load_catalogue
from conformance.catalog.model import Case
from conformance.report.model import CaseResult, ReportDir
from conformance.runner.client_run import USERINFO
from conformance.runner.redirect import with_location
from conformance.runner.serve import CaseServer
from conformance.runner.session import RunOptions
from conformance.targets.echo_client import run_echo_client
from conformance.wire.http import parse_response
from tests.cli.helpers import run_main

ROOT = Path(__file__).resolve().parents[2]
AUTH = "Basic " + base64.b64encode(USERINFO.encode()).decode("ascii")


def _cases() -> list[Case]:
    return [c for c in load_catalogue(ROOT / "cases").cases if c.id in ("20.4.22", "20.4.26")]


async def _serve(client: object, tmp_path: Path, browser: bool = False,
                 browser_agents: tuple[str, ...] = ()) -> dict[str, CaseResult]:
    """Serve the two redirect cases to `client(url)` (a coroutine function); the results by case id."""
    server = CaseServer(_cases(), ReportDir(tmp_path), RunOptions(agent="t", wait=2.0, browser=browser),
                        browser_agents=browser_agents)
    srv = await server.listen("127.0.0.1", 0)
    url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    try:
        await asyncio.wait_for(client(url), 60)  # type: ignore[operator]
    finally:
        srv.close()
    return {cid: r for (_, cid), r in server.results.items()}


async def _websockets_client(url: str) -> None:
    """The websockets library, with credentials in the URL's user info (sent as Basic)."""
    authurl = url.replace("://", f"://{USERINFO}@")
    for n in (1, 2):
        try:
            async with connect(f"{authurl}/runCase?case={n}&agent=t", open_timeout=5):
                pass
        except (TimeoutError, WebSocketException, OSError):
            pass
    async with connect(f"{url}/getCaseCount"):
        pass


BROWSER_LIKE = "Origin: http://127.0.0.1:1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0\r\n"


async def _raw_follower(url: str, same_key: bool, auth: bool, extra: str = "") -> None:
    """Sends a handshake with Authorization (and `extra` header lines); follows the 3xx's Location
    with the same or a new key."""
    for n in (1, 2):
        key = base64.b64encode(bytes(range(n, n + 16))).decode("ascii")
        head = await _handshake(url, f"/runCase?case={n}&agent=t", key, AUTH, extra)
        parsed = parse_response(head)
        assert parsed is not None and 300 <= parsed[0].status < 400
        target = urllib.parse.urlsplit(parsed[0].headers["Location"])
        again = key if same_key else base64.b64encode(bytes(range(n + 1, n + 17))).decode("ascii")
        await _handshake(f"ws://{target.netloc}", target.path, again, AUTH if auth else "", extra)
    await _handshake(url, "/getCaseCount", "AQIDBAUGBwgJCgsMDQ4PEA==", "")


async def _handshake(url: str, path: str, key: str, auth: str, more: str = "") -> bytes:
    u = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    extra = (f"Authorization: {auth}\r\n" if auth else "") + more
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    return head


def test_location_replaces_the_case_header() -> None:
    case = with_location(_cases()[0], "ws://127.0.0.1:9/elsewhere")
    assert case.handshake is not None and case.handshake.response is not None
    assert [v for n, v in case.handshake.response.headers if n == "Location"] == [("ws://127.0.0.1:9/elsewhere",)]


def test_the_reference_client_does_not_follow(tmp_path: Path) -> None:
    got = asyncio.run(_serve(lambda url: run_echo_client(url, "t", timeout=10), tmp_path))
    assert {c: r.behavior for c, r in got.items()} == {"20.4.22": "OK", "20.4.26": "OK"}
    assert all("did not follow the redirect" in r.result for r in got.values())


def test_a_non_browser_may_follow_with_a_new_key_and_no_credentials(tmp_path: Path) -> None:
    got = asyncio.run(_serve(_websockets_client, tmp_path))
    want = ("INFORMATIONAL", "handshake.redirect-followed")
    assert {c: (r.behavior, r.rule) for c, r in got.items()} == dict.fromkeys(("20.4.22", "20.4.26"), want)
    assert all("without its Authorization" in r.result for r in got.values())


def test_a_browser_that_follows_breaks_the_whatwg_rule(tmp_path: Path) -> None:
    got = asyncio.run(_serve(_websockets_client, tmp_path, browser=True))
    assert {(r.behavior, r.rule, r.level) for r in got.values()} == {
        ("FAILED", "handshake.redirect-browser", "MUST")}


@pytest.mark.parametrize(("same_key", "auth", "want"), [
    (True, False, ("FAILED", "handshake.key-fresh", "MUST")),
    (False, True, ("NON-STRICT", "handshake.redirect-credentials", "SHOULD")),
    (False, False, ("INFORMATIONAL", "handshake.redirect-followed", "MAY")),
])
def test_a_follower_is_judged_by_its_key_and_credentials(tmp_path: Path, same_key: bool, auth: bool,
                                                        want: tuple[str, str, str]) -> None:
    got = asyncio.run(_serve(lambda url: _raw_follower(url, same_key, auth), tmp_path))
    assert {(r.behavior, r.rule, r.level) for r in got.values()} == {want}


@pytest.mark.parametrize(("agents", "want"), [
    (("t",), ("FAILED", "handshake.redirect-browser", "MUST")),
    (("[st]",), ("FAILED", "handshake.redirect-browser", "MUST")),  # a shell pattern
    (("Chromium*",), ("INFORMATIONAL", "handshake.redirect-followed", "MAY")),  # another agent is the browser
])
def test_serve_judges_a_declared_browser_agent_by_the_whatwg_rule(tmp_path: Path, agents: tuple[str, ...],
                                                                  want: tuple[str, str, str]) -> None:
    got = asyncio.run(_serve(_websockets_client, tmp_path, browser_agents=agents))
    assert {(r.behavior, r.rule, r.level) for r in got.values()} == {want}


def test_browser_like_headers_alone_do_not_make_a_browser(tmp_path: Path) -> None:
    # an Origin and a Mozilla/ User-Agent are what any client may send: the verdict stays the
    # non-browser one, and the result says how to declare a real browser
    got = asyncio.run(_serve(lambda url: _raw_follower(url, False, False, BROWSER_LIKE), tmp_path))
    assert {(r.behavior, r.rule) for r in got.values()} == {("INFORMATIONAL", "handshake.redirect-followed")}
    assert all("serve --browser-client AGENT" in r.result and "Mozilla/5.0" in r.result for r in got.values())
    plain = asyncio.run(_serve(lambda url: _raw_follower(url, False, False), tmp_path / "plain"))
    assert not any("--browser-client" in r.result for r in plain.values())


def test_serve_browser_client_flag_reaches_the_verdict(tmp_path: Path) -> None:
    # `conformance serve --browser-client t` as a user runs it; a following client reporting as t
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "serve", "--port", "0", "--cases", "20.4.22",
                             "--browser-client", "t", "--wait", "2", "--out", str(tmp_path / "r")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]

        async def one_case() -> None:
            with contextlib.suppress(TimeoutError, WebSocketException, OSError):
                async with connect(f"{url}/runCase?case=1&agent=t", open_timeout=5):
                    pass
            async with connect(f"{url}/getCaseCount"):
                pass

        asyncio.run(asyncio.wait_for(one_case(), 60))
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C ends `serve`
        _, err = proc.communicate(timeout=30)
    assert "case 20.4.22 agent t: FAILED/OK" in err, err


def test_an_empty_browser_client_is_bad_usage() -> None:
    got = run_main("serve", "--browser-client", "", "--port", "0")
    assert got.code == 2 and "--browser-client" in got.err and "Traceback" not in got.err
