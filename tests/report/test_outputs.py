"""JUnit, baselines and run diffs, from real runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped

from conformance.cli import main
from conformance.errors import CaseFileError
from conformance.report.baseline import load_baseline
from conformance.report.model import ReportDir


def test_junit_is_valid_and_names_rules(report_dir: Path, tmp_path: Path) -> None:
    from conformance.report.junit import write_junit

    out = tmp_path / "junit.xml"
    write_junit(ReportDir(report_dir).results(), out)
    xml = JUnitXml.fromfile(str(out))
    cases = [c for suite in xml for c in suite]
    assert len(cases) == 16
    failures = [c for c in cases if any(isinstance(r, Failure) for r in c.result)]
    assert failures and all("agent" in c.classname for c in failures)
    msg = next(r for r in failures[0].result if isinstance(r, Failure)).message
    assert "RFC" in msg or "§" in msg
    assert not any(isinstance(r, Skipped) for c in cases for r in c.result if "reference" in c.classname)


def test_baseline_round_trip_and_both_directions(report_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", str(report_dir)]) == 0
    text = capsys.readouterr().out
    base = tmp_path / "baseline.yaml"
    base.write_text(text)
    parsed = load_baseline(base)
    assert any(v["behavior"] != "OK" or v["behaviorClose"] != "OK" for a in parsed.values() for v in a.values())
    run = ["run", "--quiet", "--out", str(tmp_path / "again"), "--agent", "reference", "--cases", "1.1.1", "2.5"]
    assert main([*run, "--baseline", str(base)]) == 0  # the reference matches its (empty) baseline
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("reference:\n  '2.5': {behavior: FAILED, behaviorClose: OK, reason: pretend}\n")
    assert main([*run, "--baseline", str(wrong)]) == 1  # an unexpected pass is a difference too
    assert "unexpected pass" in capsys.readouterr().out


def test_bad_baseline_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "b.yaml"
    bad.write_text("reference:\n  '2.5': {behavior: MAYBE}\n")
    with pytest.raises(CaseFileError) as exc:
        load_baseline(bad)
    assert exc.value.line == 2 and "MAYBE" in str(exc.value)
    assert main(["run", "--quiet", "--out", str(tmp_path / "o"), "--baseline", str(bad), "--cases", "2.5"]) == 2
    assert "b.yaml:2" in capsys.readouterr().err


def test_diff_reports_regressions_and_exits_1(report_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old"
    shutil.copytree(report_dir, old)
    # A second, real run of the reference where one case is run against the hostile agent's name
    # would be contrived; instead compare the good agent's run with the hostile one's verdicts.
    import json

    index = json.loads((report_dir / "index.json").read_text())
    hostile = next(a for a in index if a != "reference")
    merged = {"reference": index[hostile]}
    (tmp_path / "new.json").write_text(json.dumps(merged))
    (tmp_path / "old.json").write_text(json.dumps({"reference": index["reference"]}))
    assert main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json")]) == 1
    out = capsys.readouterr().out
    assert "Regressions:" in out and "1.1.2" in out
    assert main(["diff", str(tmp_path / "new.json"), str(tmp_path / "old.json"), "--format", "markdown"]) == 0
    assert "| agent | case |" in capsys.readouterr().out
    assert main(["diff", str(tmp_path / "nope"), str(tmp_path / "old.json")]) == 2


def test_a_close_code_that_went_away_is_said_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    entry = {"behavior": "OK", "behaviorClose": "OK", "duration": 1, "reportfile": "a_case_7_1_1.json"}
    (tmp_path / "old.json").write_text(json.dumps({"a": {"7.1.1": {**entry, "remoteCloseCode": 1000}}}))
    (tmp_path / "new.json").write_text(json.dumps({"a": {"7.1.1": {**entry, "remoteCloseCode": None}}}))
    for fmt in ("text", "markdown"):
        main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--format", fmt])
        out = capsys.readouterr().out
        assert "7.1.1: 1000 -> no close code" in out and "None" not in out


def test_after_a_resume_the_closing_line_counts_what_the_table_shows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    out = str(tmp_path / "run")
    # a budget that runs out: however many cases it finished, the rest are stored as not run
    assert main(["run", "--quiet", "--out", out, "--agent", "reference", "--cases", "1.1.*", "--budget", "0.001"]) in (0, 1)
    capsys.readouterr()
    index = json.loads((Path(out) / "index.json").read_text())["reference"]
    left = sum(1 for e in index.values() if e["behavior"] == "NOT RUN")
    assert main(["run", "--resume", out, "--agent", "reference"]) == 0
    text = capsys.readouterr().out
    assert f"({left} run now)" in text, text
    table = 0
    for line in re.findall(r"^\d+\s.*\d$", text, re.M):  # group, title, cases, then counts
        tokens = line.split()
        ints = len(tokens) - next(i for i, t in enumerate(reversed(tokens)) if not t.isdigit())
        table += int(tokens[ints])
    closing = re.search(r"^(\d+) cases\b.*failed", text, re.M)
    assert closing is not None, text
    assert int(closing.group(1)) == table == 8, text  # those finished before and those run now
