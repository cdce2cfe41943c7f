"""Every resource mutant is caught by the case aimed at it; the reference passes the same cases.

The mutants (testees/mutants/resources.py) run under `--server-cmd`, so the suite watches their
memory, CPU time and exit; one also runs as a plain `--server URL`, where only the liveness probe
can see that it died.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from testees.mutants.resources import MUTANTS
from testees.peers.spawn import spawn_server

pytestmark = pytest.mark.slow

# mutant -> (expected behaviour, level, what the result says)
EXPECTED = {
    "allocates-declared-length": ("NON-STRICT", "SHOULD", "memory grew"),
    "aborts-on-huge-length": ("FAILED", "MUST", "SIGABRT"),
    "keeps-every-fragment": ("NON-STRICT", "SHOULD", "memory grew"),
    "inflates-without-limit": ("NON-STRICT", "SHOULD", "memory grew"),
    "quadratic-headers": ("NON-STRICT", "SHOULD", "CPU time"),
    "crashes-on-many-headers": ("FAILED", "MUST", "SIGABRT"),
    "no-handshake-timeout": ("INFORMATIONAL", "informational", "no answer"),
    "buffers-its-output": ("NON-STRICT", "SHOULD", "memory grew"),
    "checks-compressed-size": ("INFORMATIONAL", "informational", "one octet over the largest uncompressed"),
    "off-by-one-when-inflating": ("INFORMATIONAL", "informational", "one octet over the largest uncompressed"),
}
REFERENCE = f"{sys.executable} -m conformance echo-server --deflate --port {{port}}"


def _run(argv: list[str], out: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    code = main(["run", "--quiet", "--out", str(out), *argv])
    index = json.loads((out / "index.json").read_text())
    (agent,) = index
    return code, {cid: json.loads((out / e["reportfile"]).read_text()) for cid, e in index[agent].items()}


def test_every_mutant_has_an_expectation() -> None:
    assert set(EXPECTED) == set(MUTANTS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mutant_is_caught_and_the_reference_is_not(name: str, tmp_path: Path) -> None:
    case = MUTANTS[name][1]
    behavior, level, says = EXPECTED[name]
    cmd = f"{sys.executable} -m testees.mutants.resources {name} --port {{port}}"
    code, results = _run(["--server-cmd", cmd, "--cases", case], tmp_path / "mutant")
    r = results[case]
    assert (r["behavior"], r["level"]) == (behavior, level), r["result"]
    assert says in r["result"]
    assert "server" in r["measurements"]
    assert code == (1 if behavior == "FAILED" else 0)
    code, results = _run(["--server-cmd", REFERENCE, "--cases", case], tmp_path / "reference")
    assert (code, results[case]["behavior"]) == (0, "OK"), results[case]["result"]


def test_a_crash_of_a_plain_url_target_shows_as_a_dead_server(tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.mutants.resources", "crashes-on-many-headers"]) as (url, proc):
        code, results = _run(["--server", url, "--cases", "30.7.2"], tmp_path)
        assert proc.poll() is not None  # it really died
    r = results["30.7.2"]
    assert (code, r["behavior"], r["level"]) == (1, "FAILED", "MUST")
    assert "not alive" in r["result"] and r["measurements"]["alive"]["ok"] is False


def test_the_reference_passes_the_light_group_with_its_figures(tmp_path: Path) -> None:
    code, results = _run(["--server-cmd", REFERENCE, "--cases", "30.*", "--exclude", *_heavy()], tmp_path)
    assert code == 0
    assert len(results) >= 30
    bad = {cid: r["result"] for cid, r in results.items() if r["behavior"] != "OK"}
    assert not bad
    assert all({"rss_growth", "cpu_seconds", "rss_peak"} <= set(r["measurements"]["server"]) for r in results.values())
    assert all(r["measurements"]["alive"]["ok"] for r in results.values())


def _heavy() -> list[str]:
    from conformance.catalog.load import load_catalogue

    return [c.id for c in load_catalogue().cases if c.resources is not None and c.resources.heavy]


def test_the_reference_serves_others_beside_a_flood_of_tiny_frames(tmp_path: Path) -> None:
    # 30.8.4: a million empty pings cost the engine ~20 us each; fed 8 KiB at a time with a turn for
    # the other connections in between, a new client is answered within the probe's 3 s (before:
    # 64 KiB at a time, four reads per turn, about 4 s)
    code, results = _run(["--server-cmd", REFERENCE, "--cases", "30.8.4"], tmp_path)
    r = results["30.8.4"]
    assert (code, r["behavior"]) == (0, "OK"), r["result"]
    assert r["measurements"]["attack"][0]["probe_during"]["ok"]
