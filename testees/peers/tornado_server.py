"""A tornado echo server on loopback, the real library as a test peer.

python -m testees.peers.tornado_server [--port 0] [--no-compression]
Prints `listening on ws://127.0.0.1:PORT/` once it accepts connections. Echoes text as text and
binary as binary; 1 GiB message limit, no pings, permessage-deflate unless --no-compression.
"""

from __future__ import annotations

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from testees.peers.testee import limits, run_server


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


async def start(port: int, compression: bool) -> tuple[int, HTTPServer]:
    app = Application([(r"/.*", Echo)], **limits({"websocket_max_message_size": 1 << 30}),
                      websocket_ping_interval=0,
                      compression_options={} if compression else None)
    sockets = bind_sockets(port, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    return sockets[0].getsockname()[1], server


if __name__ == "__main__":
    run_server(start)
