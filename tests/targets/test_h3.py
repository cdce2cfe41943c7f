"""conformance/targets/h3.py over real QUIC on loopback: an HTTP/3 link carries a WebSocket stream
that reads and writes like an asyncio stream pair, FIN reads as EOF, a reset as ConnectionResetError,
and the setting and the certificate are what the RFCs and TLS ask."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from conformance.errors import TargetError, UsageError
from conformance.targets.h3 import (
    H3_REQUEST_CANCELLED,
    H3Link,
    H3Target,
    connect_h3,
    error_name,
    self_signed_certificate,
    serve_h3,
)

REQUEST = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"),
           (b":path", b"/"), (b":authority", b"127.0.0.1"), (b"sec-websocket-version", b"13")]
Handler = Callable[[H3Link], Coroutine[Any, Any, None]]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return self_signed_certificate(str(tmp_path_factory.mktemp("h3cert")))


async def _echo_streams(link: H3Link) -> None:
    """Answer 200 and echo each stream's octets until its FIN, then FIN back."""
    while (stream := await link.incoming.get()) is not None:
        link.respond(stream, [(b":status", b"200")])
        asyncio.create_task(_echo(stream))


async def _echo(stream: Any) -> None:
    try:
        while data := await stream.read():
            stream.write(data)
            await stream.drain()
        stream.write_eof()
    except ConnectionResetError:
        pass


async def _server(cert: tuple[str, str], handler: Handler, **kw: Any) -> AsyncIterator[tuple[int, asyncio.Task[None]]]:
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_h3("127.0.0.1", 0, *cert, handler, ready=ready, **kw))
    yield await ready, task
    task.cancel()


def _run(cert: tuple[str, str], handler: Handler, body: Callable[[H3Target], Coroutine[Any, Any, None]],
         **kw: Any) -> None:
    async def go() -> None:
        async for port, _ in _server(cert, handler, **kw):
            await asyncio.wait_for(body(H3Target.from_url(f"https://127.0.0.1:{port}/", cert[0])), 30)

    asyncio.run(go())


class TestStreams:
    def test_octets_echo_and_fin_reads_as_eof(self, cert: tuple[str, str]) -> None:
        async def body(target: H3Target) -> None:
            link = await connect_h3(target, 10)
            await asyncio.wait_for(link.settings_seen.wait(), 10)
            assert link.remote_settings.get(0x08) == 1  # RFC 9220 §3
            stream = link.open_stream(REQUEST, owns_link=True)
            await stream.headers_ready.wait()
            assert dict(stream.headers)[b":status"] == b"200"
            payload = bytes(range(256)) * 1200  # more than one QUIC packet, more than the window below
            stream.write(payload)
            await stream.drain()
            stream.write_eof()
            got = bytearray()
            while data := await stream.read():
                got += data
            assert bytes(got) == payload
            stream.close()
            await stream.wait_closed()

        _run(cert, _echo_streams, body)

    def test_a_peer_reset_reads_as_connection_reset(self, cert: tuple[str, str]) -> None:
        async def reset_all(link: H3Link) -> None:
            while (stream := await link.incoming.get()) is not None:
                link.respond(stream, [(b":status", b"200")])
                link.reset_stream(stream, H3_REQUEST_CANCELLED)

        async def body(target: H3Target) -> None:
            link = await connect_h3(target, 10)
            stream = link.open_stream(REQUEST, owns_link=True)
            with pytest.raises(ConnectionResetError, match="H3_REQUEST_CANCELLED"):
                await stream.read()
            assert stream.reset_code == H3_REQUEST_CANCELLED

        _run(cert, reset_all, body)

    def test_setting_left_out(self, cert: tuple[str, str]) -> None:
        async def body(target: H3Target) -> None:
            link = await connect_h3(target, 10)
            await asyncio.wait_for(link.settings_seen.wait(), 10)
            assert 0x08 not in link.remote_settings and link.connect_protocol_values == []

        _run(cert, _echo_streams, body, connect_protocol=None)


