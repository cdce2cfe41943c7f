"""`conformance report DIR --merge RUN...`: runs made in parallel become one report, agents side by side."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.cli import main


def test_two_runs_merge_into_one_report(tmp_path: Path) -> None:
    for agent in ("alpha", "beta"):
        assert main(["run", "--quiet", "--agent", agent, "--cases", "1.1.1", "2.2",
                     "--out", str(tmp_path / agent)]) == 0
    out = tmp_path / "all"
    assert main(["report", str(out), "--merge", str(tmp_path / "alpha"), str(tmp_path / "beta")]) == 0
    index = json.loads((out / "index.json").read_text())
    assert sorted(index) == ["alpha", "beta"] and all(sorted(v) == ["1.1.1", "2.2"] for v in index.values())
    for cases in index.values():
        assert all((out / e["reportfile"]).is_file() for e in cases.values())
    html = (out / "index.html").read_text()
    assert "alpha" in html and "beta" in html


def test_merging_something_that_is_not_a_report_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["report", str(tmp_path / "all"), "--merge", str(tmp_path)]) == 2
