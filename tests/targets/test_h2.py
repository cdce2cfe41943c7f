"""HTTP/2 streams (RFC 8441 over RFC 9113): flow control, END_STREAM as FIN, RST_STREAM as a
reset, and the target URL; two real H2Links on a loopback socket, the real h2 library."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from conformance.errors import UsageError
from conformance.targets.h2 import H2Link, H2Stream, H2Target

WINDOW = 65535  # RFC 9113 §6.9.2: the initial window of a stream and of the connection
REQUEST = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"http"),
           (b":path", b"/"), (b":authority", b"127.0.0.1"), (b"sec-websocket-version", b"13")]


async def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.005)


async def _pair(body: Callable[[H2Link, H2Stream, H2Stream], Awaitable[None]]) -> None:
    """A server link and a client link on loopback, with one stream opened and answered."""
    accepted: asyncio.Queue[H2Link] = asyncio.Queue()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        link = H2Link(r, w, client=False, connect_protocol=1, window=WINDOW)
        link.start()
        await accepted.put(link)
        await link.closed.wait()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    client = H2Link(r, w, client=True, validate=False, window=WINDOW)
    client.start()
    srv = await accepted.get()
    await asyncio.wait_for(client.settings_seen.wait(), 10)
    cs = client.open_stream(REQUEST, owns_link=True)
    ss = await asyncio.wait_for(srv.incoming.get(), 10)
    assert ss is not None
    srv.respond(ss, [(b":status", b"200")])
    await asyncio.wait_for(cs.headers_ready.wait(), 10)
    try:
        await body(srv, ss, cs)
    finally:
        cs.close()
        await cs.wait_closed()
        server.close()


async def _ping(link: H2Link) -> None:
    """An HTTP/2 PING and its ACK: the peer has processed every frame sent before it."""
    acked = asyncio.Event()
    seen = link._on_event

    def spy(e: object) -> None:
        import h2.events

        if isinstance(e, h2.events.PingAckReceived):
            acked.set()
        seen(e)  # type: ignore[arg-type]

    link._on_event = spy  # type: ignore[method-assign]
    link.conn.ping(b"12345678")
    link.flush()
    await asyncio.wait_for(acked.wait(), 10)


class TestFlowControl:
    """RFC 9113 §5.2 / §6.9: a sender never exceeds the receiver's window; the window comes back
    only for what the reader consumed."""

    def test_writer_stops_at_the_window_and_resumes_on_window_update(self) -> None:
        data = bytes(range(256)) * 1200  # 307,200 octets: more than four initial windows

        async def body(srv: H2Link, ss: H2Stream, cs: H2Stream) -> None:
            cs.write(data)
            await _until(lambda: sum(map(len, ss._in)) == WINDOW)
            await _ping(cs.link)  # everything the client could send has arrived
            assert sum(map(len, ss._in)) == WINDOW  # not one octet beyond the window
            assert len(cs._out) == len(data) - WINDOW
            got = bytearray()
            while len(got) < len(data):
                got += await ss.read(1 << 16)  # reading gives the window back
            assert bytes(got) == data
            await asyncio.wait_for(cs.drain(), 10)

        asyncio.run(_pair(body))

    def test_unread_data_holds_the_window(self) -> None:
        async def body(srv: H2Link, ss: H2Stream, cs: H2Stream) -> None:
            ss.write(b"x" * 100_000)
            await _until(lambda: sum(map(len, cs._in)) == WINDOW)
            await _ping(srv)
            assert srv.conn.local_flow_control_window(ss.id) == 0

        asyncio.run(_pair(body))


class TestStreamEnd:
    """RFC 8441 §5: END_STREAM stands for TCP's FIN, RST_STREAM for a TCP reset."""

    def test_end_stream_reads_as_eof_after_the_data(self) -> None:
        async def body(srv: H2Link, ss: H2Stream, cs: H2Stream) -> None:
            ss.write(b"last words")
            ss.write_eof()
            assert await cs.read() == b"last words"
            assert await cs.read() == b""

        asyncio.run(_pair(body))

    def test_rst_stream_raises_after_the_buffered_data(self) -> None:
        async def body(srv: H2Link, ss: H2Stream, cs: H2Stream) -> None:
            ss.write(b"before the reset")
            await ss.drain()
            await _until(lambda: bool(cs._in))
            ss.abort()
            await _until(lambda: cs.reset_code is not None)
            assert await cs.read() == b"before the reset"
            with pytest.raises(ConnectionResetError, match="CANCEL"):
                await cs.read()

        asyncio.run(_pair(body))

    def test_rst_stream_no_error_after_end_stream_reads_as_eof(self) -> None:
        """RFC 9113 §8.1: after a complete response a server may reset with NO_ERROR to say "stop
        sending"; what it sent stays whole and the stream ended in order."""
        async def body(srv: H2Link, ss: H2Stream, cs: H2Stream) -> None:
            ss.write(b"close frame")
            ss.write_eof()
            await ss.drain()
            srv.reset_stream(ss, 0)
            await _until(lambda: cs.reset_code is not None)
            assert await cs.read() == b"close frame"
            assert await cs.read() == b""

        asyncio.run(_pair(body))

    def test_connection_lost_reads_as_reset_and_writes_go_nowhere(self) -> None:
        async def body(srv: H2Link, ss: H2Stream, cs: H2Stream) -> None:
            srv.abort()  # TCP goes without END_STREAM or GOAWAY
            await asyncio.wait_for(cs.link.closed.wait(), 10)
            with pytest.raises(ConnectionResetError, match="lost"):
                await cs.read()
            cs.write(b"into the void")  # as into a socket whose peer has gone: no error yet
            await cs.drain()

        asyncio.run(_pair(body))

    def test_write_after_end_stream_is_refused(self) -> None:
        async def body(srv: H2Link, ss: H2Stream, cs: H2Stream) -> None:
            cs.write_eof()
            await cs.drain()
            with pytest.raises(ConnectionResetError):
                cs.write(b"too late")
            assert await ss.read() == b""

        asyncio.run(_pair(body))


class TestTarget:
    def test_http_urls_map_to_websocket_uris(self) -> None:
        t = H2Target.from_url("http://127.0.0.1:8443/chat?x=1")
        assert (t.uri.secure, t.uri.port, t.uri.resource_name, t.scheme) == (False, 8443, "/chat?x=1", "http")
        s = H2Target.from_url("https://localhost/")
        assert (s.uri.secure, s.uri.port, s.scheme) == (True, 443, "https")
        ctx = s.ssl_context()
        assert ctx is not None

    @pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "127.0.0.1:80", "http://10.1.2.3/"])
    def test_bad_urls_are_usage_errors(self, url: str) -> None:
        with pytest.raises(UsageError):
            H2Target.from_url(url)
