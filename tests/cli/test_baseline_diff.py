"""Baselines and diffs say when they compare nothing (issue 15 item 4): runs under different agent
names, baseline entries for an agent the run lacks, unknown keys; INFORMATIONAL is no failure."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import one_line_error, run_main


def report_dir(path: Path, agent: str, verdicts: dict[str, tuple[str, str]]) -> Path:
    path.mkdir(parents=True)
    index = {agent: {cid: {"behavior": b, "behaviorClose": c, "duration": 1, "remoteCloseCode": 1000,
                           "reportfile": f"{agent}_case_{cid.replace('.', '_')}.json"}
                     for cid, (b, c) in verdicts.items()}}
    (path / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return path


class TestDiff:
    def test_runs_of_different_agents_are_compared_and_the_diff_says_so(self, tmp_path: Path) -> None:
        old = report_dir(tmp_path / "old", "server-a", {"1.1.1": ("OK", "OK")})
        new = report_dir(tmp_path / "new", "server-b", {"1.1.1": ("FAILED", "OK")})
        r = run_main("diff", str(old), str(new))
        assert r.code == 1 and "Regressions: 1" in r.out
        assert "comparing agent 'server-a' (old) with agent 'server-b' (new)" in r.out

    def test_several_agents_with_none_in_common_is_a_bad_input(self, tmp_path: Path) -> None:
        old = report_dir(tmp_path / "old", "a", {"1.1.1": ("OK", "OK")})
        idx = json.loads((old / "index.json").read_text())
        idx["b"] = idx["a"]
        (old / "index.json").write_text(json.dumps(idx))
        new = report_dir(tmp_path / "new", "c", {"1.1.1": ("OK", "OK")})
        r = run_main("diff", str(old), str(new))
        assert r.code == 2 and "no agent in common" in one_line_error(r)

    def test_informational_is_neither_a_regression_nor_a_fix(self, tmp_path: Path) -> None:
        old = report_dir(tmp_path / "old", "a", {"7.1.6": ("OK", "OK")})
        new = report_dir(tmp_path / "new", "a", {"7.1.6": ("INFORMATIONAL", "INFORMATIONAL")})
        r = run_main("diff", str(old), str(new))
        assert r.code == 0 and "Regressions: 0" in r.out and "Fixes: 0" in r.out


class TestBaseline:
    def test_an_unknown_key_in_a_baseline_entry_is_named(self, tmp_path: Path) -> None:
        base = tmp_path / "b.yaml"
        base.write_text("testee:\n  4.1.1:\n    behavior: FAILED\n    behaviourClose: OK\n", encoding="utf-8")
        r = run_main("run", "--cases", "1.1.1", "--out", str(tmp_path / "r"), "--baseline", str(base))
        line = one_line_error(r)
        assert r.code == 2 and "b.yaml:4" in line and "behaviourClose" in line

    def test_a_baseline_for_another_agent_is_warned_about(self, tmp_path: Path) -> None:
        base = tmp_path / "b.yaml"
        base.write_text("myserver:\n  1.1.1: {behavior: FAILED, behaviorClose: OK}\n", encoding="utf-8")
        r = run_main("run", "--cases", "1.1.1", "--out", str(tmp_path / "r"), "--baseline", str(base))
        assert r.code == 0
        assert "the baseline lists agent 'myserver', which this run does not have" in r.err

    def test_informational_is_not_a_new_failure(self, tmp_path: Path) -> None:
        base = tmp_path / "b.yaml"
        base.write_text("", encoding="utf-8")
        r = run_main("run", "--cases", "7.1.6", "--out", str(tmp_path / "r"), "--baseline", str(base))
        assert "INFORMATIONAL/INFORMATIONAL" in r.err and "new failure" not in r.out
        assert r.code == 0, r.out
