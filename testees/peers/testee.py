"""What every echo testee server shares: its command line, the line that tells the spawner it
listens, and serving until it is stopped.

    python -m testees.peers.NAME_server [--port 0] [--no-compression]
prints `listening on ws://127.0.0.1:PORT/` once it accepts connections (see spawn.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

# start(port, compression) listens and returns (the port it got, what must stay alive while serving)
Start = Callable[[int, bool], Awaitable[tuple[int, Any]]]


def run_server(start: Start) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-compression", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)  # the spawner never drains stderr

    async def main() -> None:
        port, _alive = await start(args.port, not args.no_compression)
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await asyncio.get_running_loop().create_future()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
