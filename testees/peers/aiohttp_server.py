"""An aiohttp echo server on loopback, the real library as a test peer.

python -m testees.peers.aiohttp_server [--port 0] [--no-compression]
Prints `listening on ws://127.0.0.1:PORT/` once it accepts connections. Echoes text as text and
binary as binary; no message size limit, no heartbeat, permessage-deflate unless --no-compression.
"""

from __future__ import annotations

from aiohttp import WSMsgType, web

from testees.peers.testee import limits, run_server


def make_app(compress: bool) -> web.Application:
    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=compress, **limits({"max_msg_size": 0}), heartbeat=None, receive_timeout=None)
        await ws.prepare(request)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
        except Exception:
            pass
        return ws

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", echo)
    return app


async def start(port: int, compression: bool) -> tuple[int, web.AppRunner]:
    runner = web.AppRunner(make_app(compression), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner.addresses[0][1], runner


if __name__ == "__main__":
    run_server(start)
