"""An adapter that never answers or raises says so on the terminal (issue 15 item 13)."""

from __future__ import annotations

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
