"""Checkpoints synchronise on a ping (RFC 6455 §5.5.2-§5.5.3), against small loopback servers:
one that fails fast (after a pause, longer than the old fixed settle time), one that answers
pings but never fails, one that answers nothing. The settle time is only an upper bound."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from conformance.catalog.load import load_file
from conformance.catalog.model import Case
from conformance.runner import trace as trace_module
from conformance.runner.judge import judge
from conformance.runner.session import RunOptions, Trace, TxFrames, execute_case
from conformance.targets.tcp import ServerTarget
from conformance.wire.close import serialize_close
from conformance.wire.frames import Frame, FrameHeader, Opcode, apply_mask, parse_header, serialize_frame

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_CASES = """\
group: "1"
title: Checkpoints
defaults:
  rfc: ["RFC 6455 §8.1"]
  level: SHOULD
  close: {by: peer, codes: [1007], clean: false}
cases:
  - id: "1.1.1"
    title: Fail fast inside a fragmented message
    steps:
      - send: {opcode: text, fin: false, payload: {hex: "cebae1bdb9cf83cebcceb5"}}
      - checkpoint: A
      - send: {opcode: continuation, fin: false, payload: {hex: "f4908080"}}
      - checkpoint: B
      - send: {opcode: continuation, payload: {hex: "656469746564"}}
    expect:
      ok: [{timeout: A}]
      non_strict: [{timeout: A}, {timeout: B}]
  - id: "1.1.2"
    title: A checkpoint after the suite's close
    close: {by: us, codes: [1000], clean: true}
    steps:
      - send_close: {code: 1000}
      - checkpoint: A
  - id: "1.1.3"
    title: A checkpoint inside a frame
    steps:
      - send: {opcode: text, payload: "0123456789", length: 100}
      - checkpoint: A
  - id: "1.1.4"
    title: A checkpoint after a fragmented message
    close: {by: us, codes: [1000], clean: true}
    steps:
      - send_message: {opcode: binary, payload: {repeat_hex: "fe", size: 8192}, fragment: 256}
      - checkpoint: A
"""

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _cases(tmp_path: Path) -> dict[str, Case]:
    path = tmp_path / "1_cp.yaml"
    path.write_text(_CASES, encoding="utf-8")
    return {c.id: c for c in load_file(path)[0]}


async def _accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The opening handshake, by hand (RFC 6455 §4.2.2)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
               if line.lower().startswith("sec-websocket-key:"))
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())


def _pong_to(frame: Frame) -> bytes:
    return serialize_frame(Frame(Opcode.PONG, frame.data), mask=False)


async def _frames(reader: asyncio.StreamReader) -> AsyncIterator[Frame]:
    """The client's frames as they arrive, unmasked, with no checks at all."""
    buf = b""
    while data := await reader.read(65536):
        buf += data
        while (h := parse_header(buf)) is not None and len(buf) >= h.header_len + h.length:
            payload = buf[h.header_len : h.header_len + h.length]
            buf = buf[h.header_len + h.length :]
            yield Frame(h.opcode, apply_mask(payload, h.mask) if h.mask else payload, h.fin)


async def slow_fail_fast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Fails with 1007 on the second frame, after a pause of 0.6 s (longer than the old 0.25 s
    settle time): the pong it never sends, not the clock, tells the suite it failed."""
    await _accept(reader, writer)
    seen = 0
    async for frame in _frames(reader):
        if frame.opcode is Opcode.PING:
            writer.write(_pong_to(frame))
            continue
        seen += 1
        if seen == 2:
            await asyncio.sleep(0.6)
            writer.write(serialize_frame(Frame(Opcode.CLOSE, serialize_close(1007, "")), mask=False))
            writer.close()
            return


async def pongs_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers pings and the closing handshake, never fails the connection, echoes nothing."""
    await _accept(reader, writer)
    async for frame in _frames(reader):
        if frame.opcode is Opcode.PING:
            writer.write(_pong_to(frame))
        elif frame.opcode is Opcode.CLOSE:
            writer.write(serialize_frame(Frame(Opcode.CLOSE, frame.data), mask=False))
            writer.close()
            return


