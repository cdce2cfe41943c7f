"""A peer may ping at any time (RFC 6455 §5.5.2): keepalive pings from a real websockets server
are answered by the engine and never turn an OK case into FAILED."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from websockets.asyncio.server import serve

from conformance.cli import main


def test_keepalive_pings_do_not_fail_cases(tmp_path: Path) -> None:
    port: list[int] = []
    ready = threading.Event()
    stop = threading.Event()

    async def echo(ws) -> None:  # type: ignore[no-untyped-def]
        async for message in ws:
            await asyncio.sleep(0.02)  # long enough for a keepalive ping to come first
            await ws.send(message)

    async def run() -> None:
        async with serve(echo, "127.0.0.1", 0, ping_interval=0.01, ping_timeout=None) as server:
            port.append(next(iter(server.sockets)).getsockname()[1])
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        code = main(["run", "--quiet", "--server", f"ws://127.0.0.1:{port[0]}/", "--cases", "1.1.1", "1.2.2", "5.6",
                     "--out", str(tmp_path)])
    finally:
        stop.set()
        thread.join(5)
    (cases,) = json.loads((tmp_path / "index.json").read_text()).values()
    assert code == 0 and all(e["behavior"] == "OK" for e in cases.values()), cases
    logs = [json.loads((tmp_path / e["reportfile"]).read_text())["wirelog"] for e in cases.values()]
    assert any(w.get("opcode") == 9 for log in logs for w in log)  # the pings did arrive, and are in the log
