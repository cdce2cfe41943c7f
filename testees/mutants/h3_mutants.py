"""Deliberately broken HTTP/3 echo servers (RFC 9220): the reference h3 server with one thing wrong.

python -m testees.mutants.h3_mutants NAME [--port 0]   prints `listening on https://127.0.0.1:PORT/`
(a self-signed certificate: run with --insecure)

no-setting     leaves SETTINGS_ENABLE_CONNECT_PROTOCOL out of its HTTP/3 SETTINGS
setting-0      sends it with the value 0
setting-2      sends it with the value 2 (only 0 and 1 exist)
status101      answers the extended CONNECT with :status 101, as an HTTP/1.1 upgrade would
lax-request    serves an extended CONNECT that lacks :scheme instead of refusing it (aioquic itself
               refuses one without :path)
any-version    serves any Sec-WebSocket-Version, or none
no-flow        sends stream data without regard to the client's flow-control limits
reset-clean    takes the client's reset for an orderly close: ignores STOP_SENDING, answers with a
               close frame and FIN
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from aioquic.quic.connection import QuicConnection

from conformance.engine.connection import Connection, Role
from conformance.targets import h2_server as hs
from conformance.targets.h2 import H2Link, H2Stream
from conformance.targets.h3 import H3Link, self_signed_certificate, serve_h3
from conformance.targets.h3_server import H3EchoServer

_UNLIMITED = 1 << 62  # RFC 9000 §16: the largest variable-length integer


class _Mutant(H3EchoServer):
    connect_protocol: int | None = 1

    async def _serve_stream(self, link: H2Link, stream: H2Stream) -> None:
        status, _why = hs.check_connect(stream.headers)
        if status and not self.serves_anyway(stream, status):
            await super()._serve_stream(link, stream)
            return
        await self.serve_websocket(link, stream)

    def serves_anyway(self, stream: H2Stream, status: int) -> bool:
        return False

    async def serve_websocket(self, link: H2Link, stream: H2Stream, status: bytes = b"200") -> None:
        link.respond(stream, [(b":status", status)])
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await hs._echo_loop(Connection(Role.SERVER), stream)


class NoSetting(_Mutant):
    connect_protocol = None


class Setting0(_Mutant):
    connect_protocol = 0


class Setting2(_Mutant):
    connect_protocol = 2


class Status101(_Mutant):
    async def serve_websocket(self, link: H2Link, stream: H2Stream, status: bytes = b"101") -> None:
        await super().serve_websocket(link, stream, b"101")


class LaxRequest(_Mutant):
    def serves_anyway(self, stream: H2Stream, status: int) -> bool:
        names = {k for k, _ in stream.headers}
        return status == hs.MALFORMED and not {b":scheme", b":path"} <= names


class AnyVersion(_Mutant):
    def serves_anyway(self, stream: H2Stream, status: int) -> bool:
        return status == 400 and dict(stream.headers).get(b"sec-websocket-version") != b"13"


class NoFlow(_Mutant):
    async def serve_websocket(self, link: H2Link, stream: H2Stream, status: bytes = b"200") -> None:
        quic: QuicConnection = link.quic  # type: ignore[attr-defined]
        quic._remote_max_data = _UNLIMITED  # the client's MAX_DATA and MAX_STREAM_DATA, ignored
        quic._streams[stream.id].max_stream_data_remote = _UNLIMITED
        await super().serve_websocket(link, stream)


class ResetClean(_Mutant):
    def patch(self, link: H3Link) -> None:
        """STOP_SENDING is noted and otherwise ignored: no RESET_STREAM in answer."""
        handlers: dict[int, Any] = link.quic._QuicConnection__frame_handlers  # type: ignore[attr-defined]
        _, epochs = handlers[0x05]
        handlers[0x05] = (lambda context, frame_type, buf: (buf.pull_uint_var(), buf.pull_uint_var()), epochs)

    async def serve_websocket(self, link: H2Link, stream: H2Stream, status: bytes = b"200") -> None:
        link.respond(stream, [(b":status", status)])
        try:
            await hs._echo_loop(Connection(Role.SERVER), stream)
        except ConnectionResetError:  # the reset, taken for a close: a close frame 1000 and FIN
            stream.reset_code = None
            stream.write(b"\x88\x02\x03\xe8")
            stream.write_eof()
        except (OSError, TimeoutError):
            pass


MUTANTS: dict[str, type[_Mutant]] = {
    "no-setting": NoSetting, "setting-0": Setting0, "setting-2": Setting2, "status101": Status101,
    "lax-request": LaxRequest, "any-version": AnyVersion, "no-flow": NoFlow, "reset-clean": ResetClean,
}


async def _serve(name: str, port: int) -> None:
    server = MUTANTS[name]()
    cert, key = self_signed_certificate()

    async def handle(link: H3Link) -> None:
        if isinstance(server, ResetClean):
            server.patch(link)
        await server.handle_link(link)

    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_h3("127.0.0.1", port, cert, key, handle,
                                        connect_protocol=server.connect_protocol, ready=ready))
    print(f"listening on https://127.0.0.1:{await ready}/", flush=True)
    await task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(MUTANTS), help="the mutant")
    parser.add_argument("--port", type=int, default=0, help="UDP port (0: any free one, printed)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.name, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
