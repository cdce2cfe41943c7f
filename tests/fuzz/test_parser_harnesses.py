"""Short real runs of the HTTP-parser and case-loader atheris harnesses, and proof they can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("harness", ["http_harness", "loader_harness"])
def test_short_run(harness: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", f"conformance.fuzz.{harness}", "-runs=3000", "-seed=7"],
                          capture_output=True, text=True, timeout=240, cwd=str(tmp_path), check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 3000 runs" in proc.stderr


def test_loader_harness_catches_an_escaping_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.fuzz import loader_harness

    def broken(path: object) -> None:
        raise KeyError("a bug")  # a mutant loader that leaks a raw exception

    monkeypatch.setattr(loader_harness, "load_file", broken)
    with pytest.raises(KeyError):
        loader_harness.check(b"group: '1'")


def test_http_harness_accepts_hostile_heads() -> None:
    from conformance.fuzz import http_harness

    for data in (b"HTTP/1.1 101 OK\r\n" + b"X: y\r\n" * 300 + b"\r\n", b"\x00" * 70000, b"GET / HTTP/1.1\r\n\r\n"):
        http_harness.check(data)
