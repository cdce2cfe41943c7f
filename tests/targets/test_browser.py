"""Headless Chromium as a testee client: a handful of client cases end to end through the
browser's own WebSocket API (conformance/targets/browser.py). Needs Debian's chromium
(`make browser-deps`; `make test` calls it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.targets.browser import agent_name, browser_command

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CASES = ["20.1.1", "20.2.1", "20.2.5", "20.4.22", "20.8.7", "21.1.1", "22.2.1"]


def test_chromium_runs_client_cases_through_its_websocket_api(tmp_path: Path) -> None:
    if browser_command("chromium") is None:
        pytest.fail("chromium is not installed: run `make browser-deps` (make test does)")
    out = tmp_path / "out"
    code = main(["run", "--quiet", "--browser", "chromium", "--out", str(out), "--wait", "2", "--cases", *CASES])
    index = json.loads((out / "index.json").read_text())
    agent = agent_name("chromium")
    assert list(index) == [agent] and agent.startswith("Chromium ")
    got = {c: (e["behavior"], e["behaviorClose"]) for c, e in index[agent].items()}
    assert got == dict.fromkeys(CASES, ("OK", "OK")) and code == 0
    echo = json.loads((out / index[agent]["20.2.1"]["reportfile"]).read_text())
    assert any(w["dir"] == "rx" and "Hello, client" in w["text"] for w in echo["wirelog"])  # the page echoed
    # the page's cookie rides on the handshake, so the redirect case has a credential to watch
    redirect = json.loads((out / index[agent]["20.4.22"]["reportfile"]).read_text())
    assert "Cookie: conformance-redirect=test" in redirect["httpRequest"]
    assert "did not follow the redirect" in redirect["result"]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or ") Z " in stat.read_text()


def test_the_driver_ends_its_browser_when_terminated() -> None:
    """The suite ends a client command with SIGTERM; the driver must not leave Chromium behind."""
    if browser_command("chromium") is None:
        pytest.fail("chromium is not installed: run `make browser-deps` (make test does)")
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers: the page waits
        port = silent.getsockname()[1]
        browsers: list[int] = []
        driver = subprocess.Popen([sys.executable, "-m", "conformance.targets.browser", "chromium",
                                   f"ws://127.0.0.1:{port}", "t"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not _children(driver.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            browsers += _children(driver.pid)
            assert browsers, "the driver started no browser"
            driver.send_signal(signal.SIGTERM)
            driver.wait(60)  # the driver reaps the browser before it exits (SIGKILL after 10 s)
            deadline = time.monotonic() + 30
            while not all(_gone(b) for b in browsers) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert all(_gone(b) for b in browsers), "the browser outlived its driver"
        finally:
            if driver.poll() is None:
                driver.kill()
            for pid in browsers:  # a browser the driver left behind: end it here, not in CI's next job
                if not _gone(pid):
                    os.kill(pid, signal.SIGKILL)


def test_an_unknown_browser_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--browser", "netscape"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
