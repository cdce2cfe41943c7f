"""make bench-autobahn: without a Python 2.7 with autobahntestsuite it is skipped cleanly; the
.py27 that `make autobahn-deps` makes is found; with one, both tools run the same cases."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conformance.bench import autobahn


def test_skipped_with_one_line_when_wstest_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("WSTEST", raising=False)
    monkeypatch.chdir(tmp_path)
    assert autobahn.find_wstest() is None
    assert autobahn.main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("bench-autobahn: skipped:")


def test_an_explicit_command_is_used_as_given() -> None:
    assert autobahn.find_wstest("python2.7 -m autobahntestsuite.wstest") == [
        "python2.7", "-m", "autobahntestsuite.wstest"]


def test_the_local_python27_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".py27").mkdir()
    wstest = tmp_path / ".py27" / "wstest"
    wstest.write_text("#!/bin/sh\n")
    assert autobahn.find_wstest() is None  # not executable: not a command
    wstest.chmod(0o755)
    assert autobahn.find_wstest() == [str(wstest)]


WSTEST = os.environ.get("WSTEST") or (str(Path(".py27/wstest").resolve()) if Path(".py27/wstest").exists() else None)


@pytest.mark.skipif(WSTEST is None or shutil.which(WSTEST.split()[0]) is None,
                    reason="no Autobahn|Testsuite here (make autobahn-deps, or WSTEST=CMD)")
def test_both_tools_run_the_same_cases(capsys: pytest.CaptureFixture[str]) -> None:
    assert autobahn.main(["--wstest", str(WSTEST), "--groups", "1", "--no-totals"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("1 "))
    fields = row.split()
    assert fields[1] == fields[2] == "16"  # Autobahn's group 1 has 16 cases, and so does ours
    assert float(fields[6]) > 0  # the server's CPU during the suite's run was measured
