"""The report directory as CI meets it (issue 15 items 1, 2 and 5): --resume continues the run that
made DIR, output places and index.json are checked with one line and exit 2, a reused --out holds only
the new run of that agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import one_line_error, reference, run_main


def index(out: Path) -> dict[str, dict[str, object]]:
    return dict(json.loads((out / "index.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def echo_url() -> object:
    with reference() as url:
        yield url


class TestResume:
    def test_resume_continues_the_recorded_run_against_the_same_server(self, tmp_path: Path, echo_url: str) -> None:
        out = tmp_path / "r"
        first = run_main("run", "--server", echo_url, "--agent", "mine", "--cases", "1.1.*", "--out", str(out))
        assert first.code == 0, first.err
        # Lose three results, as an interrupted run does.
        idx = index(out)
        for cid in ("1.1.6", "1.1.7", "1.1.8"):
            del idx["mine"][cid]
        (out / "index.json").write_text(json.dumps(idx), encoding="utf-8")
        again = run_main("run", "--resume", str(out))
        assert again.code == 0, again.err
        assert f"--server {echo_url}" in again.err and "5 of 8 cases done, 3 to run" in again.err
        assert set(index(out)) == {"mine"} and len(index(out)["mine"]) == 8

    def test_resume_of_a_missing_directory_is_a_usage_error(self, tmp_path: Path) -> None:
        r = run_main("run", "--resume", str(tmp_path / "nope"))
        assert r.code == 2 and "no such directory" in one_line_error(r)

    def test_resume_against_another_target_is_refused(self, tmp_path: Path, echo_url: str) -> None:
        out = tmp_path / "r"
        assert run_main("run", "--server", echo_url, "--cases", "1.1.1", "--out", str(out)).code == 0
        r = run_main("run", "--resume", str(out), "--impl", "wsproto")
        assert r.code == 2 and "that run was against --server" in one_line_error(r)

    def test_resume_of_a_directory_without_a_recorded_run(self, tmp_path: Path) -> None:
        (tmp_path / "r").mkdir()
        (tmp_path / "r" / "index.json").write_text("{}", encoding="utf-8")
        r = run_main("run", "--resume", str(tmp_path / "r"))
        assert r.code == 2 and "--agent" in one_line_error(r)


class TestOutputPlaces:
    def test_out_naming_a_file(self, tmp_path: Path) -> None:
        (tmp_path / "f").write_text("x", encoding="utf-8")
        r = run_main("run", "--cases", "1.1.1", "--out", str(tmp_path / "f"))
        assert r.code == 2 and "is a file, not a directory" in one_line_error(r)

    def test_out_where_nothing_can_be_written(self, tmp_path: Path) -> None:
        (tmp_path / "f").write_text("x", encoding="utf-8")
        r = run_main("run", "--cases", "1.1.1", "--out", str(tmp_path / "f" / "sub"))
        assert r.code == 2 and "cannot write there" in one_line_error(r)

    def test_junit_into_a_missing_directory_fails_before_the_run(self, tmp_path: Path) -> None:
        r = run_main("run", "--cases", "1.1.1", "--out", str(tmp_path / "r"), "--junit", str(tmp_path / "no" / "j.xml"))
        assert r.code == 2 and "does not exist" in one_line_error(r)
        assert not (tmp_path / "r" / "index.json").exists()  # nothing ran

    @pytest.mark.parametrize("text", ['{"a": {', "[1, 2]", '{"agent": 3}', "\xff"])
    def test_a_bad_index_is_a_bad_file_for_every_command(self, tmp_path: Path, text: str) -> None:
        d = tmp_path / "r"
        d.mkdir()
        (d / "index.json").write_bytes(text.encode("latin-1"))
        for argv in (["report", str(d)], ["baseline", str(d)], ["run", "--cases", "1.1.1", "--out", str(d)],
                     ["diff", str(d), str(d)]):
            r = run_main(*argv)
            line = one_line_error(r)
            assert r.code == 2 and "index.json" in line, (argv, r.err)


class TestReusedOut:
    def test_a_fresh_run_replaces_the_agents_old_results_and_keeps_other_agents(self, tmp_path: Path,
                                                                                  echo_url: str) -> None:
        out = tmp_path / "r"
        assert run_main("run", "--server", echo_url, "--cases", "1.1.*", "--out", str(out)).code == 0
        assert run_main("run", "--server", echo_url, "--agent", "other", "--cases", "2.1", "--out", str(out)).code == 0
        r = run_main("run", "--server", echo_url, "--cases", "1.1.1", "--out", str(out))
        assert r.code == 0 and "replacing 8 earlier results of agent 'testee'" in r.err
        got = index(out)
        assert set(got["testee"]) == {"1.1.1"} and set(got["other"]) == {"2.1"}
        assert not (out / "testee_case_1_1_2.json").exists()
        baseline = run_main("baseline", str(out))
        assert "1.1.2" not in baseline.out
