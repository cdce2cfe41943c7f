"""Steps whose octets the wire log does not hold replay from their seeds: a mutant's echo failure
replays byte for byte (what the mutant received, captured on a relay, is the same both times) and
flips against the reference; a quick subset of echo, flood, bomb and 10.1.1 replays as
`replay DIR` with "N of N verdicts reproduced"; a recording whose octets differ from what the
replay makes is named so, never claimed the same; client runs are refused in one line (HTTP/2 and
HTTP/3 logs: tests/runner/test_replay.py)."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.catalog.load import load_file
from conformance.catalog.model import Echo
from conformance.runner.regen import REGEN, REGEN_END
from conformance.triage.run_replay import RunReplay, render_run
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


@dataclasses.dataclass
class QuickRun:
    url: str
    out: Path


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuickRun]:
    """One reference server, and the quick set run against it once (shared by the tests below)."""
    out = tmp_path_factory.mktemp("quick")
    with spawn_server(REFERENCE) as (url, _):
        assert _run(url, QUICK, out / "then", "reference") == 0
        yield QuickRun(url, out)


def test_a_quick_run_of_unlogged_steps_reproduces_every_verdict(quick: QuickRun) -> None:
    r = run_main("replay", str(quick.out / "then"), "--server", quick.url)
    assert r.code == 0, (r.out, r.err)
    assert r.out.splitlines() == [f"{len(QUICK)} of {len(QUICK)} verdicts reproduced"]
    for cid in QUICK:  # each had its octets out of the log: the markers are there
        log = json.loads(_report(quick.out / "then", "reference", cid).read_text())["wirelog"]
        assert any(REGEN in e for e in log) and any(REGEN_END in e for e in log), cid


def test_octets_that_differ_from_the_recording_are_said_to(quick: QuickRun, tmp_path: Path) -> None:
    """A report whose recorded digest is not what the seed makes now (here: edited, as another
    zlib would make it) keeps its verdict but is named, with both compressors."""
    data = json.loads(_report(quick.out / "then", "reference", "12.1.3").read_text())
    for e in data["wirelog"]:
        if REGEN in e:
            e[REGEN]["compressors"] = "zlib 0.9"
        if REGEN_END in e:
            e[REGEN_END]["sent_sha256"] = "0" * 64
    report = tmp_path / "reference_case_12_1_3.json"
    report.write_text(json.dumps(data))
    one = run_main("replay", str(report), "--server", quick.url)
    assert one.code == 0, one.err
    (line,) = [ln for ln in one.out.splitlines() if ln.startswith("step 1 (echo)")]
    assert "not the same octets (SHA-256 differs)" in line
    assert "compressed with zlib 0.9 then" in line and "the same octets are not guaranteed" in line


def test_a_run_whose_octets_differ_says_so_in_its_summary() -> None:
    r = RunReplay(reproduced=[("a", "12.1.3"), ("a", "1.1.1")], other_octets=[("a", "12.1.3", "step 1 ...")])
    assert render_run(r).splitlines() == [
        "same verdict, other octets: a 12.1.3: step 1 ...",
        "2 of 2 verdicts reproduced; 1 of them with other octets in a step made again from its seed"]
    r = RunReplay(reproduced=[("a", "1.1.1")], differ=[("a", "6.3.1", "OK/OK then, FAILED/OK now: ...")],
                  refused=[("a", "9.1.1", "why"), ("a", "9.1.2", "why")])
    assert render_run(r).splitlines() == ["differs: a 6.3.1: OK/OK then, FAILED/OK now: ...",
                                          "not replayable: a 9.1.1, a 9.1.2: why",
                                          "1 of 4 verdicts reproduced (1 differ, 2 not replayable)"]


def test_an_exported_recording_keeps_the_step_made_again(quick: QuickRun) -> None:
    out = quick.out / "found" / "9_1_1.yaml"
    r = run_main("replay", str(_report(quick.out / "then", "reference", "9.1.1")), "--server", quick.url,
                 "--export", str(out))
    assert r.code == 0, r.err
    (case,), _ = load_file(out)
    assert [type(st) for st in case.steps] == [Echo]  # the step itself: its octets come from it
    assert run_main("run", "-q", "--server", quick.url, "--agent", "reference", "--out", str(quick.out / "now"),
                    "--cases-dir", str(out.parent), "--cases", "91.*").code == 0
    now = json.loads((quick.out / "now" / "index.json").read_text())["reference"]
    assert (now["91.9.1.1"]["behavior"], now["91.9.1.1"]["behaviorClose"]) == ("OK", "OK")


def test_a_client_run_is_refused_in_one_line(tmp_path: Path) -> None:
    py = sys.executable
    assert run_main("run", "-q", "--client", f"{py} -m conformance echo-client --url {{url}} --agent {{agent}}",
                    "--cases", "20.1.1", "--out", str(tmp_path)).code == 0
    r = run_main("replay", str(tmp_path), "--server", "ws://127.0.0.1:9/")
    assert r.code == 2, r.err
    assert r.out.splitlines() == [
        "not replayable: client 20.1.1: a client run: replay sends what the suite sent to a server "
        "(there is no --client replay; run the case again with `conformance run --client`)",
        "0 of 1 verdicts reproduced (0 differ, 1 not replayable)"]
    one = run_main("replay", str(tmp_path / "client_case_20_1_1.json"), "--server", "ws://127.0.0.1:9/")
    assert one.code == 2 and one.out == "" and len(one.err.strip().splitlines()) == 1 and "a client run" in one.err


@pytest.mark.parametrize("args, why", [
    (["--export", "x.yaml"], "--export writes one case"),
    ([], "index.json: cannot read"),
])
def test_a_bad_run_directory_is_one_line_and_exit_2(tmp_path: Path, args: list[str], why: str) -> None:
    r = run_main("replay", str(tmp_path), "--server", "ws://127.0.0.1:9/", *args)
    assert r.code == 2 and why in r.err and len(r.err.strip().splitlines()) == 1, r.err
