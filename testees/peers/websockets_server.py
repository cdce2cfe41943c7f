"""A websockets echo server on loopback, the real library as a test and benchmark peer.

python -m testees.peers.websockets_server [--port 0] [--no-compression]
Prints `listening on ws://127.0.0.1:PORT/` once it accepts connections.
"""

from __future__ import annotations

from websockets.asyncio.server import Server, serve

from testees.peers.testee import limits, run_server


async def echo(ws) -> None:  # type: ignore[no-untyped-def]
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:
        pass


async def start(port: int, compression: bool) -> tuple[int, Server]:
    server = await serve(echo, "127.0.0.1", port, **limits({"max_size": None}), compression="deflate" if compression else None,
                         ping_interval=None)
    return next(iter(server.sockets)).getsockname()[1], server


if __name__ == "__main__":
    run_server(start)
