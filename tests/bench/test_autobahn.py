"""make bench-autobahn: without a Python 2.7 with autobahntestsuite it is skipped cleanly."""

from __future__ import annotations

import pytest

from conformance.bench import autobahn


def test_skipped_with_one_line_when_wstest_is_missing(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("WSTEST", raising=False)
    assert autobahn.find_wstest() is None
    assert autobahn.main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("bench-autobahn: skipped:")


def test_an_explicit_command_is_used_as_given() -> None:
    assert autobahn.find_wstest("python2.7 -m autobahntestsuite.wstest") == [
        "python2.7", "-m", "autobahntestsuite.wstest"]
