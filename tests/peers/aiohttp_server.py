"""An aiohttp echo server on loopback, the real library as a test peer.

python tests/peers/aiohttp_server.py [--port 0] [--no-compression]
Prints `listening on ws://127.0.0.1:PORT/` once it accepts connections. Echoes text as text and
binary as binary; no message size limit, no heartbeat, permessage-deflate unless --no-compression.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiohttp import WSMsgType, web


def make_app(compress: bool) -> web.Application:
    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=compress, max_msg_size=0, heartbeat=None, receive_timeout=None)
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


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-compression", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)  # the spawner never drains stderr
    runner = web.AppRunner(make_app(not args.no_compression), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = runner.addresses[0][1]
    print(f"listening on ws://127.0.0.1:{port}/", flush=True)
    await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
