"""Nothing a target does may hang the suite, exhaust its memory, lose results or crash it.

Every run here is a real `conformance run` process against a hostile server from serve.py, with a
small budget; each test checks the wall time, the verdicts and their reasons, the exit code, the
peak memory and that every case's result is on disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testees.peers.spawn import spawn_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CASES = ["1.1.1", "1.1.7", "2.1", "5.3", "6.2.1"]
# The suite's own peak memory: VmHWM of its process. Not getrusage's ru_maxrss, which keeps the peak of
# the process image it was forked from (a pytest worker that has grown to 300 MiB reports 300 MiB).
_RUN = ("import re, sys\nfrom conformance.cli import main\ncode = main(sys.argv[1:])\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print('MAXRSS', hwm, file=sys.stderr)\nsys.exit(code)\n")


def run(url: str, out: Path, *extra: str, cases: list[str] = CASES, timeout: float = 120) -> tuple[int, float, int, str]:
    argv = [sys.executable, "-c", _RUN, "run", "--server", url, "--out", str(out), "--timeout", "8", "--wait", "1",
            "--quiet", *extra]
    for c in cases:
        argv += ["--cases", c]
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)
    rss_kib = int(next((ln.split()[1] for ln in proc.stderr.splitlines() if ln.startswith("MAXRSS")), "0"))
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.returncode, time.monotonic() - t0, rss_kib, proc.stderr


def results(out: Path) -> dict[str, dict[str, object]]:
    index = json.loads((out / "index.json").read_text())
    (agent,) = index
    return {cid: json.loads((out / e["reportfile"]).read_text()) for cid, e in index[agent].items()}


@pytest.mark.parametrize(("behaviour", "reason", "code"), [
    ("stall", "no complete response within", 3),
    ("slow-drip", "no complete response within", 3),
    ("reset", "", 3),
    ("garbage-http", "not valid HTTP", 3),
    ("endless-headers", "within 65536 octets", 3),
])
def test_broken_handshakes_end_quickly_with_reasons(behaviour: str, reason: str, code: int, tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.hostile.serve", behaviour]) as (url, _):
        rc, secs, _, err = run(url, tmp_path / "out")
    assert rc == code, err[-2000:]
    assert secs < 100  # an upper bound only: the run must end, not end fast (the machine may be busy)
    got = results(tmp_path / "out")
    assert sorted(got) == sorted(CASES)
    for r in got.values():
        text = str(r["result"])
        # a resetting target may also refuse the connection outright: then nothing could be reached,
        # or, once several connections in a row died, the run stops and says the rest was not run
        # (NOT RUN: no verdict about the peer)
        assert (r["behavior"] == "FAILED" and "not opened" in text and reason in text) or (
            behaviour == "reset" and r["behavior"] in ("FAILED", "NOT RUN") and (
                "could not be reached" in text or "stopped accepting connections" in text)), text
    assert (tmp_path / "out" / "index.html").is_file()


def test_flood_is_stopped_at_the_memory_limit(tmp_path: Path) -> None:
    limit = 16 * 1024 * 1024
    with spawn_server(["-m", "testees.hostile.serve", "flood"]) as (url, _):
        rc, secs, rss_kib, err = run(url, tmp_path / "out", "--memory-limit", str(limit), cases=["1.1.1", "2.1"])
    assert rc == 1 and secs < 100, err[-2000:]  # upper bound only
    for r in results(tmp_path / "out").values():
        assert r["behavior"] == "FAILED" and "memory limit" in str(r["result"]), r["result"]
    assert rss_kib * 1024 < 200 * 1024 * 1024  # the interpreter, the catalogue, and at most the limit per case


def test_huge_declared_length_is_refused_not_allocated(tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.hostile.serve", "huge-length"]) as (url, _):
        rc, secs, rss_kib, _ = run(url, tmp_path / "out", cases=["1.1.1"])
    r = results(tmp_path / "out")["1.1.1"]
    assert rc == 1 and secs < 100  # upper bound only
    # no RFC rule of the peer's: what it sent is not the echo the case asked for, over the suite's limit
    assert r["behavior"] == "FAILED" and "memory limit" in r["result"], r["result"]
    assert rss_kib * 1024 < 200 * 1024 * 1024


def test_target_that_stops_reading_hits_the_case_budget(tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.hostile.serve", "stop-reading"]) as (url, _):
        rc, secs, _, _ = run(url, tmp_path / "out", cases=["9.1.6"])  # --timeout 8 caps its 100 s budget
    r = results(tmp_path / "out")["9.1.6"]
    assert rc == 1 and r["behavior"] == "FAILED" and "budget of 8 s" in str(r["result"]), r["result"]
    assert secs < 90  # well under the case's own 100 s budget: --timeout 8 capped it


def test_target_that_dies_mid_run(tmp_path: Path) -> None:
    cases = ["1.1.1", "1.1.2", "1.1.3", "1.2.1", "1.2.2", "1.2.3", "2.1", "2.2", "2.3", "2.4"]
    with spawn_server(["-m", "testees.hostile.serve", "dies", "--connections", "3"]) as (url, _):
        rc, secs, _, err = run(url, tmp_path / "out", "--jobs", "1", cases=cases)
    got = results(tmp_path / "out")
    assert sorted(got) == sorted(cases)  # every case has a result on disk
    ok = [c for c, r in got.items() if r["behavior"] == "OK"]
    gone = [c for c, r in got.items() if "stopped accepting connections" in str(r["result"])]
    assert len(ok) == 3 and len(gone) >= 4, {c: r["result"] for c, r in got.items()}
    assert rc == 1 and secs < 100  # upper bound only


def test_flaky_target_is_reported_flaky_never_ok(tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.hostile.serve", "flaky"]) as (url, _):
        rc, _, _, _ = run(url, tmp_path / "out", "--retries", "2", "--jobs", "1", cases=["1.1.1", "1.1.2"])
    got = results(tmp_path / "out")
    assert any(r["flaky"] for r in got.values())
    assert all(r["behavior"] != "OK" or not r["flaky"] for r in got.values())
    assert rc == 1


def test_deterministic_failure_is_not_retried_into_a_pass(tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.mutants.serve", "no-pong"]) as (url, _):
        rc, _, _, _ = run(url, tmp_path / "out", "--retries", "2", cases=["2.2"])
    r = results(tmp_path / "out")["2.2"]
    assert rc == 1 and r["behavior"] == "FAILED" and not r["flaky"] and r["attempts"] == 3


def test_sigterm_keeps_finished_results_and_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cases = ["9.7.*", "1.*", "2.*"]
    with spawn_server(["-m", "testees.peers.websockets_server"]) as (url, _):
        argv = [sys.executable, "-m", "conformance", "run", "--server", url, "--out", str(out), "--quiet",
                "--jobs", "1"]
        for c in cases:
            argv += ["--cases", c]
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not (out / "index.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err[-2000:]
        assert "--resume" in err
        done = results(out)
        assert done and (out / "index.html").is_file()
        rc = subprocess.run([*argv, "--resume", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False).returncode
    final = results(out)
    assert len(final) == 6 + 16 + 11 and rc in (0, 1)
    for cid, r in done.items():
        assert final[cid]["started"] == r["started"]  # finished cases were kept, not run again


def test_three_runs_give_the_same_verdicts(tmp_path: Path) -> None:
    verdicts = []
    for i in range(3):
        out = tmp_path / f"run{i}"
        subprocess.run([sys.executable, "-m", "conformance", "run", "--quiet", "--out", str(out),
                        "--exclude", "9.*", "12.*", "13.*"], cwd=ROOT, check=False, capture_output=True, timeout=120)
        index = json.loads((out / "index.json").read_text())["reference"]
        verdicts.append({c: (v["behavior"], v["behaviorClose"]) for c, v in index.items()})
    assert verdicts[0] == verdicts[1] == verdicts[2]
    assert os.path.exists(tmp_path / "run0" / "index.html")


def test_reference_client_survives_a_server_that_resets_after_its_close(tmp_path: Path) -> None:
    """Autobahn's fuzzingserver resets TCP right after its close frame: the count and every
    case have still arrived, so the reference client runs all of them and exits 0."""
    with spawn_server(["-m", "testees.hostile.serve", "autobahn-reset", "--connections", "3"]) as (url, server):
        proc = subprocess.run([sys.executable, "-m", "conformance", "echo-client", "--url", url, "--agent", "ref"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
        server.terminate()
        out, _ = server.communicate(timeout=10)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ran 3 cases" in proc.stdout
    assert sorted(ln for ln in out.splitlines() if ln.startswith("echoed")) == [f"echoed case {n}" for n in (1, 2, 3)]
