"""A tornado echo server on loopback, the real library as a test peer.

python tests/peers/tornado_server.py [--port 0] [--no-compression]
Prints `listening on ws://127.0.0.1:PORT/` once it accepts connections. Echoes text as text and
binary as binary; 1 GiB message limit, no pings, permessage-deflate unless --no-compression.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application
from tornado.websocket import WebSocketClosedError, WebSocketHandler


class Echo(WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def get_compression_options(self) -> dict[str, object] | None:
        options: dict[str, object] | None = self.settings["compression_options"]
        return options

    async def on_message(self, message: str | bytes) -> None:
        try:
            await self.write_message(message, binary=isinstance(message, bytes))
        except WebSocketClosedError:
            pass


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-compression", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)  # the spawner never drains stderr
    app = Application([(r"/.*", Echo)], websocket_max_message_size=1 << 30, websocket_ping_interval=0,
                      compression_options=None if args.no_compression else {})
    sockets = bind_sockets(args.port, "127.0.0.1")
    HTTPServer(app).add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    print(f"listening on ws://127.0.0.1:{port}/", flush=True)
    await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
