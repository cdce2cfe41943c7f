"""runner/replay.py: how a wire log becomes a recording (which writes are scripted, which are the
engine's answers, where the run waited), and the logs it refuses to replay."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path

import pytest

from conformance.catalog.load import load_catalogue
from conformance.catalog.model import Case
from conformance.report.model import ReportDir
from conformance.runner.judge import judge
from conformance.runner.replay import Chunk, NotReplayable, close_marks, recording_from_wirelog, replay_recording
from conformance.runner.run import run_cases
from conformance.runner.steps import SECOND_PING
from conformance.runner.trace import RunOptions
from conformance.targets.tcp import ServerTarget
from conformance.wire.frames import Frame, Opcode, serialize_frame
from testees.peers.spawn import spawn_server


def _wirelogs(tmp_path: Path, ids: list[str]) -> dict[str, list[dict[str, object]]]:
    cases = [c for c in load_catalogue().cases if c.id in ids]
    report = ReportDir(tmp_path)
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0"]) as (url, _):
        summary = asyncio.run(run_cases(cases, ServerTarget.from_url(url), RunOptions(), report, quiet=True))
    return {r.id: r.wirelog for r in summary.results}


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    return _wirelogs(tmp_path_factory.mktemp("run"), ["2.11", "6.4.1", "5.14", "7.1.2", "1.1.1", "1.1.8"])


def _case(cid: str) -> Case:
    return next(c for c in load_catalogue().cases if c.id == cid)


def test_writes_keep_their_pieces_and_the_request_its_octets(logs: dict[str, list[dict[str, object]]]) -> None:
    rec = recording_from_wirelog(logs["2.11"], _case("2.11"))  # ten pings, each written one octet at a time
    assert rec.request.startswith(b"GET / HTTP/1.1\r\n") and b"Sec-WebSocket-Key: " in rec.request
    steps = [c for c in rec.chunks if c.kind == "step"]
    assert len(steps) == 10 and all(c.chop == 1 for c in steps)


def test_sync_pings_and_the_final_close_are_scripted(logs: dict[str, list[dict[str, object]]]) -> None:
    rec = recording_from_wirelog(logs["6.4.1"], _case("6.4.1"))
    # checkpoint A asks twice (the peer went on after the first pong); at B the peer fails instead
    assert [c.kind for c in rec.chunks] == ["step", "sync", "sync", "step", "sync"]
    assert [c.label for c in rec.chunks if c.kind == "sync"] == ["checkpoint A", f"checkpoint A{SECOND_PING}",
                                                                 "checkpoint B"]
    assert [c.asked_again for c in rec.chunks] == [False, True, False, False, False]
    assert rec.chunks[3].messages == 0  # a pong is no message
    assert len(rec.answer_keys) == 1  # the close answering the peer's 1007 is the engine's
    rec = recording_from_wirelog(logs["1.1.1"], _case("1.1.1"))
    assert [c.kind for c in rec.chunks] == ["step", "close"] and rec.chunks[1].messages == 1
    assert rec.answer_keys == ()


def test_close_marks_follow_the_steps() -> None:
    assert close_marks(_case("7.1.2").steps) == [True, False]  # send_close starts the handshake; a raw one not


@pytest.mark.parametrize(("log", "why"), [
    ([], "no wire log"),
    ([{"t": 0}], "not a wire log entry"),
    ([{"dir": "rx", "kind": "event", "text": "x"}], "wrote nothing in that run"),
    ([{"dir": "tx", "kind": "octets", "len": 2, "hex": "8180", "text": "TEXT"}], "does not start with an HTTP/1.1"),
    ([{"dir": "tx", "kind": "event", "text": "extended CONNECT on stream 1"}], "a run over HTTP/2 or HTTP/3"),
    ([{"dir": "tx", "kind": "octets", "len": 10, "hex": "4745"}], "kept 2 of its 10 octets"),
    ([{"dir": "tx", "kind": "octets", "len": 1, "hex": "zz"}], "not hex"),
    ([{"dir": "", "kind": "event", "text": "wire log cut after 1500 entries"}], "was cut"),
])
def test_incomplete_logs_are_refused(log: list[dict[str, object]], why: str) -> None:
    with pytest.raises(NotReplayable, match=why):
        recording_from_wirelog(log)


def test_cases_whose_traffic_is_not_logged_are_refused(logs: dict[str, list[dict[str, object]]]) -> None:
    echo = next(c for c in load_catalogue().cases if c.id.startswith("9.") and c.steps)
    with pytest.raises(NotReplayable, match="echo steps"):
        recording_from_wirelog(logs["1.1.1"], echo)


def test_a_write_the_log_cut_is_rebuilt_from_its_step(logs: dict[str, list[dict[str, object]]]) -> None:
    entry = next(e for e in logs["1.1.8"] if e["dir"] == "tx" and e["text"] == "TEXT fin=1 rsv=000")
    kept = bytes.fromhex(str(entry["hex"]))
    assert len(kept) < int(str(entry["len"]))  # the log keeps 4 KiB of each write
    (chunk, _close) = recording_from_wirelog(logs["1.1.8"], _case("1.1.8")).chunks
    assert len(chunk.data) == entry["len"] and chunk.data.startswith(kept) and chunk.chop == 997
    with pytest.raises(NotReplayable, match="large writes are cut"):  # a step with other octets: refused
        recording_from_wirelog(logs["1.1.8"], _case("1.2.8"))


def test_a_target_that_sends_fewer_messages_costs_one_wait_not_one_per_write(
        logs: dict[str, list[dict[str, object]]]) -> None:
    """Ten writes (unsolicited pongs, which a peer ignores) recorded as coming after two echoes
    the target never sends: the first write waits `--wait`, the others go at once, and the verdict
    is the one of the exchange, not a budget running out."""
    case = _case("1.1.1")
    rec = recording_from_wirelog(logs["1.1.1"], case)
    text, close = rec.chunks
    pongs = tuple(Chunk("step", serialize_frame(Frame(Opcode.PONG, b"x"), mask=os.urandom(4)), "PONG", messages=2)
                  for _ in range(10))
    changed = dataclasses.replace(rec, chunks=(text, *pongs, close))
    opts = RunOptions(wait=1.0, timeout=10.0)
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0"]) as (url, _):
        t0 = time.monotonic()
        trace = asyncio.run(replay_recording(case, changed, ServerTarget.from_url(url), opts))
        took = time.monotonic() - t0
    assert took < 6.0, took  # one wait of 1 s (ten would be 10 s)
    assert not trace.timed_out and trace.observations == [("text", b"")]
    assert any("later writes no longer wait" in str(e["text"]) for e in trace.wirelog)
    v = judge(case, trace)
    assert (v.behavior, v.behavior_close) == ("OK", "OK")


@pytest.mark.parametrize(("mark", "why"), [
    ({"step": 0, "seed": "zz", "key": "echo"}, "no 16-octet seed"),
    ({"step": "0", "seed": "00" * 16, "key": "echo"}, "no step number"),
    ({"step": 3, "seed": "00" * 16, "key": "echo"}, "no such step of case 9.1.1"),
])
def test_a_bad_seed_marker_is_refused(mark: dict[str, object], why: str) -> None:
    request = {"dir": "tx", "kind": "octets", "len": 3, "hex": "474554", "text": "opening handshake request"}
    log = [request, {"dir": "tx", "kind": "event", "text": "step 1", "regen": mark},
           {"dir": "tx", "kind": "event", "text": "end", "regen_end": {"step": 0}}]
    with pytest.raises(NotReplayable, match=why):
        recording_from_wirelog(log, _case("9.1.1"))
