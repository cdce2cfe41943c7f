"""conformance/targets/echo_server.py: the reference server's compressed echoes, read off a real
socket frame by frame (RFC 7692 §7: with context takeover its messages refer back to earlier ones)."""

from __future__ import annotations

import asyncio
import zlib

from conformance.engine.connection import Connection, Role
from conformance.engine.deflate import negotiated_codec
from conformance.engine.handshake import ClientHandshake
from conformance.targets.echo_server import EchoServer
from conformance.wire.deflate import DeflateParams
from conformance.wire.frames import Opcode, parse_header
from conformance.wire.http import parse_response
from conformance.wire.uri import parse_uri
from tests.wire.deflate_data import compressible

TAIL = b"\x00\x00\xff\xff"
OFFER = "permessage-deflate; client_no_context_takeover; client_max_window_bits"  # 12.x's offer



def message(seed: int, size: int) -> bytes:
    return compressible(size, seed)


async def _read_frame(reader: asyncio.StreamReader) -> tuple[Opcode, bool, bytes]:
    head = await reader.readexactly(2)
    while (h := parse_header(head)) is None:
        head += await reader.readexactly(1)
    assert h.mask is None  # a server does not mask (RFC 6455 §5.1)
    return h.opcode, h.rsv1, await reader.readexactly(h.length)


async def _echoes(messages: list[bytes]) -> list[bytes]:
    """Send each message (compressed, from an empty history each time) once the echo of the one
    before came back; the echoes' compressed payloads as the server wrote them."""
    served = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await EchoServer(deflate=True).handle(reader, writer)
        finally:
            served.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        hs = ClientHandshake(parse_uri(f"ws://127.0.0.1:{port}/"), extensions=OFFER)
        writer.write(hs.request().serialize())
        head = await reader.readuntil(b"\r\n\r\n")
        got = parse_response(head)
        assert got is not None
        agreed = hs.check_response(got[0]).extensions
        assert agreed == [("permessage-deflate", [("client_no_context_takeover", None)])]
        client = Connection(Role.CLIENT, deflate=negotiated_codec(
            DeflateParams(client_no_context_takeover=True), "client", None))
        payloads = []
        for m in messages:
            client.send_message(m, text=False)
            writer.write(client.data_to_send())
            opcode, rsv1, payload = await _read_frame(reader)
            assert (opcode, rsv1) == (Opcode.BINARY, True)
            payloads.append(payload)
        client.close(1000, "")
        writer.write(client.data_to_send())
        assert (await _read_frame(reader))[0] is Opcode.CLOSE
        assert await reader.read() == b""  # the server closes TCP first (RFC 6455 §7.1.1)
        writer.close()
        await served.wait()
    return payloads


class TestSection7CompressedEchoes:
    def test_echoes_refer_back_and_a_round_of_messages_is_sent_again_as_before(self) -> None:
        a, b, c = message(1, 12_000), message(2, 12_000), message(3, 9_000)
        messages = [a, b, a, b, a, b, a, c, a]
        payloads = asyncio.run(_echoes(messages))
        d = zlib.decompressobj(-15)  # one history for the whole stream: context takeover
        assert [d.decompress(p + TAIL) for p in payloads] == messages
        assert len(payloads[2]) < len(payloads[0]) // 3  # a's second echo refers back to the first
        # the last 32 KiB before b (a b a) and before a (b a b) recur from the second b and third a
        # on: their forms go out again
        assert payloads[5] == payloads[3] and payloads[6] == payloads[4]
