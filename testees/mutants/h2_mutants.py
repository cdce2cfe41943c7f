"""Deliberately broken HTTP/2 echo servers (RFC 8441): the reference h2 server with one thing wrong.

python -m testees.mutants.h2_mutants NAME [--port 0]   prints `listening on http://127.0.0.1:PORT/`

refuse            advertises SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, then refuses every CONNECT with 501
status101         answers the extended CONNECT with :status 101, as an HTTP/1.1 upgrade would
no-flow           sends its DATA without regard to the client's flow-control window
rst-clean         takes RST_STREAM for an orderly close: answers it with a close frame and END_STREAM
setting-2         advertises SETTINGS_ENABLE_CONNECT_PROTOCOL = 2
withdraw          advertises the setting = 1, then sends it = 0 once the first WebSocket is open
no-setting        never advertises the setting (it offers no WebSocket over HTTP/2)
lax               serves every request as a WebSocket: no check of the field block or the version
no-version-field  refuses a version it does not speak without naming 13 in Sec-WebSocket-Version
pick-protocol     selects a subprotocol the client never offered
force-deflate     agrees permessage-deflate whether the client offered it or not
h1-fields         answers 200 with the HTTP/1.1 upgrade's Connection and Upgrade fields
one-stream        refuses every WebSocket stream but the first with RST_STREAM REFUSED_STREAM
close-all         closes the TCP connection (no GOAWAY) as soon as one of its streams ends
eos-abort         takes END_STREAM for an abort: resets the stream instead of answering the close
no-window         never gives window back (no WINDOW_UPDATE) for what it reads
no-end            after the closing handshake waits for the client's END_STREAM before ending its own
eos-close         answers END_STREAM without a close frame with a close frame 1000
goaway-ends       takes the client's GOAWAY for the end of every stream (the h2 library's default)
client-setting    takes the client's SETTINGS_ENABLE_CONNECT_PROTOCOL for a connection error
get-kills         ends the connection when a request is no extended CONNECT
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import h2.errors
import h2.events
import h2.settings

from conformance.engine.connection import Connection, Role, State
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


class _PingLink(H2Link):
    """Counts the PINGs it has answered, so that a mutant can act on the peer's next PING."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.pinged = asyncio.Event()

    def _on_event(self, e: h2.events.Event) -> None:
        super()._on_event(e)
        if isinstance(e, h2.events.PingReceived):
            self.pinged.set()


class RstClean(_Mutant):
    """The close frame goes out once the reset has been processed and a PING after it answered:
    deterministic, whether the client's RST_STREAM and PING come in one read or two."""

    def make_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> H2Link:
        return _PingLink(reader, writer, client=False, connect_protocol=1, validate_inbound=False,
                         survive_goaway=True)

    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        link.respond(stream, [(b":status", b"200")])
        conn = Connection(Role.SERVER)
        try:
            await hs._echo_loop(conn, stream)
        except ConnectionResetError:
            if stream.reset_code is not None and stream.reset_code >= 0 and isinstance(link, _PingLink):
                link.pinged.clear()
                await link.pinged.wait()  # the ACK is flushed before this task runs again
                # the "clean close" after a reset: a close frame 1000 and END_STREAM, written raw
                # because the h2 library (rightly) refuses to send on a reset stream
                link.write_raw_frame(0x0, 0x1, stream.id, b"\x88\x02\x03\xe8")
        except (OSError, TimeoutError):
            pass


_CONNECT = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL


def _settings_frame(code: int, value: int) -> bytes:
    return code.to_bytes(2, "big") + value.to_bytes(4, "big")


class Setting2(_Mutant):
    def make_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> H2Link:
        link = H2Link(reader, writer, client=False, connect_protocol=None, validate_inbound=False, survive_goaway=True)
        start = link.start

        def start_with_2() -> None:  # the library will not send 2 itself; the client reads it first
            link.write_raw_frame(0x4, 0, 0, _settings_frame(int(_CONNECT), 2))
            start()
        link.start = start_with_2  # type: ignore[method-assign]
        return link

    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        await super(_Mutant, self)._serve_stream(link, stream)


class Withdraw(_Mutant):
    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        if stream.id == 1:
            link.conn.update_settings({_CONNECT: 0})  # before the 200: the client reads it first
            link.flush()
        await super(_Mutant, self)._serve_stream(link, stream)


class NoSetting(_Mutant):
    def make_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> H2Link:
        return H2Link(reader, writer, client=False, connect_protocol=None, validate_inbound=False, survive_goaway=True)


class Lax(hs.H2EchoServer):
    async def _serve_stream(self, link: H2Link, stream: H2Stream) -> None:
        link.respond(stream, [(b":status", b"200")])
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await hs._echo_loop(Connection(Role.SERVER), stream)


class NoVersionField(hs.H2EchoServer):
    async def _serve_stream(self, link: H2Link, stream: H2Stream) -> None:
        status, why = hs.check_connect(stream.headers)
        if status == 400 and "Version" in why:
            link.respond(stream, [(b":status", b"400")], end_stream=True)
            return
        await super()._serve_stream(link, stream)


class _Answer(_Mutant):
    """Answers 200 with `extra` fields and echoes."""

    extra: hs.Headers = []

    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        link.respond(stream, [(b":status", b"200"), *self.extra])
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await hs._echo_loop(Connection(Role.SERVER), stream)


