"""Headless Chromium as a testee client: a handful of client cases end to end through the
browser's own WebSocket API (conformance/targets/browser.py). Needs Debian's chromium
(`make browser-deps`; `make test` calls it)."""

from __future__ import annotations

import json
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


def test_an_unknown_browser_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--browser", "netscape"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
