"""What every echo testee server shares: its command line, the line that tells the spawner it
listens, and serving until it is stopped.

    python -m testees.peers.NAME_server [--port 0] [--no-compression] [--library-limits]
prints `listening on ws://127.0.0.1:PORT/` once it accepts connections (see spawn.py).

The servers turn their library's message size limits off, so that Autobahn's large messages (group
9, up to 16 MiB) are echoed; `--library-limits` keeps the library's own defaults instead, for the
resource group (30), whose findings are about a library as it ships.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

# start(port, compression) listens and returns (the port it got, what must stay alive while serving)
Start = Callable[[int, bool], Awaitable[tuple[int, Any]]]
_library_limits = False


def limits(off: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments that turn the library's size limits off, unless --library-limits."""
    return {} if _library_limits else off


def run_server(start: Start) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-compression", action="store_true")
    ap.add_argument("--library-limits", action="store_true", help="keep the library's default size limits")
    args = ap.parse_args()
    global _library_limits
    _library_limits = args.library_limits
    logging.disable(logging.CRITICAL)  # the spawner never drains stderr

    async def main() -> None:
        port, _alive = await start(args.port, not args.no_compression)
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await asyncio.get_running_loop().create_future()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