class PickProtocol(_Answer):
    extra = [(b"sec-websocket-protocol", b"x-conformance-unoffered")]


class ForceDeflate(_Answer):
    extra = [(b"sec-websocket-extensions", b"permessage-deflate")]


class H1Fields(_Answer):
    extra = [(b"connection", b"upgrade"), (b"upgrade", b"websocket")]

    def make_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> H2Link:
        # the h2 library would refuse to send the fields (validate=False lets them through)
        return H2Link(reader, writer, client=False, connect_protocol=1, validate=False, survive_goaway=True)


class OneStream(_Mutant):
    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        if stream.id != 1:
            link.reset_stream(stream, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        await super(_Mutant, self)._serve_stream(link, stream)


class CloseAll(_Mutant):
    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        await super(_Mutant, self)._serve_stream(link, stream)
        link.abort()  # one stream ended: the connection goes, with the others on it


class EosAbort(_Mutant):
    """Answers a close frame only on its next read, and takes END_STREAM for an abort: a client's
    close followed by END_STREAM gets a reset, never the close frame in reply."""

    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        link.respond(stream, [(b":status", b"200")])
        conn = Connection(Role.SERVER)
        with contextlib.suppress(ConnectionError, OSError):
            while data := await stream.read():
                conn.receive_data(data)
                hs._answer(conn)
                if conn.state is State.OPEN:  # the echo goes out; a close reply would wait
                    stream.write(conn.data_to_send())
                    await stream.drain()
            link.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)


class NoEnd(_Mutant):
    """After the closing handshake it waits for the client to end the stream first (as if the
    client closed TCP first, RFC 6455 §7.1.1 asks the server to)."""

    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        link.respond(stream, [(b":status", b"200")])
        conn = Connection(Role.SERVER)
        with contextlib.suppress(ConnectionError, OSError):
            while data := await stream.read():
                conn.receive_data(data)
                hs._answer(conn)
                stream.write(conn.data_to_send())
                await stream.drain()
            stream.write_eof()
            await stream.drain()


class EosClose(_Mutant):
    """Answers END_STREAM without a close frame with a close frame 1000, as if the closing
    handshake had taken place."""

    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        link.respond(stream, [(b":status", b"200")])
        conn = Connection(Role.SERVER)
        with contextlib.suppress(ConnectionError, OSError):
            while data := await stream.read():
                conn.receive_data(data)
                hs._answer(conn)
                stream.write(conn.data_to_send())
                await stream.drain()
            if conn.state is State.OPEN:
                conn.close(1000)
                stream.write(conn.data_to_send())
            stream.write_eof()
            await stream.drain()


class GoawayEnds(_Mutant):
    """The h2 library's own GOAWAY handling: a client's GOAWAY ends every stream."""

    def make_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> H2Link:
        return H2Link(reader, writer, client=False, connect_protocol=1, validate_inbound=False)

    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        await super(_Mutant, self)._serve_stream(link, stream)


class _SettingLink(H2Link):
    def _on_event(self, e: h2.events.Event) -> None:
        super()._on_event(e)
        # the h2 library puts SETTINGS_ENABLE_CONNECT_PROTOCOL = 0 in every client's first SETTINGS
        changed = e.changed_settings.get(_CONNECT) if isinstance(e, h2.events.RemoteSettingsChanged) else None
        if changed is not None and changed.new_value == 1:
            self.conn.close_connection(h2.errors.ErrorCodes.PROTOCOL_ERROR)  # as if a client could not send it
            self.flush()
            self.writer.close()


class ClientSetting(_Mutant):
    """Takes the client's SETTINGS_ENABLE_CONNECT_PROTOCOL for a connection error."""

    def make_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> H2Link:
        return _SettingLink(reader, writer, client=False, connect_protocol=1, validate_inbound=False,
                            survive_goaway=True)

    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        await super(_Mutant, self)._serve_stream(link, stream)


class GetKills(hs.H2EchoServer):
    """Ends the whole connection (GOAWAY, then TCP) when a request is no extended CONNECT."""

    async def _serve_stream(self, link: H2Link, stream: H2Stream) -> None:
        if (b":method", b"CONNECT") not in stream.headers:
            link.close_soon()
            return
        await super()._serve_stream(link, stream)


class _TightLink(H2Link):
    def consumed(self, stream_id: int, n: int) -> None:
        pass  # the window is never given back


class NoWindow(_Mutant):
    def make_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> H2Link:
        return _TightLink(reader, writer, client=False, connect_protocol=1, validate_inbound=False,
                          survive_goaway=True, window=65535)

    async def serve_websocket(self, link: H2Link, stream: H2Stream) -> None:
        await super(_Mutant, self)._serve_stream(link, stream)


MUTANTS: dict[str, type[hs.H2EchoServer]] = {
    "refuse": Refuse, "status101": Status101, "no-flow": NoFlow, "rst-clean": RstClean, "setting-2": Setting2,
    "withdraw": Withdraw, "no-setting": NoSetting, "lax": Lax, "no-version-field": NoVersionField,
    "pick-protocol": PickProtocol, "force-deflate": ForceDeflate, "h1-fields": H1Fields, "one-stream": OneStream,
    "close-all": CloseAll, "eos-abort": EosAbort, "no-window": NoWindow, "no-end": NoEnd, "eos-close": EosClose,
    "goaway-ends": GoawayEnds, "client-setting": ClientSetting, "get-kills": GetKills,
}


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
