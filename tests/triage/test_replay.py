"""`conformance replay`: a recorded failure of a mutant server replays byte for byte (what the
mutant received, captured on a loopback socket in front of it, is the same in both runs) and gets
the same verdict; the same recording against the reference server is FAILED then, OK now; every
replayable case of a run against the reference reproduces its verdicts; `--export` gives a case
that the runner runs with the same verdicts."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.catalog.dump import dump_case
from conformance.catalog.load import load_catalogue, load_file
from conformance.catalog.model import Checkpoint, SendClose, SendRaw
from conformance.errors import CaseFileError
from conformance.runner.trace import RunOptions
from conformance.targets.tcp import ServerTarget
from conformance.triage.replay import export_case, replay_report, write_export
from testees.peers.spawn import spawn_server
from tests.cli.helpers import run_main


class Capture:
    """A loopback TCP relay in front of a server that keeps, per connection, the octets the
    client sent through it (what the server received)."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("ws://").rstrip("/").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.received: list[bytearray] = []
        self.threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            got = bytearray()
            self.received.append(got)
            for a, b, keep in ((conn, up, got), (up, conn, None)):
                t = threading.Thread(target=self._pipe, args=(a, b, keep), daemon=True)
                t.start()
                self.threads.append(t)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, keep: bytearray | None) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if keep is not None:
                    keep += data
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def take(self) -> list[bytes]:
        """The octets of every connection that carried any, once both directions ended."""
        for t in self.threads:
            t.join(10)
        out = [bytes(r) for r in self.received if r]
        self.received.clear()
        self.threads.clear()
        return out


@contextlib.contextmanager
def captured(server: list[str]) -> Iterator[Capture]:
    with spawn_server(server) as (url, _):
        cap = Capture(url)
        try:
            yield cap
        finally:
            cap.sock.close()


MUTANT = ["-m", "testees.mutants.serve", "no-utf8-check"]  # echoes invalid UTF-8: 6.3.1 FAILED
REFERENCE = ["-m", "conformance", "echo-server", "--port", "0", "--deflate"]


def _run(url: str, cases: list[str], out: Path, agent: str) -> int:
    return run_main("run", "-q", "--server", url, "--agent", agent, "--out", str(out), "--cases", *cases).code


def _report(out: Path, agent: str, case: str) -> Path:
    return out / f"{agent}_case_{case.replace('.', '_')}.json"


@pytest.mark.parametrize("case", ["6.3.1", "6.4.1"])
def test_a_recorded_failure_replays_byte_for_byte(case: str, tmp_path: Path) -> None:
    with captured(MUTANT) as cap:
        assert _run(cap.url, [case], tmp_path, "mutant") == 1
        then = cap.take()
        report = _report(tmp_path, "mutant", case)
        r = run_main("replay", str(report), "--server", cap.url)
        now = cap.take()
    old = json.loads(report.read_text())
    assert len(then) == len(now) == 1 and now == then  # what the mutant received, octet for octet
    assert r.code == 1, r.err
    assert f"{old['behavior']}/{old['behaviorClose']}" in r.out.replace(" / ", "/")
    assert "the target answered frame for frame as it did then" in r.out


def test_failed_then_ok_now_marks_the_first_difference(tmp_path: Path) -> None:
    with captured(MUTANT) as cap:
        _run(cap.url, ["6.3.1"], tmp_path, "mutant")
    with spawn_server(REFERENCE) as (url, _):
        r = run_main("replay", str(_report(tmp_path, "mutant", "6.3.1")), "--server", url)
        o = replay_report(_report(tmp_path, "mutant", "6.3.1"), ServerTarget.from_url(url), RunOptions())
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == "case 6.3.1 (agent mutant): FAILED then, OK now"
    (marked,) = [ln for ln in r.out.splitlines() if ln.startswith(">> ")]
    assert marked.endswith("<< first difference")
    # the mutant echoed the invalid text; the reference fails the connection with 1007 instead
    assert o.first is not None
    row = o.rows[o.first]
    assert row.old is not None and row.new is not None and row.old.dir == row.new.dir == "rx"
    assert row.old.text.startswith("TEXT") and row.new.text.startswith("CLOSE 1007")
    assert all(not r.differs for r in o.rows[: o.first])


