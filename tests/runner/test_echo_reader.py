"""Echo steps check each echo in the reader, which sends the next small message itself: the task
running the step is woken once per step, not once per round trip, and the verdicts stay those of
a step that checks every echo (a changed octet, a close, an extra message, a window, chops)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from conformance.catalog.load import load_file
from conformance.catalog.model import Case
from conformance.runner.context import Session
from conformance.runner.session import RunOptions, Trace, execute_case
from conformance.targets.tcp import ServerTarget
from conformance.wire.close import serialize_close
from conformance.wire.frames import Frame, Opcode, serialize_frame
from tests.runner.test_checkpoint import _accept, _frames
from tests.runner.test_steps import _server_thread

CASES = """\
group: "90"
title: Echo paths
defaults:
  rfc: ["RFC 6455 §5.6"]
  close: {by: us, codes: [1000], clean: true}
cases:
  - id: "90.1"
    title: Round trips of small messages, one in flight
    steps: [{echo: {opcode: binary, payload: {repeat_hex: "00fe23", size: 64}, count: 300}}]
  - id: "90.2"
    title: Four in flight
    steps: [{echo: {opcode: text, payload: {repeat: "ab", size: 100}, count: 300, window: 4}}]
  - id: "90.3"
    title: Chopped messages (the task writes each piece)
    steps: [{echo: {opcode: binary, payload: {repeat_hex: "01", size: 64}, count: 20, chop: 16}}]
  - id: "90.4"
    title: Messages larger than the reader sends itself
    steps: [{echo: {opcode: binary, payload: {repeat_hex: "02", size: 100000}, count: 5}}]
  - id: "90.5"
    title: A few round trips
    steps: [{echo: {opcode: binary, payload: {repeat_hex: "03", size: 64}, count: 8}}]
"""

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _cases(tmp_path: Path) -> dict[str, Case]:
    path = tmp_path / "90_echo.yaml"
    path.write_text(CASES)
    return {c.id: c for c in load_file(path)[0]}


def _echo_server(change: Callable[[int, Frame], list[Frame]], delay: float = 0.0) -> Handler:
    """Echoes every data frame, through `change(index, frame)` (all it returns in one write), `delay`
    seconds after it came; answers a close and ends."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer)
        index = 0
        async for frame in _frames(reader):
            if frame.opcode is Opcode.CLOSE:
                writer.write(serialize_frame(Frame(Opcode.CLOSE, serialize_close(1000, "")), mask=False))
                writer.close()
                return
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(b"".join(serialize_frame(out, mask=False) for out in change(index, frame)))
                index += frame.fin
    return handler


def _run(case: Case, handler: Handler, monkeypatch: pytest.MonkeyPatch, wait: float = 5) -> tuple[Trace, int]:
    """The case against `handler`, and how many times the case's task waited on the peer."""
    waits = [0]
    original = Session.wait_for

    async def counted(self: Session, *args: object, **kwargs: object) -> bool:
        waits[0] += 1
        return await original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Session, "wait_for", counted)
    with _server_thread(handler) as port:
        trace = asyncio.run(execute_case(case, ServerTarget.from_url(f"ws://127.0.0.1:{port}/"),
                                         RunOptions(timeout=30, wait=wait, settle=5, close_grace=0.5)))
    return trace, waits[0]


def _same(index: int, frame: Frame) -> list[Frame]:
    return [frame]


