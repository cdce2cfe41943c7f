"""The watch around a case (runner/watched.py): after a server dropped TCP without a close frame,
the wait for its possible death ends on what the server does, not on a timer.

The server here is a real process on loopback that answers the opening handshake (the reference's
own accept computation) and drops every connection at its first frame. In "alive" mode it goes on
serving; in "dies" mode it drops the connection, keeps its listening socket a moment longer (as
a process whose sockets close before the kernel reports its death), then exits with status 3.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from conformance.catalog.load import load_catalogue
from conformance.runner.trace import RunOptions
from conformance.runner.watched import execute_watched
from conformance.targets.tcp import ServerTarget
from conformance.targets.watch import WatchedServer

CASE = next(c for c in load_catalogue().cases if c.id == "1.1.1")

DROPPER = """\
import asyncio, os, sys, time
from conformance.engine.handshake import ServerHandshake
from conformance.wire.http import parse_request

MODE, PORT = sys.argv[1], int(sys.argv[2])

async def handle(reader, writer):
    head = await reader.readuntil(b"\\r\\n\\r\\n")
    request, _ = parse_request(head)
    response, _ = ServerHandshake().accept(request)
    writer.write(response.serialize())
    await writer.drain()
    if not await reader.read(1):
        return  # the watch's liveness probe closes without a frame
    writer.transport.abort()
    if MODE == "dies":
        time.sleep(0.05)  # the listening socket is still open, the process is not gone yet
        os._exit(3)

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", PORT)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def _run(mode: str, tmp_path: Path) -> Any:
    script = tmp_path / "dropper.py"
    script.write_text(DROPPER)
    watch = WatchedServer(f"{sys.executable} {script} {mode} {{port}}")
    watch.start()
    try:
        opts = RunOptions(wait=5.0, watch=watch)
        return asyncio.run(execute_watched(CASE, ServerTarget.from_url(watch.url), opts))
    finally:
        watch.close()


def test_a_server_alive_after_dropping_ends_the_wait_with_its_handshake(tmp_path: Path) -> None:
    trace = _run("alive", tmp_path)
    assert trace.eof and trace.close_received is None
    figures = trace.wait_figures()
    assert "watch" in figures["waited"]  # the wait took place ...
    assert "watch" not in figures.get("waited_on_timer", {})  # ... and the server's 101 ended it
    assert "exit" not in trace.measurements["server"]


def test_a_server_that_dies_after_dropping_is_still_seen_dying(tmp_path: Path) -> None:
    trace = _run("dies", tmp_path)
    server = trace.measurements["server"]
    assert server["exit"].startswith("exited with status 3") and server["restarted"]
    assert "watch" not in trace.wait_figures().get("waited_on_timer", {})  # its exit ended the wait
