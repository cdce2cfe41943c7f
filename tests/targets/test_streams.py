"""A peer's last octets survive the reset that follows them, whichever side notices it first."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest

from conformance.targets.streams import open_stream, start_stream_server


def _reset_after(peer: socket.socket, data: bytes) -> None:
    peer.sendall(data)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()  # SO_LINGER 0: a reset instead of a FIN


async def _read_all(reader: asyncio.StreamReader) -> tuple[bytes, BaseException | None]:
    got = b""
    try:
        while chunk := await reader.read(1 << 16):
            got += chunk
    except ConnectionError as exc:
        return got, exc
    return got, None


@pytest.mark.parametrize("write_first", [False, True])
def test_octets_before_a_reset_are_read_then_the_reset_is_raised(write_first: bool) -> None:
    async def go() -> tuple[bytes, BaseException | None]:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            reader, writer = await open_stream(*listener.getsockname()[:2])
            peer, _ = listener.accept()
            _reset_after(peer, b"message and close frame")
            time.sleep(0.1)  # both the octets and the reset are queued before the loop looks
            if write_first:
                writer.write(b"our close reply")  # the write meets the reset before any read
            await asyncio.sleep(0)
            got = await _read_all(reader)
            writer.close()
            return got

    data, exc = asyncio.run(go())
    assert data == b"message and close frame"
    assert isinstance(exc, ConnectionResetError | BrokenPipeError)


def test_a_server_keeps_what_a_client_sent_before_resetting() -> None:
    seen: list[tuple[bytes, BaseException | None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)  # the client has sent and reset by now
        writer.write(b"late answer")
        seen.append(await _read_all(reader))
        writer.close()

    async def go() -> None:
        server = await start_stream_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        _reset_after(client, b"close frame")
        while not seen:
            await asyncio.sleep(0.05)
        server.close()

    asyncio.run(asyncio.wait_for(go(), 10))
    assert seen[0][0] == b"close frame"