async def pongs_before_failing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Fails with 1007 on the second data frame, but reads each data frame together with the ping
    after it and answers the ping first (as websockets does when both come in one read: its
    protocol layer pongs, its connection layer then finds the invalid UTF-8)."""
    await _accept(reader, writer)
    held: list[Frame] = []
    seen = 0
    async for frame in _frames(reader):
        if frame.opcode is not Opcode.PING:
            held.append(frame)
            continue
        writer.write(_pong_to(frame))
        seen += len(held)
        held.clear()
        if seen >= 2:
            writer.write(serialize_frame(Frame(Opcode.CLOSE, serialize_close(1007, "")), mask=False))
            writer.close()
            return


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Completes the handshake, then reads and answers nothing."""
    await _accept(reader, writer)
    while await reader.read(65536):
        pass


async def _run(handler: Handler, case: Case, settle: float) -> Trace:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    opts = RunOptions(timeout=60, wait=0.5, settle=settle, close_grace=0.1)
    try:
        return await execute_case(case, ServerTarget.from_url(f"ws://127.0.0.1:{port}/"), opts)
    finally:
        server.close()


def _texts(trace: Trace) -> list[str]:
    return [e["text"] for e in trace.wirelog]


class TestSection5_5_2PingSynchronises:
    def test_fail_fast_is_seen_however_long_the_close_takes(self, tmp_path: Path) -> None:
        case = _cases(tmp_path)["1.1.1"]
        trace = asyncio.run(_run(slow_fail_fast, case, settle=30))
        assert trace.observations == [("timeout", "A")]  # open at A (its pong), failed at B (no pong)
        assert trace.timing_notes == [] and trace.sync_pongs == 2  # both pings at A
        assert judge(case, trace).behavior == "OK"

    def test_a_peer_that_pongs_is_still_open_without_waiting_the_settle_time(self, tmp_path: Path) -> None:
        case = _cases(tmp_path)["1.1.1"]
        # a 30 s bound per checkpoint and a 60 s budget: only the pongs can end the checkpoints in time
        trace = asyncio.run(_run(pongs_only, case, settle=30))
        assert trace.observations == [("timeout", "A"), ("timeout", "B")]
        assert trace.timing_notes == [] and not trace.timed_out
        assert trace.sync_pongs == 4  # two pings in turn at each checkpoint
        assert not any(k == "pong" for k, _ in trace.observations)  # the sync pongs are hidden ...
        assert sum(e.get("opcode") == Opcode.PONG for e in trace.wirelog) == 4  # ... but in the wire log
        assert judge(case, trace).behavior == "NON-STRICT"

    def test_a_pong_just_before_the_close_is_not_open(self, tmp_path: Path) -> None:
        # the first pong at B comes before the 1007 for the frame read with its ping; the second
        # ping, written after that pong, gets no pong: the peer failed on the frame before B
        case = _cases(tmp_path)["1.1.1"]
        trace = asyncio.run(_run(pongs_before_failing, case, settle=30))
        assert trace.observations == [("timeout", "A")]
        assert trace.timing_notes == [] and trace.sync_pongs == 3
        assert judge(case, trace).behavior == "OK"

    def test_a_peer_that_answers_nothing_is_open_after_the_bound_and_the_result_says_so(
            self, tmp_path: Path) -> None:
        case = _cases(tmp_path)["1.1.1"]
        trace = asyncio.run(_run(silent, case, settle=0.2))
        assert trace.observations == [("timeout", "A"), ("timeout", "B")]
        assert len(trace.timing_notes) == 2 and "timing-dependent" in trace.timing_notes[0]
        assert "rests on a timeout" in judge(case, trace).result


