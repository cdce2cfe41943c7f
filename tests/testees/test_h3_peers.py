"""A real server of WebSocket over HTTP/3 (RFC 9220): hypercorn's QUIC server (aioquic beneath it),
reached with `run --http3`; and the matrix lists it beside the reference as `server-h3` jobs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from conformance.cli import main
from testees.matrix.run import h3_jobs
from testees.peers.spawn import spawn_server

pytestmark = pytest.mark.slow  # servers in subprocesses, real QUIC: end to end

needs_hypercorn = pytest.mark.skipif(importlib.util.find_spec("hypercorn") is None, reason="needs hypercorn")


def _one(url: str, case: str, out: Path) -> tuple[str, str]:
    """The verdicts; a close judged FAILED BY CLIENT must be the SHOULD of RFC 6455 §7.1.1 (hypercorn
    ends its stream after the closing handshake, but not always before the suite gives up waiting)."""
    main(["run", "--quiet", "--http3", "--insecure", "--server", url, "--out", str(out), "--cases", case])
    v = json.loads((out / "index.json").read_text())["testee"][case]
    if v["behaviorClose"] == "FAILED BY CLIENT":
        report = json.loads((out / str(v["reportfile"])).read_text())
        assert "close.server-closes-tcp-first" in json.dumps(report), report["resultClose"]
        return v["behavior"], "OK"
    return v["behavior"], v["behaviorClose"]


@needs_hypercorn
@pytest.mark.parametrize("case", ["41.3.1", "41.2.2", "41.2.3"])
def test_hypercorn_over_h3(case: str, tmp_path: Path) -> None:
    """Each case against a new server: hypercorn's QUIC server stops after a normal close
    (docs/findings.md, "Over HTTP/3"), so one server does not outlive a case."""
    with spawn_server(["-m", "testees.peers.hypercorn_server", "--quic", "--port", "0"]) as (url, _):
        assert url.startswith("https://")
        assert _one(url, case, tmp_path) == ("OK", "OK")


def test_matrix_has_server_h3_jobs() -> None:
    jobs = {j.agent: j for j in h3_jobs([])}
    assert jobs["reference-server-h3"].kind == "server-h3"
    if importlib.util.find_spec("hypercorn") is not None:
        (hc,) = [j for name, j in jobs.items() if name.startswith("hypercorn-")]
        assert hc.kind == "server-h3-watched" and "--quic" in hc.argv  # restarted after each death
