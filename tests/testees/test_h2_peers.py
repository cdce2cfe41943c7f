"""Real servers of WebSocket over HTTP/2 (RFC 8441): hypercorn, and nghttpx in front of the reference
HTTP/1.1 server. The suite reaches them over h2c and judges conforming behaviour OK."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from conformance.cli import main
from testees.peers.spawn import spawn_server

SELECTION = ["1.1.*", "1.2.*", "2.1", "2.4", "40.2.1", "40.2.2", "40.2.4", "40.2.5", "40.2.8", "40.3.1", "40.3.2"]


def _run(url: str, out: Path) -> dict[str, dict[str, object]]:
    code = main(["run", "--quiet", "--http2", "--server", url, "--out", str(out), "--cases", *SELECTION])
    assert code == 0  # SHOULD-level close findings (FAILED BY CLIENT) do not fail a run
    index: dict[str, dict[str, object]] = json.loads((out / "index.json").read_text())["testee"]
    return index


@pytest.mark.skipif(importlib.util.find_spec("hypercorn") is None, reason="needs hypercorn")
def test_hypercorn_over_h2(tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.peers.hypercorn_server", "--port", "0"]) as (url, _):
        index = _run(url, tmp_path)
    assert {v["behavior"] for v in index.values()} == {"OK"}
    assert len(index) == 16 + 2 + 7


@pytest.mark.skipif(shutil.which("nghttpx") is None, reason="needs nghttpx (Debian's nghttp2-proxy)")
def test_nghttpx_in_front_of_the_reference(tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.peers.nghttpx_proxy", "--port", "0"]) as (url, _):
        index = _run(url, tmp_path)
    assert {v["behavior"] for v in index.values()} == {"OK"}


def _apache() -> str | None:
    return shutil.which("apache2") or shutil.which("apache2", path="/usr/sbin")


@pytest.mark.skipif(_apache() is None, reason="needs apache2 (Debian's apache2: make h2-deps)")
def test_apache_mod_http2_in_front_of_the_reference(tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.peers.apache_h2", "--port", "0"]) as (url, _):
        index = _run(url, tmp_path)
    assert {v["behavior"] for v in index.values()} == {"OK"}
    assert len(index) == 16 + 2 + 7