class TestNoPingPossible:
    def test_after_the_suites_close_no_ping_is_sent(self, tmp_path: Path) -> None:
        case = _cases(tmp_path)["1.1.2"]
        trace = asyncio.run(_run(pongs_only, case, settle=0.2))
        assert not any("synchronisation ping" in t for t in _texts(trace))
        # the close reply is what the checkpoint waits for: the steps end there, nothing is recorded
        assert trace.close_received is not None and trace.observations == [] and not trace.timing_notes

    def test_inside_a_frame_no_ping_is_sent(self, tmp_path: Path) -> None:
        case = _cases(tmp_path)["1.1.3"]
        trace = asyncio.run(_run(pongs_only, case, settle=0.2))
        assert not any("synchronisation ping" in t for t in _texts(trace))
        assert "middle of a frame" in trace.timing_notes[0]


class TestWholeFramesAreNotParsed:
    def test_a_ping_follows_a_fragmented_message_without_parsing_its_headers(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The engine says its message is whole frames (33 of them here): TxFrames need not parse
        a header of it to know that a ping may follow (it still parses the pings and the close)."""
        case = _cases(tmp_path)["1.1.4"]
        parsed: list[Opcode] = []

        def parse(buf: bytearray) -> FrameHeader | None:
            h = parse_header(buf)
            if h is not None:
                parsed.append(h.opcode)
            return h

        monkeypatch.setattr(trace_module, "parse_header", parse)
        trace = asyncio.run(_run(pongs_only, case, settle=30))
        assert trace.sync_pongs == 2 and trace.timing_notes == []
        assert trace.observations == [("timeout", "A")]
        assert parsed == [Opcode.PING, Opcode.PING, Opcode.CLOSE]


class TestTxFrames:
    def test_whole_frames_between_frames_leave_it_between_frames(self) -> None:
        tx = TxFrames()
        tx.feed(serialize_frame(Frame(Opcode.TEXT, b"a" * 300), mask=b"abcd"), whole_frames=True)
        assert tx.between_frames and not tx.close_sent

    @pytest.mark.parametrize("cut", [1, 2, 3, 7, 9])
    def test_whole_frames_after_a_partial_frame_are_parsed(self, cut: int) -> None:
        """After raw octets that end inside a frame, the writer's word is not enough: the octets
        are parsed as without it."""
        partial = serialize_frame(Frame(Opcode.BINARY, b"z" * 10), mask=b"abcd")[:cut]
        frames = b"".join(serialize_frame(Frame(op, b"q" * n), mask=b"wxyz")
                          for op, n in ((Opcode.BINARY, 200), (Opcode.CONT, 5), (Opcode.CLOSE, 2)))
        told, parsed = TxFrames(), TxFrames()
        told.feed(partial)
        parsed.feed(partial)
        told.feed(frames, whole_frames=True)
        parsed.feed(frames)
        assert (told.head, told.left, told.close_sent) == (parsed.head, parsed.left, parsed.close_sent)
        assert not told.between_frames or parsed.between_frames

    @pytest.mark.parametrize("size", [0, 5, 125, 300, 70000])
    def test_frame_boundaries_byte_by_byte(self, size: int) -> None:
        data = serialize_frame(Frame(Opcode.TEXT, b"x" * size), mask=b"abcd")
        tx = TxFrames()
        for i in range(len(data)):
            assert tx.between_frames == (i == 0)
            tx.feed(data[i : i + 1])
        assert tx.between_frames and not tx.close_sent

    def test_several_frames_in_one_write_and_a_close(self) -> None:
        tx = TxFrames()
        tx.feed(serialize_frame(Frame(Opcode.TEXT, b"a" * 200), mask=False)
                + serialize_frame(Frame(Opcode.CLOSE, b"\x03\xe8"), mask=False))
        assert tx.between_frames and tx.close_sent

    def test_a_declared_length_longer_than_sent(self) -> None:
        tx = TxFrames()
        tx.feed(serialize_frame(Frame(Opcode.TEXT, b"abc"), mask=False, declared_length=10))
        assert not tx.between_frames
        tx.feed(b"1234567")
        assert tx.between_frames
