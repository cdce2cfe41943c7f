"""A wsproto echo server over asyncio streams on loopback, the real sans-IO library as a test peer.

python -m testees.peers.wsproto_server [--port 0] [--no-compression]
Prints `listening on ws://127.0.0.1:PORT/` once it accepts connections. Echoes text as text and
binary as binary, assembled across frames; wsproto has no size limit and sends no pings itself.
"""

from __future__ import annotations

import asyncio

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Request, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from testees.peers.testee import run_server


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, compress: bool) -> None:
    ws = WSConnection(ConnectionType.SERVER)
    parts: list[str | bytes | bytearray] = []
    try:
        while True:
            data = await reader.read(65536)
            ws.receive_data(data or None)
            for event in ws.events():
                if isinstance(event, Request):
                    writer.write(ws.send(AcceptConnection(extensions=[PerMessageDeflate()] if compress else [])))
                elif isinstance(event, (TextMessage, BytesMessage)):
                    parts.append(event.data)
                    if event.message_finished:
                        message = type(event)(data=parts[0][:0].join(parts))  # type: ignore[arg-type]
                        parts.clear()
                        writer.write(ws.send(message))
                elif isinstance(event, Ping):
                    writer.write(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                        writer.write(ws.send(event.response()))
                    return
            await writer.drain()
            if not data:
                return
    except RemoteProtocolError as exc:
        if exc.event_hint is not None:
            writer.write(ws.send(exc.event_hint))
    except (OSError, LocalProtocolError):
        pass
    finally:
        try:
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        except OSError:
            pass


async def start(port: int, compression: bool) -> tuple[int, asyncio.Server]:
    server = await asyncio.start_server(lambda r, w: serve(r, w, compression), "127.0.0.1", port)
    return server.sockets[0].getsockname()[1], server


if __name__ == "__main__":
    run_server(start)
