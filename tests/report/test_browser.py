"""The report in a real headless Chromium: it renders, counts are right, nothing injected runs, the
"failures only" filter hides empty group and subgroup rows, and the pages fit a desktop (1280 px)
and a phone (390 px) without the page itself scrolling sideways.

Needs Debian's chromium (`make browser-deps` installs it; `make test` calls that). Screenshots of
the index and of a failing case page at both widths are saved under reports/screenshots/ for people
to look at.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.report.model import ReportDir
from testees.peers.spawn import spawn_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
WIDTHS = {"desktop": 1280, "narrow": 390}
# A wrapper page holds the report page in an iframe of the width under test (headless Chromium's own
# window is at least 500 px wide) and reports, through its title, what a reader would see there.
PROBE = """<!DOCTYPE html><html><head><title>probe</title></head><body style="margin:0">
<iframe id="f" src="PAGE" width="WIDTH" height="900" style="border:0"></iframe><script>
document.getElementById('f').addEventListener('load',function(){
var d=this.contentDocument;
function visible(){return [].filter.call(d.querySelectorAll('#cases tbody tr'),function(r){
  return r.offsetParent!==null;}).map(function(r){
  return r.dataset.case||(r.dataset.sub?'sub '+r.dataset.sub:'group '+r.dataset.group);});}
var out={width:d.documentElement.scrollWidth,viewport:d.documentElement.clientWidth};
var f=d.getElementById('failonly');
if(f){out.all=visible();f.checked=true;f.dispatchEvent(new Event('change'));out.failures=visible();}
document.title=JSON.stringify(out);});
</script></body></html>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run `make browser-deps` (make test does)")
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=90, check=False)


def probe(page: Path, tmp_path: Path, width: int) -> dict[str, Any]:
    """Open `page`, unchanged and under its own CSP, in an iframe `width` px wide; return what the
    probe saw there."""
    wrapper = page.with_name(f"probe-{page.stem}.html")
    wrapper.write_text(PROBE.replace("PAGE", page.name).replace("WIDTH", str(width)), encoding="utf-8")
    proc = chromium(tmp_path, "--allow-file-access-from-files", "--window-size=1400,1000",
                    "--virtual-time-budget=5000", "--dump-dom", f"file://{wrapper}")
    wrapper.unlink()
    title = re.search(r"<title>(.*?)</title>", proc.stdout, re.S)
    assert title is not None and title.group(1) != "probe", proc.stdout[:500] + proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(html.unescape(title.group(1)))
    assert result["viewport"] <= width
    return result


def screenshot(tmp_path: Path, page: Path, name: str, width: int, height: int) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{name}-{width}.png"
    chromium(tmp_path, f"--window-size={width},{height}", f"--screenshot={shot}", f"file://{page}")
    assert shot.stat().st_size > 10_000
    return shot


def test_index_renders_with_the_right_counts(report_dir: Path, tmp_path: Path) -> None:
    proc = chromium(tmp_path, "--dump-dom", f"file://{report_dir / 'index.html'}")
    dom = proc.stdout
    assert "<title>WebSocket conformance report</title>" in dom
    results = list(ReportDir(report_dir).results())
    for agent in {r.agent for r in results}:
        fails = sum(r.is_failure() for r in results if r.agent == agent)
        row = re.search(r"<tr data-agent-row=\"\d+\"><th>" + re.escape(html.escape(agent, quote=False))
                        + r"</th>.*?data-outcome=\"fails\">(\d+)</td>", dom, re.S)
        assert row is not None and int(row.group(1)) == fails, agent
    assert "<title>PWNED" not in dom  # an injected script would have renamed the page
    assert '<div id="pwned"' not in dom  # an injected element would appear as a real tag
    errors = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln and "index.html" in ln]
    assert not errors, errors


def test_failing_case_page_opens_and_hostile_strings_stay_text(report_dir: Path, tmp_path: Path) -> None:
    page = next(report_dir.glob("*agent_case_1_1_2.html"))
    proc = chromium(tmp_path, "--dump-dom", f"file://{page}")
    dom = proc.stdout
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None and not title.group(1).strip().startswith("PWNED")
    assert '<div id="pwned"' not in dom and "<img" not in dom
    assert "FAILED" in dom and "Wire log" in dom
    errors = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln]
    assert not errors, errors


@pytest.fixture(scope="module")
def filter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.1.1 passes for both agents; 2.2 fails for one (its close only): under "failures only",
    group 1 and subgroup 1.1 have nothing left to show."""
    out = tmp_path_factory.mktemp("filter")
    assert main(["run", "--quiet", "--out", str(out), "--agent", "reference", "--cases", "1.1.1", "2.2"]) == 0
    with spawn_server(["-m", "testees.mutants.serve", "no-close-reply", "--port", "0"]) as (url, _):
        assert main(["run", "--quiet", "--out", str(out), "--server", url, "--agent", "noclose",
                     "--cases", "1.1.1", "2.2"]) == 1
    return out


def test_failures_only_hides_empty_groups_and_subgroups(filter_dir: Path, tmp_path: Path) -> None:
    index = json.loads((filter_dir / "index.json").read_text())
    assert index["noclose"]["1.1.1"]["behaviorClose"] == "UNCLEAN"  # the mutant fails every clean close
    # make 1.1.1 pass for both agents: copy the reference's result under the mutant's name
    ref = json.loads((filter_dir / "reference_case_1_1_1.json").read_text())
    ref["agent"] = "noclose"
    (filter_dir / "noclose_case_1_1_1.json").write_text(json.dumps(ref))
    index["noclose"]["1.1.1"] = {**index["reference"]["1.1.1"], "reportfile": "noclose_case_1_1_1.json"}
    (filter_dir / "index.json").write_text(json.dumps(index))
    assert main(["report", str(filter_dir)]) == 0
    seen = probe(filter_dir / "index.html", tmp_path, 1280)
    assert seen["all"] == ["group 1", "sub 1.1", "1.1.1", "group 2", "2.2"]
    assert seen["failures"] == ["group 2", "2.2"]


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_pages_fit_the_window_and_are_screenshotted(mixed_dir: Path, tmp_path: Path, width: int) -> None:
    index, case = mixed_dir / "index.html", mixed_dir / "noclose_case_1_1_1.html"
    for page in (index, case, mixed_dir / "reference_case_9_1_1.html"):
        seen = probe(page, tmp_path, width)
        assert seen["width"] <= width, (page.name, seen)  # wide tables scroll in their own box
    screenshot(tmp_path, index, "index", width, 1600)
    screenshot(tmp_path, case, "failing-case", width, 2000)
