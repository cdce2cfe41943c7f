"""A picows echo server on loopback, the real library as a test peer.

python -m testees.peers.picows_server [--port 0] [--no-compression]
Prints `listening on ws://127.0.0.1:PORT/` once it accepts connections. picows delivers frames, so
this peer assembles fragmented messages itself (closing 1002 on a broken fragment sequence and 1007
on invalid UTF-8 text) and echoes whole messages; picows answers pings itself. picows has no
permessage-deflate: --no-compression is accepted and ignored. 1 GiB frame limit, no auto-ping.
"""

from __future__ import annotations

import asyncio

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSProtocolError, WSTransport, ws_create_server

from testees.peers.testee import limits, run_server


class Echo(WSListener):
    """Whole messages assembled from frames and echoed (unless `echo` is off; they are kept in
    `received`). After answering a close it drops TCP at once, or after `linger` seconds: a client
    leaves closing TCP to the server (RFC 6455 §7.1.1), and picows leaves it to the application."""

    def __init__(self, echo: bool = True, linger: float = 0.0) -> None:
        self.echo, self.linger = echo, linger
        self.received: list[bytes] = []
        self.opcode: WSMsgType | None = None
        self.parts: list[bytes] = []

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.CLOSE:
            code = frame.get_close_code()
            if code == WSCloseCode.NO_INFO:  # send_close(NO_INFO) would put code 0 on the wire
                transport.send(WSMsgType.CLOSE, b"")
            else:
                transport.send_close(code, frame.get_close_message())
            if self.linger:
                asyncio.get_running_loop().call_later(self.linger, transport.disconnect)
            else:
                transport.disconnect()
            return
        if kind not in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            return  # PONG (PING is answered by picows)
        if (kind == WSMsgType.CONTINUATION) != (self.opcode is not None):
            raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, "bad fragment sequence")
        self.opcode = self.opcode or kind
        self.parts.append(frame.get_payload_as_bytes())
        if frame.fin:
            opcode, data = self.opcode, b"".join(self.parts)
            self.opcode, self.parts = None, []
            if opcode == WSMsgType.TEXT:
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    raise WSProtocolError(WSCloseCode.INVALID_TEXT, "invalid UTF-8") from None
            self.received.append(data)
            if self.echo:
                transport.send(opcode, data)


async def start(port: int, compression: bool) -> tuple[int, asyncio.Server]:
    server = await ws_create_server(lambda request: Echo(), "127.0.0.1", port,
                                    enable_auto_ping=False, **limits({"max_frame_size": 1 << 30}))
    return server.sockets[0].getsockname()[1], server


if __name__ == "__main__":
    run_server(start)
