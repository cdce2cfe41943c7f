"""The report in a real headless Chromium: it renders, counts are right, nothing injected runs.

Needs Debian's chromium (`make browser-deps` installs it; `make test` calls that). Screenshots of
the index and of a failing case page are saved under reports/screenshots/ for people to look at.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run `make browser-deps` (make test does)")
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=90, check=False)


def test_index_renders_with_the_right_counts(report_dir: Path, tmp_path: Path) -> None:
    proc = chromium(tmp_path, "--dump-dom", f"file://{report_dir / 'index.html'}")
    dom = proc.stdout
    assert "<title>WebSocket conformance report</title>" in dom
    index = json.loads((report_dir / "index.json").read_text())
    for agent, cases in index.items():
        ok = sum(1 for v in cases.values() if v["behavior"] == "OK")
        row = re.search(r"<tr><th>" + re.escape(agent.replace("<", "&lt;").replace(">", "&gt;").replace("'", "'"))
                        + r"</th><td>(\d+)</td>", dom)
        assert row is not None and int(row.group(1)) == ok, agent
    assert "<title>PWNED" not in dom  # an injected script would have renamed the page
    assert '<div id="pwned"' not in dom  # an injected element would appear as a real tag
    errors = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln and "index.html" in ln]
    assert not errors, errors
    SHOTS.mkdir(parents=True, exist_ok=True)
    chromium(tmp_path, "--window-size=1400,1000", f"--screenshot={SHOTS / 'index.png'}",
             f"file://{report_dir / 'index.html'}")
    assert (SHOTS / "index.png").stat().st_size > 10_000


def test_failing_case_page_opens_and_hostile_strings_stay_text(report_dir: Path, tmp_path: Path) -> None:
    page = next(report_dir.glob("*agent_case_1_1_2.html"))
    proc = chromium(tmp_path, "--dump-dom", f"file://{page}")
    dom = proc.stdout
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None and title.group(1).strip() != "PWNED"
    assert not title.group(1).startswith("PWNED")
    assert '<div id="pwned"' not in dom and "<img" not in dom
    assert "FAILED" in dom and "Wire log" in dom
    errors = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln]
    assert not errors, errors
    SHOTS.mkdir(parents=True, exist_ok=True)
    chromium(tmp_path, "--window-size=1400,1400", f"--screenshot={SHOTS / 'failing-case.png'}", f"file://{page}")
    assert (SHOTS / "failing-case.png").stat().st_size > 10_000
