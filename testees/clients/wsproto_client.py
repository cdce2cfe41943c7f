"""An Autobahn-style testee client built on wsproto over asyncio streams: it runs every case the server offers.

python -m testees.clients.wsproto_client URL AGENT [--no-compression]
Offers permessage-deflate unless --no-compression; echoes text as text and binary as binary,
assembled across frames; wsproto has no size limit and sends no pings itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, RejectConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate


async def session(url: str, compress: bool, echo: bool = True) -> list[str | bytes]:
    u = urlsplit(url)
    async with asyncio.timeout(5):
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
    ws = WSConnection(ConnectionType.CLIENT)
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    writer.write(ws.send(Request(host=u.netloc, target=target, extensions=[PerMessageDeflate()] if compress else [])))
    received: list[str | bytes] = []
    parts: list[str | bytes | bytearray] = []
    try:
        done = False
        while not done:
            data = await asyncio.wait_for(reader.read(65536), 5 if ws.state is ConnectionState.CONNECTING else None)
            ws.receive_data(data or None)
            done = not data
            for event in ws.events():
                if isinstance(event, (TextMessage, BytesMessage)):
                    parts.append(event.data)
                    if event.message_finished:
                        received.append(parts[0][:0].join(parts))  # type: ignore[arg-type]
                        parts.clear()
                        if echo:
                            writer.write(ws.send(type(event)(data=received[-1])))  # type: ignore[arg-type]
                elif isinstance(event, Ping):
                    writer.write(ws.send(event.response()))
                elif isinstance(event, RejectConnection):
                    return received
                elif isinstance(event, CloseConnection):
                    if ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                        writer.write(ws.send(event.response()))
                    done = True
                    break
            await writer.drain()
        with contextlib.suppress(TimeoutError):  # the server closes TCP first
            await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    return received


async def main(url: str, agent: str, compress: bool) -> None:
    count = int((await session(f"{url}/getCaseCount", compress, echo=False))[0])
    for n in range(1, count + 1):
        try:
            await session(f"{url}/runCase?case={n}&agent={agent}", compress)
        except Exception:
            pass
    await session(f"{url}/updateReports?agent={agent}", compress, echo=False)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], "--no-compression" not in sys.argv[3:]))