@pytest.mark.parametrize("case_id", ["90.1", "90.2", "90.3", "90.4"])
def test_every_echo_comes_back_and_is_counted(case_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _cases(tmp_path)[case_id]
    trace, waits = _run(case, _echo_server(_same), monkeypatch)
    spec = case.steps[0].spec  # type: ignore[attr-defined]
    assert trace.echo_failure is None
    assert trace.measurements["messages"] == spec.count and trace.echoed == spec.count
    if case_id in ("90.1", "90.2"):
        # the reader sends each next message: a handful of waits (the step, the closing
        # handshake), where one a round trip would be 300
        assert waits < 20, waits


def test_one_changed_octet_in_the_middle_of_a_run_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def flip_150th(index: int, frame: Frame) -> list[Frame]:
        if index != 150:
            return [frame]
        data = bytearray(frame.data)
        data[33] ^= 0x40
        return [Frame(frame.opcode, bytes(data), fin=frame.fin)]

    trace, _ = _run(_cases(tmp_path)["90.1"], _echo_server(flip_150th), monkeypatch)
    failure = trace.echo_failure
    assert failure is not None and failure.kind == "mismatch" and failure.echoed == 150
    assert "octet 33" in failure.detail
    assert trace.measurements["messages"] == 150


@pytest.mark.parametrize(("case_id", "at"), [("90.1", 40), ("90.3", 10)])
def test_a_message_that_echoes_nothing_is_caught(case_id: str, at: int, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def extra(index: int, frame: Frame) -> list[Frame]:
        return [frame, Frame(Opcode.BINARY, b"extra")] if index == at else [frame]

    trace, _ = _run(_cases(tmp_path)[case_id], _echo_server(extra), monkeypatch)
    failure = trace.echo_failure
    # it comes while the next message is in flight (the reader sent it), or while none is (the
    # task sends chopped ones): caught either way
    assert failure is not None and failure.kind == "mismatch" and failure.echoed == at + 1, failure


def test_a_peer_that_stops_after_some_echoes_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def stop_at_70(index: int, frame: Frame) -> list[Frame]:
        if index >= 70:
            raise ConnectionResetError  # ends the handler: the connection closes
        return [frame]

    trace, _ = _run(_cases(tmp_path)["90.2"], _echo_server(stop_at_70), monkeypatch)
    failure = trace.echo_failure
    assert failure is not None and failure.kind == "closed" and failure.echoed == 70


def test_a_peer_that_goes_quiet_is_caught_by_the_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def quiet_at_20(index: int, frame: Frame) -> list[Frame]:
        return [] if index >= 20 else [frame]

    case = _cases(tmp_path)["90.1"]
    monkeypatch.setattr("conformance.runner.steps.case_budget", lambda case, opts: 2.0)
    trace, _ = _run(case, _echo_server(quiet_at_20), monkeypatch, wait=2.0)  # each of the 20 within 2 s, even on a busy machine
    failure = trace.echo_failure
    assert failure is not None and failure.kind == "no-echo" and failure.echoed == 20


@pytest.mark.parametrize("case_id", ["90.1", "90.3"])
def test_a_close_right_after_an_echo_ends_the_step_alike_whoever_sends(case_id: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The echo and the peer's close in one write: the step fails as closed after 6 echoes, whether
    the reader would send the next message (90.1) or the step's task (90.3, chopped)."""
    def close_after_6th(index: int, frame: Frame) -> list[Frame]:
        return [frame, Frame(Opcode.CLOSE, serialize_close(1000, ""))] if index == 5 else [frame]

    trace, _ = _run(_cases(tmp_path)[case_id], _echo_server(close_after_6th), monkeypatch)
    assert trace.echo_failure is not None and (trace.echo_failure.kind, trace.echo_failure.echoed) == ("closed", 6)
    assert trace.steps_stopped is None


def test_pongs_to_the_peers_pings_are_not_the_steps_octets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ping before each echo: the engine's pongs go out as the engine's, so the step's record of
    what it sent (its length and SHA-256, which a replay compares) is its messages alone."""
    def ping_first(index: int, frame: Frame) -> list[Frame]:
        return [Frame(Opcode.PING, b"k%d" % index), frame]

    case = _cases(tmp_path)["90.5"]
    plain, _ = _run(case, _echo_server(_same), monkeypatch)
    pinged, _ = _run(case, _echo_server(ping_first), monkeypatch)
    (quiet,) = [e["regen_end"] for e in plain.wirelog if e.get("regen_end")]
    (busy,) = [e["regen_end"] for e in pinged.wirelog if e.get("regen_end")]
    assert busy["sent"] == quiet["sent"] == 8 * (64 + 6) and busy["sent_sha256"] != ""
    assert pinged.echo_failure is None and pinged.echoed == 8


def test_echoes_the_reader_takes_are_waits_on_the_peer_not_on_a_timer(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight echoes 0.3 s apart with an echo bound of 1.5 s (room for a busy machine): the step's
    task, woken by none of them, wakes when its bound has passed, and that time was spent on the
    peer's echoes."""
    monkeypatch.setattr("conformance.runner.steps.case_budget", lambda case, opts: 1.5)
    trace, _ = _run(_cases(tmp_path)["90.5"], _echo_server(_same, delay=0.3), monkeypatch, wait=1.5)
    assert trace.echo_failure is None and trace.echoed == 8
    assert "step:echo" not in trace.waited_timer and trace.waited["step:echo"] > 1.5


def test_no_wire_octets_are_held_while_an_echo_comes_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the step waits for the echo of a large message, it holds the message (to compare)
    but not the octets it wrote: holding them cost the demo 16 MiB of peak memory (9.1.6)."""
    held: list[int] = []
    original = Session.wait_for

    async def look(self: Session, *args: object, **kwargs: object) -> bool:
        caller = sys._getframe(1)
        if caller.f_code.co_name == "_echo":
            held.extend(len(v) for v in caller.f_locals.values() if isinstance(v, bytes) and len(v) > 50_000)
        return await original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Session, "wait_for", look)
    with _server_thread(_echo_server(_same)) as port:
        trace = asyncio.run(execute_case(_cases(tmp_path)["90.4"], ServerTarget.from_url(f"ws://127.0.0.1:{port}/"),
                                         RunOptions(timeout=30, wait=5, settle=5, close_grace=0.5)))
    assert trace.echo_failure is None and trace.echoed == 5
    assert held == []
