"""Each HTTP/3 mutant (testees/mutants/h3_mutants.py) is caught by group 41, with a verdict at the
level of the rule it broke (MUST, or SHOULD for a request it need not detect) naming it, and the reference h3 echo server passes the same cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main
from testees.peers.spawn import spawn_server

pytestmark = pytest.mark.slow  # servers in subprocesses, real QUIC: end to end

# mutant -> (the cases that catch it, what the first one's verdict is and what its report says)
CAUGHT = {
    "no-setting": (["41.1.1"], ("FAILED", "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1")),
    "setting-0": (["41.1.1"], ("FAILED", "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1")),
    "setting-2": (["41.1.1"], ("FAILED", "h2.connect-setting-value")),
    "status101": (["41.3.1"], ("FAILED", "101")),
    "lax-request": (["41.2.1"], ("NON-STRICT", "h3.request-incomplete")),
    "any-version": (["41.2.9", "41.2.10"], ("FAILED", "handshake.version")),
    "no-flow": (["41.3.2"], ("FAILED", "h3.flow-control")),
    "reset-clean": (["41.4.3"], ("FAILED", "h3.stop-sending")),
}


def _run(url: str, cases: list[str], out: Path) -> tuple[int, dict[str, dict[str, object]]]:
    code = main(["run", "--quiet", "--http3", "--insecure", "--server", url, "--out", str(out), "--cases", *cases])
    index = json.loads((out / "index.json").read_text())["testee"]
    return code, index


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_mutant_is_caught(name: str, tmp_path: Path) -> None:
    cases, (verdict, words) = CAUGHT[name]
    with spawn_server(["-m", "testees.mutants.h3_mutants", name]) as (url, _):
        code, index = _run(url, cases, tmp_path)
    should = verdict == "NON-STRICT"  # a SHOULD-level catch: reported, and the run still passes
    assert code in ((0,) if should else (1, 3)), "a failed case, or every handshake refused"
    assert [index[c]["behavior"] for c in cases] == [verdict] * len(cases), index
    first = json.loads((tmp_path / str(index[cases[0]]["reportfile"])).read_text())
    assert (words in json.dumps(first), first.get("level", "MUST")) == (True, "SHOULD" if should else "MUST")


def test_reference_passes_what_catches_the_mutants(tmp_path: Path) -> None:
    cases = sorted({c for cs, _ in CAUGHT.values() for c in cs})
    with spawn_server(["-m", "conformance", "echo-server", "--http3", "--port", "0"]) as (url, _):
        code, index = _run(url, cases, tmp_path)
    assert code == 0
    assert {k: (v["behavior"], v["behaviorClose"]) for k, v in index.items()} == dict.fromkeys(cases, ("OK", "OK"))
