"""The matrix's job budgets (testees/matrix/run.py): they come from each job's work, and a run
stopped past its budget keeps the cases it finished."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from testees.matrix import run
from testees.peers.spawn import spawn_server


def _job(agent: str) -> run.Job:
    (job,) = [j for j in run.jobs(["none"]) if j.agent == agent]
    return job


def test_the_budget_grows_with_the_cases_and_their_volume() -> None:
    cases = run.job_cases(_job("reference-server"), robustness=False)
    few, capped, full = (run.job_budget(cases[:20], 4, 50, False), run.job_budget(cases, 4, 50, False),
                         run.job_budget(cases, 4, None, False))
    assert few < capped < full  # more cases, then the volume cases' whole volume
    assert run.job_budget(cases, 1, 50, False) > capped  # one case at a time takes longer
    assert run.job_budget(cases, 4, 50, True) == capped + len(cases) * run.RESTART_SECONDS


def test_each_transport_budgets_its_own_cases() -> None:
    h1, h2, h3 = (run.job_cases(_job(a), robustness=False)
                  for a in ("reference-server", "reference-server-h2", "reference-server-h3"))
    assert not any(c.transport for c in h1)
    assert any(c.group == "40" for c in h2) and not any(c.group == "41" for c in h2)
    assert any(c.group == "41" for c in h3) and not any(c.group == "40" for c in h3)
    robust = run.job_cases(_job("reference-server"), robustness=True)
    assert robust and {c.group for c in robust} == {"30"}


def test_a_capped_volume_case_counts_the_share_it_sends() -> None:
    cases = {c.id: c for c in run.job_cases(_job("reference-server"), robustness=False)}
    assert run.volume_sent(cases["1.1.1"], 50) == 1.0  # no echo steps
    assert run.volume_sent(cases["9.7.1"], 50) == pytest.approx(50 / 1000)
    assert run.volume_sent(cases["9.7.1"], None) == 1.0


@contextlib.contextmanager
def _first_then_hang(upstream: tuple[str, int]) -> Iterator[tuple[int, threading.Event]]:
    """A loopback port whose connections are relayed to `upstream` until one that carried octets
    (the first case; the run's reachability probe carries none) is over; the ones after it are
    accepted and never answered (the event is set when one comes)."""
    second = threading.Event()
    served = threading.Event()
    ready: list[int] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()

    async def relay(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> int:
        octets = 0
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                octets += len(data)
                dst.write(data)
                await dst.drain()
        dst.close()
        return octets

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if served.is_set():
            second.set()
            await asyncio.sleep(3600)
        up_r, up_w = await asyncio.open_connection(*upstream)
        if sum(await asyncio.gather(relay(reader, up_w), relay(up_r, writer))):
            served.set()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, family=socket.AF_INET)
        ready.append(server.sockets[0].getsockname()[1])
        started.set()
        async with server:
            await server.serve_forever()

    def run_loop() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(serve())

    thread = threading.Thread(target=run_loop, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield ready[0], second
    finally:
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])


@pytest.mark.slow
def test_a_run_stopped_past_its_budget_keeps_what_it_finished(tmp_path: Path) -> None:
    """1.1.1 is answered; 1.1.2 hangs (its case limit and its wait for the answer are 60 s), so
    wherever the matrix's stop (SIGTERM at 10 s) comes, the run is stopped: what it finished stays in
    its report, and the rest is marked NOT RUN with the reason."""
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0"]) as (url, _proc):
        host, port = url.split("//")[1].strip("/").split(":")
        with _first_then_hang((host, int(port))) as (front, second):
            argv = [run.PY, "-m", "conformance", "run", "--server", f"ws://127.0.0.1:{front}/", "--jobs", "1",
                    "--timeout", "60", "--wait", "60", "--out", str(tmp_path / "out"), "--agent", "a",
                    "--cases", "1.1.1", "1.1.2"]
            code, output = run.run_within(argv, 10, tmp_path / "a.log")
            reached = second.is_set()  # 1.1.1 was over before the stop (on any but a crawling machine)
    assert code == run.TIMED_OUT
    assert "stopped after 10 s" in (tmp_path / "a.log").read_text()
    note = run.run_note(code, output, 10)
    assert note.startswith("stopped past its budget of 10 s")
    cases = [c for c in run.job_cases(_job("reference-server"), robustness=False) if c.id in ("1.1.1", "1.1.2")]
    assert run.mark_not_run(tmp_path / "out", run.Job("a", "server", []), cases, note) == (1 if reached else 2)
    index = json.loads((tmp_path / "out" / "index.json").read_text())["a"]
    assert index["1.1.1"]["behavior"] == ("OK" if reached else "NOT RUN")  # kept
    assert index["1.1.2"]["behavior"] == "NOT RUN"  # and the one it did not finish says why
    report = json.loads((tmp_path / "out" / index["1.1.2"]["reportfile"]).read_text())
    assert "stopped past its budget" in report["result"]


def test_the_note_of_a_run_whose_budget_ran_out_says_what_was_not_run() -> None:
    out = "running 9 cases\nnote: the run budget of 30 s ran out; 4 cases were not run\n"
    assert run.run_note(1, out, 30) == "the run budget of 30 s ran out; 4 cases were not run"
    assert run.run_note(0, "all fine\n", 30) == ""
    assert run.run_note(3, "conformance: cannot reach the target\n", 30) == "conformance: cannot reach the target"
