"""Watched servers over HTTP/3 and HTTP/2 (`run --server-cmd CMD --http3/--http2`): a server that
dies of what the suite sends at the end of a case is restarted, and the death is that case's."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.targets.h3 import H3Target
from conformance.targets.h3_watch import H2WatchedServer, H3WatchedServer, survived
from tests.targets.h3_dying_server import DIED

pytestmark = pytest.mark.slow  # servers in subprocesses, real QUIC

DYING = f"{sys.executable} -m tests.targets.h3_dying_server --port {{port}}"
H3_ECHO = f"{sys.executable} -m conformance echo-server --http3 --port {{port}}"
H2_ECHO = f"{sys.executable} -m conformance echo-server --http2 --port {{port}}"


def _results(out: Path) -> dict[str, dict[str, str]]:
    index = json.loads((out / "index.json").read_text())["testee"]
    return {case: {**v, "result": json.loads((out / v["reportfile"]).read_text())["result"]}
            for case, v in index.items()}


def test_a_death_after_a_binary_case_is_that_cases_and_the_server_comes_back(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """1.2.1 sends a binary message: the server dies of the FIN at its end. 1.1.1 before it and 2.1
    after it are text and ping only: they pass, on the first server and on the restarted one."""
    code = main(["run", "--quiet", "--http3", "--insecure", "--server-cmd", DYING, "--jobs", "1",
                 "--out", str(tmp_path), "--cases", "1.1.1", "1.2.1", "2.1"])
    results = _results(tmp_path)
    assert code == 0  # a crash after a conforming exchange breaks no RFC sentence: reported, not failed
    assert f"exited with status {DIED}" in results["1.2.1"]["result"]
    assert results["1.2.1"]["behavior"] == "INFORMATIONAL"
    assert (results["1.1.1"]["behavior"], results["2.1"]["behavior"]) == ("OK", "OK")
    assert "restarted 1 time(s)" in capsys.readouterr().err


def test_a_server_that_lives_is_never_restarted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--quiet", "--http3", "--insecure", "--server-cmd", H3_ECHO, "--jobs", "2",
                 "--out", str(tmp_path), "--cases", "1.2.*", "7.1.*", "41.3.*"])
    assert code == 0
    assert {v["behavior"] for v in _results(tmp_path).values()} <= {"OK", "INFORMATIONAL"}
    assert "restarted" not in capsys.readouterr().err


def test_over_http2_the_watched_server_is_reached_by_prior_knowledge(tmp_path: Path) -> None:
    code = main(["run", "--quiet", "--http2", "--server-cmd", H2_ECHO, "--out", str(tmp_path),
                 "--cases", "1.1.1", "40.1.1"])
    assert code == 0
    assert {v["behavior"] for v in _results(tmp_path).values()} == {"OK"}


def test_an_h3_server_is_up_once_its_udp_port_is_bound() -> None:
    watch = H3WatchedServer(H3_ECHO)
    try:
        assert not watch._accepts()  # nothing started yet
        watch.start()
        assert watch.url == f"https://127.0.0.1:{watch.port}/"
        target = H3Target.from_url(watch.url, insecure=True)
        assert asyncio.run(survived(watch, target, 10.0)) is None
        watch.proc.kill()  # type: ignore[union-attr]
        assert "SIGKILL" in str(asyncio.run(survived(watch, target, 10.0)))
    finally:
        watch.close()


def test_an_h2_watched_server_is_named_by_an_http_url() -> None:
    assert H2WatchedServer(H2_ECHO).url.startswith("http://127.0.0.1:")
