"""Hostile and broken servers on loopback, to prove the suite ends every case with a verdict.

python -m testees.hostile.serve BEHAVIOUR [--port 0] [--connections N]
prints `listening on ws://127.0.0.1:PORT/`. Behaviours:

  stall            accepts TCP and never answers
  slow-drip        answers the handshake one octet every 0.5 s
  reset            accepts, then resets the connection at once
  garbage-http     answers with octets that are not HTTP
  endless-headers  answers "101" and then header lines forever
  flood            completes the handshake, then sends 64 KiB messages without end
  huge-length      completes the handshake, then declares a 2^62-octet frame and drips octets
  stop-reading     completes the handshake and never reads again
  dies             serves --connections connections as a correct echo server, then exits
  flaky            a correct echo server that drops every other connection right after the handshake
  autobahn-reset   Autobahn's client protocol (/getCaseCount answers --connections, /runCase sends
                   one message and checks its echo) where every connection ends the way Autobahn's
                   fuzzingserver can end it: the server's last message and close frame, then at
                   once a reset (SO_LINGER 0), before the client's close reply can arrive; prints
                   `echoed case N` for each case whose echo came back
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import struct
import sys

from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State
from conformance.engine.handshake import ServerHandshake
from conformance.wire.frames import Frame, Opcode, serialize_frame
from conformance.wire.http import parse_request

STATE = {"served": 0}


async def read_request(reader: asyncio.StreamReader) -> tuple[object, bytes] | None:
    buf = b""
    while (parsed := parse_request(buf)) is None:
        chunk = await reader.read(65536)
        if not chunk:
            return None
        buf += chunk
    req, used = parsed
    return req, buf[used:]


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes | None:
    got = await read_request(reader)
    if got is None:
        return None
    req, rest = got
    response, _ = ServerHandshake().accept(req)  # type: ignore[arg-type]
    writer.write(response.serialize())
    await writer.drain()
    return rest


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rest: bytes) -> None:
    conn = Connection(Role.SERVER)
    if rest:
        conn.receive_data(rest)  # b"" would mean end of stream
    while True:
        for e in conn.events():
            if isinstance(e, ev.Message) and conn.state is State.OPEN:
                conn.send_message(e.data, text=e.opcode is Opcode.TEXT)
        writer.write(conn.data_to_send())
        await writer.drain()
        if conn.state is State.CLOSED:
            return
        data = await reader.read(65536)
        if not data:
            return
        conn.receive_data(data)


async def behave(name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int) -> None:
    if name == "stall":
        await asyncio.sleep(3600)
    elif name == "reset":
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    elif name == "garbage-http":
        await read_request(reader)
        writer.write(os.urandom(64) + b"\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(3600)
    elif name == "slow-drip":
        await read_request(reader)
        for octet in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n":
            writer.write(bytes([octet]))
            await writer.drain()
            await asyncio.sleep(0.5)
    elif name == "endless-headers":
        await read_request(reader)
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\n")
        i = 0
        while True:
            writer.write(b"X-Header-%d: %s\r\n" % (i, b"v" * 100))
            await writer.drain()
            i += 1
    elif name == "flood":
        if await handshake(reader, writer) is None:
            return
        frame = serialize_frame(Frame(Opcode.BINARY, b"\xab" * 65536))
        while True:
            writer.write(frame)
            await writer.drain()
    elif name == "huge-length":
        if await handshake(reader, writer) is None:
            return
        writer.write(bytes([0x82, 0x7F]) + (1 << 62).to_bytes(8, "big"))
        while True:
            writer.write(b"\0" * 1024)
            await writer.drain()
            await asyncio.sleep(0.1)
    elif name == "stop-reading":
        await handshake(reader, writer)
        await asyncio.sleep(3600)
    elif name == "autobahn-reset":
        await autobahn_reset(reader, writer, limit)
    elif name in ("dies", "flaky"):
        rest = await handshake(reader, writer)
        if rest is None:
            return  # not a WebSocket connection (the suite's reachability probe): not counted
        STATE["served"] += 1
        if name == "flaky" and STATE["served"] % 2 == 1:
            writer.transport.abort()
            return
        await echo(reader, writer, rest)
        if name == "dies" and STATE["served"] >= limit:
            os._exit(0)


async def autobahn_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: int) -> None:
    got = await read_request(reader)
    if got is None:
        return
    req, rest = got
    response, _ = ServerHandshake().accept(req)  # type: ignore[arg-type]
    path = str(req.path)  # type: ignore[attr-defined]
    conn = Connection(Role.SERVER)
    out = response.serialize()
    if path.startswith("/getCaseCount"):
        conn.send_data(str(count))
    elif path.startswith("/runCase"):
        conn.send_data("hello")
        writer.write(out + conn.data_to_send())
        out = b""
        if rest:
            conn.receive_data(rest)
        echoed = False
        while not echoed and (data := await reader.read(65536)):
            conn.receive_data(data)
            echoed = any(isinstance(e, ev.Message) and e.data == b"hello" for e in conn.events())
        if echoed:
            print(f"echoed case {path.split('case=')[1].split('&', maxsplit=1)[0]}", flush=True)
    conn.close(1000)
    writer.write(out + conn.data_to_send())
    await writer.drain()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # a reset, whatever the client still sends


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("behaviour")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--connections", type=int, default=5)
    args = ap.parse_args()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await behave(args.behaviour, reader, writer, args.connections)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def run() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", args.port)
        print(f"listening on ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
