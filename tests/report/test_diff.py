"""`conformance diff --format html`: the triage page has only the flipped cases, both wire logs
side by side, the verdict, rule and section then and now, and the first differing frame marked;
opened in headless Chromium under its own CSP. A screenshot goes to reports/screenshots/."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.report.diff import diff_runs, render
from testees.peers.spawn import spawn_server
from tests.cli.helpers import run_main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
CASES = ["1.1.1", "6.3.1", "6.4.1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The reference run (old) and a run of a server that echoes invalid UTF-8 (new), same agent."""
    d = tmp_path_factory.mktemp("runs")
    assert run_main("run", "-q", "--agent", "srv", "--out", str(d / "old"), "--cases", *CASES).code == 0
    with spawn_server(["-m", "testees.mutants.serve", "no-utf8-check"]) as (url, _):
        assert run_main("run", "-q", "--server", url, "--agent", "srv", "--out", str(d / "new"),
                        "--cases", *CASES).code == 1
    return d / "old", d / "new"


def _rows(page: str, case: str) -> list[str]:
    section = page.split(f'id="case-srv-{case.replace(".", "_")}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<tr[^>]*>.*?</tr>", section.split('class="wire aligned"', 1)[1], re.S)


def test_only_flipped_cases_with_the_first_different_answer_marked(runs: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = runs
    out = tmp_path / "diff.html"
    r = run_main("diff", str(old), str(new), "--format", "html", "--out", str(out))
    assert r.code == 1 and r.out == ""  # a regression: exit 1, as the text diff
    page = out.read_text()
    assert 'id="case-srv-6_3_1"' in page and 'id="case-srv-6_4_1"' in page and "case-srv-1_1_1" not in page
    rows = _rows(page, "6.3.1")
    first = [row for row in rows if 'class="first"' in row]
    assert len(first) == 1 and "first difference" in first[0]
    old_cell, new_cell = re.findall(r'<td class="rx">(.*?)</td>', first[0], re.S)
    assert html.unescape(old_cell).startswith("rx  CLOSE 1007") and html.unescape(new_cell).startswith("rx  TEXT")
    before = rows[1 : rows.index(first[0])]  # after the header row
    assert before and not any('class="differs"' in row for row in before)
    assert "utf8.text-invalid" in page and "RFC 6455 §8.1" in page  # the rule and section now
    text = re.sub(r"<[^>]+>", " ", page.split("<main>", 1)[1])
    assert not re.search(r"\b(None|True|False)\b|b'", text)  # words, never Python reprs
    assert "Content-Security-Policy" in page and "<script" not in page


def test_no_flip_is_a_page_saying_so(runs: tuple[Path, Path]) -> None:
    page = render(diff_runs(runs[0], runs[0]), "html")
    assert "No case flipped" in page and "0 flipped cases" in page


@pytest.mark.browser
def test_chromium_shows_the_marked_frame(runs: tuple[Path, Path], tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run `make browser-deps` (make test does)")
    page = tmp_path / "diff.html"
    page.write_text(render(diff_runs(*runs), "html"), encoding="utf-8")
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'p'}", "--dump-dom", f"file://{page}"],
                         capture_output=True, text=True, timeout=90, check=False).stdout
    marked = re.findall(r'<tr class="first" id="first-srv-(\S+?)">(.*?)</tr>', dom, re.S)
    assert {case for case, _ in marked} == {"6_3_1", "6_4_1"}, dom[:2000]
    assert all("first difference" in row for _, row in marked)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        shot = SHOTS / f"diff-{width}.png"
        subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'p'}", f"--window-size={width},1000",
                        f"--screenshot={shot}", f"file://{page}"], capture_output=True, timeout=90, check=False)
        assert shot.stat().st_size > 10_000
