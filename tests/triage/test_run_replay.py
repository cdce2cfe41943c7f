"""Steps whose octets the wire log does not hold replay from their seeds: a mutant's echo failure
replays byte for byte (what the mutant received, captured on a relay, is the same both times) and
flips against the reference; a quick subset of echo, flood, bomb and 10.1.1 replays as
`replay DIR` with "N of N verdicts reproduced"; a recording whose octets differ from what the
replay makes is named so, never claimed the same."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.runner.regen import REGEN, REGEN_END
from testees.peers.spawn import spawn_server
from tests.cli.helpers import run_main
from tests.triage.test_replay import REFERENCE, captured

TRUNCATES = ["-m", "testees.mutants.serve", "truncates-large"]  # echoes 65535 octets of 9.1.2's 256 KiB
QUICK = ["9.1.1", "12.1.3", "30.3.6", "30.5.1", "10.1.1"]  # echo, deflate echo, paced flood, bomb, 10.1.1


def _run(url: str, cases: list[str], out: Path, agent: str) -> int:
    return run_main("run", "-q", "--server", url, "--agent", agent, "--out", str(out), "--max-echo", "50",
                    "--cases", *cases).code


def _report(out: Path, agent: str, case: str) -> Path:
    return out / f"{agent}_case_{case.replace('.', '_')}.json"


def test_an_echo_failure_replays_byte_for_byte_and_flips_against_the_reference(tmp_path: Path) -> None:
    report = _report(tmp_path, "mutant", "9.1.2")
    with captured(TRUNCATES) as cap:
        assert _run(cap.url, ["9.1.2"], tmp_path, "mutant") == 1
        then = cap.take()
        again = run_main("replay", str(report), "--server", cap.url)
        now = cap.take()
    assert len(then) == len(now) == 1 and len(then[0]) > 262144 and now == then  # octet for octet
    assert again.code == 1, again.err
    assert again.out.splitlines()[0] == "case 9.1.2 (agent mutant): FAILED/OK then, FAILED/OK now"
    assert "step 1 (echo), made again from its seed: wrote the same" in again.out
    with spawn_server(REFERENCE) as (url, _):
        fixed = run_main("replay", str(report), "--server", url)
    assert fixed.code == 0, fixed.err
    assert fixed.out.splitlines()[0] == "case 9.1.2 (agent mutant): FAILED/OK then, OK now"
    assert "0 echoes came back intact then, 1 now" in fixed.out


def test_a_quick_run_of_unlogged_steps_reproduces_every_verdict(tmp_path: Path) -> None:
    with spawn_server(REFERENCE) as (url, _):
        assert _run(url, QUICK, tmp_path, "reference") == 0
        r = run_main("replay", str(tmp_path), "--server", url)
    assert r.code == 0, (r.out, r.err)
    assert r.out.splitlines() == [f"{len(QUICK)} of {len(QUICK)} verdicts reproduced"]
    for cid in QUICK:  # each had its octets out of the log: the markers are there
        log = json.loads(_report(tmp_path, "reference", cid).read_text())["wirelog"]
        assert any(REGEN in e for e in log) and any(REGEN_END in e for e in log), cid


def test_octets_that_differ_from_the_recording_are_said_to(tmp_path: Path) -> None:
    """A report whose recorded digest is not what the seed makes now (here: edited, as another
    zlib would make it) keeps its verdict but is named, with both compressors."""
    with spawn_server(REFERENCE) as (url, _):
        assert _run(url, ["12.1.3"], tmp_path, "reference") == 0
        report = _report(tmp_path, "reference", "12.1.3")
        data = json.loads(report.read_text())
        for e in data["wirelog"]:
            if REGEN in e:
                e[REGEN]["compressors"] = "zlib 0.9"
            if REGEN_END in e:
                e[REGEN_END]["sent_sha256"] = "0" * 64
        report.write_text(json.dumps(data))
        one = run_main("replay", str(report), "--server", url)
        run = run_main("replay", str(tmp_path), "--server", url)
    assert one.code == 0, one.err
    (line,) = [ln for ln in one.out.splitlines() if ln.startswith("step 1 (echo)")]
    assert "not the same octets (SHA-256 differs)" in line
    assert "compressed with zlib 0.9 then" in line and "the same octets are not guaranteed" in line
    assert run.code == 0, run.err
    assert run.out.splitlines()[-1] == ("1 of 1 verdicts reproduced; 1 of them with other octets in a step made "
                                        "again from its seed")
