"""Slow, end to end, over the real registries: `conformance bisect` finds the websockets release
(package index) and the ws release (npm) that changed a verdict, within log2(N) + 2 runs.

A linear scan of all 17 releases from 13.0 to 17.4 (each release's venv running
testees/peers/websockets_server.py, `conformance run --server-cmd`) found two changes:
- 6.3.1 (invalid UTF-8 in a text message): 13.0 to 13.1 close with 1000 instead of failing the
  connection with 1007 (WRONG CODE at SHOULD level, RFC 6455 §7.1.7); from 14.0 on, 1007 (OK).
- 0.1.1 (an opening handshake with another method than GET): up to 16.1.1 the server drops the
  connection without an HTTP response (FAILED); from 17.0 on it answers 405 (OK).
The searches below must find the same boundaries, each within log2(N) + 2 runs.

Node's ws up to 8.18.2 refuses an unsupported Sec-WebSocket-Version (14, and 0: cases 0.3.2, 0.3.3)
with 400 but without the Sec-WebSocket-Version: 13 header RFC 6455 §4.4 requires (FAILED); 8.18.3
adds it (OK); a linear scan of the 37 releases from 8.4.0 to 8.23.0 gave that boundary. Its echo
server is testees/peers/node/server.js, copied out of the checkout so that no node_modules above it
hides the candidate on NODE_PATH.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import ROOT, run_main

# Dozens of venvs and npm installs from the registries: minutes, and the registries' own speed, so
# `make test-bisect` runs these (BISECT_RELEASES=1) and `make test` keeps its 10-minute budget.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.environ.get("BISECT_RELEASES") != "1",
    reason="installs many releases from the package index and npm: `make test-bisect` runs it")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the searches: the second over websockets reuses the venvs the first made."""
    return tmp_path_factory.mktemp("bisect-cache")


def _check(out: str, what: str, case: str, good: str, last_good: str, first_bad: str, was: str, now: str,
           cache: Path) -> None:
    n = int(re.search(rf"bisect {what}: (\d+) candidates", out).group(1))  # type: ignore[union-attr]
    assert re.search(rf"run 1: {re.escape(good)} +good \(reference\): {case} {was}", out), out
    assert f"first differing version: {first_bad} (the one before it, {last_good}, matches --good)" in out
    assert re.search(rf"run \d+: {re.escape(last_good)} +same as --good: {case} {was}", out), out
    assert re.search(rf"run \d+: {re.escape(first_bad)} +differs: {case} {now} \(was {was}\)", out), out
    runs = int(re.search(r"(\d+) runs for", out).group(1))  # type: ignore[union-attr]
    assert runs <= math.log2(n) + 2
    tried = set(re.findall(r"run \d+: (\S+)", out))
    assert {f"{what}-{v}" for v in tried} <= {p.name for p in cache.glob("*/*")}



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
    assert int(re.search(r"bisect websockets: (\d+) candidates", r.out).group(1)) >= 17  # type: ignore[union-attr]
    _check(r.out, "websockets", case, good, last_good, first_bad, was, now, cache)


@pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None, reason="needs node and npm (make node)")
def test_bisect_finds_the_ws_release_that_added_the_version_header(cache: Path, tmp_path: Path) -> None:
    for name in ("server.js", "common.js"):
        shutil.copy(ROOT / "testees" / "peers" / "node" / name, tmp_path / name)
    r = run_main("bisect", "--npm", "ws", "--good", "8.4.0", "--bad", "8.23.0", "--case", "0.3.2",
                 "--server-cmd", f"node {tmp_path / 'server.js'} --port {{port}}",
                 "--cache", str(cache), "--out", str(tmp_path / "out"))
    assert r.code == 0, (r.out, r.err)
    _check(r.out, "ws", "0.3.2", "8.4.0", "8.18.2", "8.18.3", "FAILED/OK", "OK/OK", cache)
