"""An Autobahn-style testee client built on picows: it runs every case the server offers.

python tests/clients/picows_client.py URL AGENT [--no-compression]
picows delivers frames, so this client assembles fragmented messages itself (closing 1002 on a
broken fragment sequence and 1007 on invalid UTF-8 text) and echoes whole messages; picows answers
pings itself. picows has no permessage-deflate: --no-compression is accepted and ignored.
"""

from __future__ import annotations

import asyncio
import sys

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSProtocolError, WSTransport, ws_connect


class Echo(WSListener):
    def __init__(self, echo: bool = True) -> None:
        self.echo, self.received = echo, []  # type: ignore[var-annotated]
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
            # RFC 6455 §7.1.1: the server closes TCP first; picows leaves that to us, so give it 5 s
            asyncio.get_running_loop().call_later(5, transport.disconnect)
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


async def session(url: str, echo: bool = True) -> list[bytes]:
    async with asyncio.timeout(5):
        transport, listener = await ws_connect(lambda: Echo(echo), url, websocket_handshake_timeout=5,
                                               enable_auto_ping=False, max_frame_size=1 << 30)
    await transport.wait_disconnected()
    return listener.received  # type: ignore[attr-defined, no-any-return]


async def main(url: str, agent: str) -> None:
    count = int((await session(f"{url}/getCaseCount", echo=False))[0])
    for n in range(1, count + 1):
        try:
            await session(f"{url}/runCase?case={n}&agent={agent}")
        except Exception:
            pass
    await session(f"{url}/updateReports?agent={agent}", echo=False)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))  # --no-compression (argv[3]) is accepted and ignored
