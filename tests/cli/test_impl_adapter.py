"""An adapter that never answers or raises says so on the terminal (issue 15 item 13)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import run_cli


def test_an_adapter_that_never_answers_is_told_about_the_handshake(tmp_path: Path) -> None:
    r = run_cli("run", "-q", "--impl", "tests.cli.adapters:Silent", "--cases", "1.1.1", "--timeout", "2",
                "--out", str(tmp_path / "r"))
    assert r.code == 3
    line = [ln for ln in r.err.splitlines() if "--impl" in ln]
    assert len(line) == 1 and "never answered" in line[0] and "opening handshake" in line[0], r.err


def test_an_adapter_that_raises_shows_its_exception_in_one_line(tmp_path: Path) -> None:
    r = run_cli("run", "-q", "--impl", "tests.cli.adapters:Raising", "--cases", "1.1.1", "--out", str(tmp_path / "r"))
    assert r.code == 3
    line = [ln for ln in r.err.splitlines() if "--impl" in ln]
    assert len(line) == 1 and "ValueError: the adapter broke on purpose" in line[0], r.err
    assert "adapters.py:" in line[0] and "Traceback" not in r.err


def test_the_case_report_names_what_the_adapter_raised_on_its_connection(tmp_path: Path) -> None:
    """Opened, then raised: the case's own verdict says so (its JSON and the terminal summary), not
    only the run's last line; a case on which the adapter raised nothing keeps its plain verdict."""
    out = tmp_path / "r"
    r = run_cli("run", "--impl", "tests.cli.adapters:RaisingOnMessages", "--cases", "1.1.1", "--cases", "2.1",
                "--out", str(out))
    assert r.code == 1, r.err
    report = json.loads(next(out.glob("*_case_1_1_1.json")).read_text())
    assert report["behavior"] == "FAILED"
    assert report["result"].startswith("The adapter raised KeyError: 'no handler for this message' (at "), report
    assert "adapters.py:" in report["result"]
    summary = [ln for ln in r.out.splitlines() if ln.startswith("FAILED 1.1.1")]  # the failure summary
    assert len(summary) == 1 and "The adapter raised KeyError" in summary[0], r.out
    ping = json.loads(next(out.glob("*_case_2_1.json")).read_text())  # a ping, no message: nothing raised
    assert ping["behavior"] == "OK" and "adapter" not in ping["result"], ping
