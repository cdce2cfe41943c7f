"""bench/waits.py: the waits of a real run, summed per group from its report directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.bench import waits
from conformance.cli import main as cli


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    # 5.19 pauses 0.2 s by design; 6.4.3 has a checkpoint inside a frame (no ping can end it)
    code = cli(["run", "--quiet", "--out", str(out), "--settle", "0.3", "--cases", "1.1.1", "5.19", "6.4.3"])
    assert code == 0
    return out


def test_every_case_of_a_run_has_its_waits(report: Path) -> None:
    cases = {c.id: c for c in waits.load_waits(report)}
    assert set(cases) == {"1.1.1", "5.19", "6.4.3"}
    assert all("connect" in c.waited and "handshake" in c.waited for c in cases.values())
    assert cases["1.1.1"].on_timer == {}
    assert cases["5.19"].on_timer == {"pause": 0.2}
    assert cases["6.4.3"].on_timer["step:checkpoint"] >= 0.3
    assert all(sum(c.waited.values()) <= c.seconds + 0.01 for c in cases.values())  # waits are part of it


def test_the_summary_names_groups_and_the_timer_waits(report: Path) -> None:
    groups = {g.group: g for g in waits.by_group(waits.load_waits(report))}
    assert set(groups) == {"1", "5", "6"} and groups["6"].on_timer >= 0.3
    text = waits.summary(waits.load_waits(report))
    assert "reference 6.4.3: step:checkpoint" in text and "reference 5.19: pause 0.20" in text
    assert "1.1.1" not in text.split("ended on their timer")[1]


def test_a_directory_without_a_report_is_one_line_and_exit_2(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert waits.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no readable index.json" in err
    assert "no wait ended" in waits.summary_of_dirs([tmp_path])  # bench-suite leaves such a group out
