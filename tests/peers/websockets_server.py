"""A websockets echo server on loopback, the real library as a test and benchmark peer.

python tests/peers/websockets_server.py [--port 0] [--no-compression]
Prints `listening on ws://127.0.0.1:PORT/` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import serve


async def echo(ws) -> None:  # type: ignore[no-untyped-def]
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:
        pass


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-compression", action="store_true")
    args = ap.parse_args()
    async with serve(echo, "127.0.0.1", args.port, max_size=None,
                     compression=None if args.no_compression else "deflate",
                     ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
