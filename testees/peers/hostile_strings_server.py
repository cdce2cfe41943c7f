"""A WebSocket echo server that puts hostile markup into every field it controls.

python -m testees.peers.hostile_strings_server [--port 0]   prints `listening on ws://127.0.0.1:PORT/`
Its response headers, the messages it sends, its close reason and its subprotocol all carry HTML
and script, to prove that reports escape what the target controls.
"""

from __future__ import annotations

import asyncio

from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State
from conformance.engine.handshake import ServerHandshake
from conformance.wire.http import parse_request
from testees.peers.testee import run_server

HOSTILE = [
    "<script>document.title='PWNED'</script>",
    "\"><img src=x onerror=\"document.title='PWNED'\">",
    "</title><script>document.title='PWNED'</script>",
    "</pre><div id=\"pwned\">injected</div>",
]
JOINED = " ".join(HOSTILE)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    buf = b""
    while (parsed := parse_request(buf)) is None:
        chunk = await reader.read(65536)
        if not chunk:
            return
        buf += chunk
    req, used = parsed
    response, _ = ServerHandshake().accept(req)
    response.headers["X-Hostile"] = JOINED
    response.headers["Server"] = HOSTILE[0]
    writer.write(response.serialize())
    conn = Connection(Role.SERVER)
    conn.receive_data(buf[used:])
    conn.send_data(JOINED)  # an unexpected message: it ends up in the report as observed traffic
    while conn.state is not State.CLOSED:
        for e in conn.events():
            if isinstance(e, ev.Message) and conn.state is State.OPEN:
                conn.send_data(HOSTILE[1])  # a wrong echo, full of markup
                conn.close(1000, HOSTILE[2][:60])
        writer.write(conn.data_to_send())
        await writer.drain()
        data = await reader.read(65536)
        if not data:
            break
        conn.receive_data(data)
    writer.write(conn.data_to_send())
    writer.close()


async def start(port: int, compression: bool) -> tuple[int, asyncio.Server]:
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    return server.sockets[0].getsockname()[1], server


if __name__ == "__main__":
    run_server(start)
