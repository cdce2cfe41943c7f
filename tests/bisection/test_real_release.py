"""Slow, end to end, over the real package index: `conformance bisect` finds the websockets release
that changed a verdict, within log2(N) + 2 runs.

A linear scan of all 17 releases from 13.0 to 17.4 (each release's venv running
testees/peers/websockets_server.py, `conformance run --server-cmd`) found two changes:
- 6.3.1 (invalid UTF-8 in a text message): 13.0 to 13.1 close with 1000 instead of failing the
  connection with 1007 (WRONG CODE at SHOULD level, RFC 6455 §7.1.7); from 14.0 on, 1007 (OK).
- 0.1.1 (an opening handshake with another method than GET): up to 16.1.1 the server drops the
  connection without an HTTP response (FAILED); from 17.0 on it answers as RFC 6455 §4.2.1 asks (OK).
The searches below must find the same boundaries, each within log2(N) + 2 runs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from tests.cli.helpers import run_main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for both searches: the second reuses the venvs the first made."""
    return tmp_path_factory.mktemp("bisect-cache")


@pytest.mark.parametrize(("case", "good", "last_good", "first_bad", "was", "now"), [
    ("6.3.1", "13.0", "13.1", "14.0", "OK/WRONG CODE", "OK/OK"),
    ("0.1.1", "13.0", "16.1.1", "17.0", "FAILED/OK", "OK/OK"),
])
def test_bisect_finds_the_websockets_release_that_changed_a_verdict(
        case: str, good: str, last_good: str, first_bad: str, was: str, now: str, cache: Path, tmp_path: Path) -> None:
    r = run_main("bisect", "--pip", "websockets", "--good", good, "--bad", "17.4", "--case", case,
                 "--server-cmd", "{python} -m testees.peers.websockets_server --port {port}",
                 "--cache", str(cache), "--out", str(tmp_path / "out"))
    assert r.code == 0, (r.out, r.err)
    n = int(re.search(r"bisect websockets: (\d+) candidates", r.out).group(1))  # type: ignore[union-attr]
    assert n >= 17  # 13.0 ... 17.4 without pre-releases, as the index lists them today
    assert re.search(rf"run 1: {re.escape(good)} +good \(reference\): {case} {was}", r.out), r.out
    assert f"first differing version: {first_bad} (the one before it, {last_good}, matches --good)" in r.out
    assert re.search(rf"run \d+: {re.escape(last_good)} +same as --good: {case} {was}", r.out), r.out
    assert re.search(rf"run \d+: {re.escape(first_bad)} +differs: {case} {now} \(was {was}\)", r.out), r.out
    runs = int(re.search(r"(\d+) runs for", r.out).group(1))  # type: ignore[union-attr]
    assert runs <= math.log2(n) + 2
    tried = set(re.findall(r"run \d+: (\S+)", r.out))
    assert {f"websockets-{v}" for v in tried} <= {p.name for p in (cache / "pip").iterdir()}
