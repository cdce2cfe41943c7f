"""Deliberately broken HTTP/2 echo servers (RFC 8441): the reference h2 server with one thing wrong.

python -m testees.mutants.h2_mutants NAME [--port 0]   prints `listening on http://127.0.0.1:PORT/`

refuse       advertises SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, then refuses every CONNECT with 501
status101    answers the extended CONNECT with :status 101, as an HTTP/1.1 upgrade would
no-flow      sends its DATA without regard to the client's flow-control window
rst-clean    takes RST_STREAM for an orderly close: answers it with a close frame and END_STREAM
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from conformance.engine.connection import Connection, Role
from conformance.targets import h2_server as hs
from conformance.targets.h2 import H2Link, H2Stream

_MAX_FRAME = 16384  # RFC 9113 §4.2: SETTINGS_MAX_FRAME_SIZE's initial value


class _Mutant(hs.H2EchoServer):
    async def _serve_stream(self, link: H2Link, stream: H2Stream) -> None:
        status, _why = hs.check_connect(stream.headers)
        if status:
            await super()._serve_stream(link, stream)
            return
        await self.serve_websocket(link, stream)

    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        raise NotImplementedError


class Refuse(_Mutant):
    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        link.respond(stream, [(b":status", b"501")], end_stream=True)


class Status101(_Mutant):
    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        link.respond(stream, [(b":status", b"101")])
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await hs._echo_loop(Connection(Role.SERVER), stream)


class _RawStream(H2Stream):
    """Writes DATA frames straight to the socket: the peer's window is not looked at."""

    def write(self, data: bytes) -> None:
        for i in range(0, len(data), _MAX_FRAME):
            self.link.write_raw_frame(0x0, 0, self.id, data[i:i + _MAX_FRAME])


class NoFlow(_Mutant):
    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        link.respond(stream, [(b":status", b"200")])
        stream.__class__ = _RawStream
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await hs._echo_loop(Connection(Role.SERVER), stream)


class RstClean(_Mutant):
    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        link.respond(stream, [(b":status", b"200")])
        conn = Connection(Role.SERVER)
        try:
            await hs._echo_loop(conn, stream)
        except ConnectionResetError:
            if stream.reset_code is not None and stream.reset_code >= 0:
                # the "clean close" after a reset: a close frame 1000 and END_STREAM, written raw
                # because the h2 library (rightly) refuses to send on a reset stream
                link.write_raw_frame(0x0, 0x1, stream.id, b"\x88\x02\x03\xe8")
        except (OSError, TimeoutError):
            pass


MUTANTS: dict[str, type[_Mutant]] = {"refuse": Refuse, "status101": Status101, "no-flow": NoFlow,
                                     "rst-clean": RstClean}


async def _serve(name: str, port: int) -> None:
    server_obj = MUTANTS[name]()
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]] = server_obj.handle
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print(f"listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(MUTANTS))
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.name, args.port))


if __name__ == "__main__":
    main()