def test_every_replayable_case_of_a_reference_run_keeps_its_verdicts(tmp_path: Path) -> None:
    groups = [f"{g}.*" for g in range(1, 8)]
    cases = load_catalogue().cases
    with spawn_server(REFERENCE) as (url, _):
        assert _run(url, groups, tmp_path, "reference") == 0
        target = ServerTarget.from_url(url)
        index = json.loads((tmp_path / "index.json").read_text())["reference"]
        replayed, cut = 0, []
        for cid, entry in index.items():
            try:
                o = replay_report(tmp_path / entry["reportfile"], target, RunOptions(), cases)
            except CaseFileError as exc:
                assert "large writes are cut in the log" in str(exc), exc
                cut.append(cid)
                continue
            replayed += 1
            assert (o.new.behavior, o.new.behaviorClose) == (o.old.behavior, o.old.behaviorClose), (
                cid, o.new.result, o.new.resultClose)
            assert o.first is None, (cid, o.rows[o.first])
    assert replayed == len(index) > 240 and cut == [], (replayed, cut)  # cut writes are rebuilt from their steps


def test_export_is_a_case_the_runner_runs_with_the_same_verdicts(tmp_path: Path) -> None:
    with captured(MUTANT) as cap:
        _run(cap.url, ["6.4.1", "6.3.1", "7.1.2"], tmp_path / "then", "mutant")
        cap.take()
        (tmp_path / "found").mkdir()
        for cid in ("6.4.1", "6.3.1", "7.1.2"):
            o = replay_report(_report(tmp_path / "then", "mutant", cid), ServerTarget.from_url(cap.url), RunOptions())
            exported = export_case(o)
            assert exported.id == f"91.{cid}" and exported.handshake is not None
            assert exported.handshake.raw is not None and exported.handshake.raw.data == o.recording.request
            assert any(isinstance(st, SendRaw) for st in exported.steps)
            write_export(o, tmp_path / "found" / f"{cid}.yaml")
            (loaded,), _ = load_file(tmp_path / "found" / f"{cid}.yaml")
            assert dump_case(loaded) == dump_case(exported) and loaded == exported
        kinds = {type(st) for cid in ("6.4.1", "7.1.2")
                 for st in load_file(tmp_path / "found" / f"{cid}.yaml")[0][0].steps}
        assert Checkpoint in kinds and SendClose in kinds
        assert run_main("run", "-q", "--server", cap.url, "--agent", "mutant", "--out", str(tmp_path / "now"),
                        "--cases-dir", str(tmp_path / "found")).code == 1
    then = json.loads((tmp_path / "then" / "index.json").read_text())["mutant"]
    now = json.loads((tmp_path / "now" / "index.json").read_text())["mutant"]
    for cid in ("6.4.1", "6.3.1", "7.1.2"):
        assert (now[f"91.{cid}"]["behavior"], now[f"91.{cid}"]["behaviorClose"]) == (
            then[cid]["behavior"], then[cid]["behaviorClose"]), cid


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("REPLAY_FULL") != "1", reason="the whole catalogue: REPLAY_FULL=1 runs it")
def test_the_whole_catalogue_replays_with_its_verdicts(tmp_path: Path) -> None:
    """Every case of the default catalogue, run against the reference and replayed (`make
    test-replay` does the same with group 30 too); echo steps capped at 50 messages."""
    with spawn_server(REFERENCE) as (url, _):
        assert run_main("run", "-q", "--server", url, "--agent", "reference", "--out", str(tmp_path),
                        "--max-echo", "50").code == 0
        r = run_main("replay", str(tmp_path), "--server", url)
    n = len(json.loads((tmp_path / "index.json").read_text())["reference"])
    assert r.code == 0 and r.out.splitlines() == [f"{n} of {n} verdicts reproduced"] and n > 600, r.out


def test_a_replay_runs_under_the_bounds_the_run_recorded(tmp_path: Path) -> None:
    """--timeout, --wait and --settle of the run are in each report (measurements.limits); the
    replay uses them, except a bound given on its own command line."""
    with spawn_server(REFERENCE) as (url, _):
        argv = ["run", "-q", "--server", url, "--agent", "a", "--out", str(tmp_path), "--cases", "6.4.1",
                "--timeout", "3", "--wait", "0.6", "--settle", "0.8"]
        assert run_main(*argv).code == 0
        report = _report(tmp_path, "a", "6.4.1")
        then = json.loads(report.read_text())["measurements"]["limits"]
        assert then == {"budget": 3.0, "wait": 0.6, "settle": 0.8}
        now = replay_report(report, ServerTarget.from_url(url), RunOptions()).new.measurements["limits"]
        assert now == then
        mine = replay_report(report, ServerTarget.from_url(url), RunOptions(wait=1.5), given=frozenset({"wait"}))
        assert mine.new.measurements["limits"] == {"budget": 3.0, "wait": 1.5, "settle": 0.8}