class TestTarget:
    def test_only_https_on_loopback(self) -> None:
        with pytest.raises(UsageError, match="https"):
            H3Target.from_url("http://127.0.0.1:1/")
        with pytest.raises(UsageError):
            H3Target.from_url("https://192.0.2.1:1/")
        assert H3Target.from_url("https://[::1]:9/x?y").uri.resource_name == "/x?y"

    def test_an_untrusted_certificate_is_refused(self, cert: tuple[str, str], tmp_path: Path) -> None:
        other, _ = self_signed_certificate(str(tmp_path))

        async def body(target: H3Target) -> None:
            with pytest.raises(TargetError, match="no QUIC connection"):
                await connect_h3(H3Target.from_url(target.url, other), 5)
            link = await connect_h3(H3Target.from_url(target.url, insecure=True), 5)  # --insecure
            link.close_soon()
            await link.wait_closed()

        _run(cert, _echo_streams, body)

    def test_nothing_listening_is_a_target_error(self) -> None:
        async def go() -> None:
            with pytest.raises(TargetError, match="https://127.0.0.1:9/"):
                await connect_h3(H3Target.from_url("https://127.0.0.1:9/", insecure=True), 1)

        asyncio.run(go())

    def test_the_certificate_is_for_loopback(self, cert: tuple[str, str]) -> None:
        ctx = ssl.create_default_context(cafile=cert[0])
        ctx.load_cert_chain(*cert)  # the key matches the certificate
        assert error_name(0x10C) == "H3_REQUEST_CANCELLED" and error_name(0x3) == "FLOW_CONTROL_ERROR"


def test_no_timer_fires_into_the_closed_socket(cert: tuple[str, str]) -> None:
    """aioquic's timers (its handshake retransmissions) outlive the UDP socket of a connection that
    did not come up: they must not send through it, which asyncio reports as a traceback."""
    async def go() -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
        with pytest.raises(TargetError):
            await connect_h3(H3Target.from_url("https://127.0.0.1:9/", insecure=True), 0.3)
        await asyncio.sleep(2.0)  # past aioquic's next probe timers (an upper bound, no verdict)
        return errors

    assert asyncio.run(go()) == []


def test_the_peers_connection_close_is_known_at_once(cert: tuple[str, str]) -> None:
    """aioquic reports the peer's CONNECTION_CLOSE only after its draining period; the link knows
    of it while the connection is still draining, so that no verdict waits on three probe timeouts."""
    async def close_at_once(link: H3Link) -> None:
        await link.incoming.get()
        link.close_soon(0x10E)  # H3_MESSAGE_ERROR, as for a malformed request

    async def body(target: H3Target) -> None:
        link = await connect_h3(target, 10)
        states: list[str] = []
        lost = link._lost
        link._lost = lambda why: (states.append(link.quic._state.name), lost(why))  # type: ignore[method-assign]
        link.open_stream(REQUEST)
        await link.closed.wait()
        assert states[0] == "DRAINING" and link.close_code == 0x10E
        assert "H3_MESSAGE_ERROR" in link.error

    _run(cert, close_at_once, body)


def test_certificates_of_servers_gone_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server killed before it could clean up (as a watched server is) leaves its pair behind;
    the next server's certificate removes it, and a process that exits removes its own."""
    import os
    import subprocess
    import sys
    import tempfile

    make = "from conformance.targets.h3 import self_signed_certificate as c; import os; print(c()[0], flush=True)"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    killed = subprocess.run([sys.executable, "-c", make + "; os._exit(0)"], env=env, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert Path(killed).exists()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine, key = self_signed_certificate()
    assert not Path(killed).exists() and Path(mine).parent == Path(killed).parent
    exited = subprocess.run([sys.executable, "-c", make], env=env, capture_output=True, text=True,
                            check=True).stdout.strip()
    assert not Path(exited).exists()
    assert sorted(p.name for p in Path(mine).parent.iterdir()) == sorted([Path(mine).name, Path(key).name])
    assert Path(mine).parent.stat().st_mode & 0o777 == 0o700
