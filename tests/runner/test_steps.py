"""How steps reach the wire: the suite's close frame and the frames right after it go out in one
write, so a peer reads them in one read (7.1.2: two close frames; picows answers them read
together with 1002, read apart with 1000, and the verdict must not depend on which)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from conformance.catalog.load import load_file
from conformance.catalog.model import Case
from conformance.runner.judge import judge
from conformance.runner.session import RunOptions, Trace, execute_case
from conformance.targets.tcp import ServerTarget
from conformance.wire.close import serialize_close
from conformance.wire.frames import Frame, Opcode, parse_header, serialize_frame
from tests.runner.test_checkpoint import _accept

CATALOGUE = Path(__file__).parents[2] / "cases"


def _case(file: str, case_id: str) -> Case:
    return next(c for c in load_file(CATALOGUE / file)[0] if c.id == case_id)


def _opcodes(data: bytes) -> list[Opcode]:
    out = []
    while (h := parse_header(data)) is not None and len(data) >= h.header_len + h.length:
        out.append(h.opcode)
        data = data[h.header_len + h.length :]
    return out


def _run(case: Case) -> tuple[Trace, list[list[Opcode]]]:
    """Against a server that records the frames of each read and answers like picows: a close
    read together with a second one gets 1002, a close read alone 1000."""
    reads: list[list[Opcode]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer)
        while data := await reader.read(65536):
            reads.append(_opcodes(data))
            closes = reads[-1].count(Opcode.CLOSE)
            if closes:
                code = 1002 if closes > 1 else 1000
                writer.write(serialize_frame(Frame(Opcode.CLOSE, serialize_close(code, "")), mask=False))
                writer.close()
                return

    with _server_thread(handler) as port:  # its own thread: it reads while the suite writes
        trace = asyncio.run(execute_case(case, ServerTarget.from_url(f"ws://127.0.0.1:{port}/"),
                                   RunOptions(timeout=30, wait=2, settle=5, close_grace=0.5)))
    return trace, reads


@contextlib.contextmanager
def _server_thread(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
                   ) -> Iterator[int]:
    """A loopback server on a thread with its own event loop; yields its port."""
    loop = asyncio.new_event_loop()
    port: list[int] = []
    started = threading.Event()

    async def serve() -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        started.set()
        async with server:
            await server.serve_forever()

    task = loop.create_task(serve())
    thread = threading.Thread(target=lambda: loop.run_until_complete(asyncio.wait([task])), daemon=True)
    thread.start()
    assert started.wait(10), "the test server did not start"
    try:
        yield port[0]
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
        loop.close()


class TestSection5_5_1FramesAfterTheClose:
    def test_two_close_frames_reach_the_peer_in_one_read(self) -> None:
        case = _case("7_close.yaml", "7.1.2")
        verdicts = set()
        for _ in range(5):
            trace, reads = (_run(case))
            assert reads == [[Opcode.CLOSE, Opcode.CLOSE]]
            assert any(e["text"] == "the 2 writes above go out in one write" for e in trace.wirelog)
            result = judge(case, trace)
            verdicts.add((result.behavior, result.behavior_close))
        assert verdicts == {("OK", "INFORMATIONAL")}  # the 1002 answer, every time

    def test_frames_before_the_close_are_written_apart(self) -> None:
        trace, reads = (_run(_case("7_close.yaml", "7.1.5")))
        texts = [e["text"] for e in trace.wirelog if e["dir"] == "tx"]
        held = texts.index("the 2 writes above go out in one write")
        assert texts[held - 3 : held] == ["TEXT fin=0 rsv=000", "CLOSE fin=1 rsv=000", "CONT fin=1 rsv=000"]
        assert reads[-1][-2:] == [Opcode.CLOSE, Opcode.CONT] and not trace.reset
