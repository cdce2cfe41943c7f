"""In-process sans-IO libraries as targets: a small adapter interface, adapters for wsproto and
websockets (and the suite's own engine, `reference`), and a loopback server that runs any adapter
as an echo server.

An adapter is one server-side connection of the library, handshake included:

    receive(data: bytes) -> None     octets from the client; b"" means the client closed TCP
    messages() -> list[tuple[bool, bytes]]   whole messages delivered since the last call
                                     (is_text, payload); the library answers pings and closes itself
    send_message(data: bytes, text: bool) -> None
    data_to_send() -> bytes          octets the library wants written
    should_close() -> bool           the library is done with the connection

A library that is not on the package index (a noio_ws-style one: recv / next_event / send that
returns bytes) is wrapped the same way and loaded with `--impl mymodule:make_adapter`; see the
README for a ten-line example.
"""

from __future__ import annotations

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AdapterLog",
    "impl_server",
    "load_adapter",
    "serve_impl",
    "ReferenceAdapter",
    "WebsocketsAdapter",
    "WsprotoAdapter",
]

import asyncio
import codecs
import contextlib
import dataclasses
import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from conformance.errors import UsageError


class Adapter(Protocol):
    def receive(self, data: bytes) -> None: ...
    def messages(self) -> list[tuple[bool, bytes]]: ...
    def send_message(self, data: bytes, text: bool) -> None: ...
    def data_to_send(self) -> bytes: ...
    def should_close(self) -> bool: ...


class WsprotoAdapter:
    """wsproto's WSConnection (receive_data / events / send), with permessage-deflate offered."""

    def __init__(self) -> None:
        import wsproto.events
        import wsproto.utilities
        from wsproto import ConnectionType, WSConnection
        from wsproto.extensions import PerMessageDeflate

        # looked up once here, not on every call: the fuzzer calls these tens of times per input
        self._ev, self._deflate = wsproto.events, PerMessageDeflate
        self._local, self._remote = wsproto.utilities.LocalProtocolError, wsproto.utilities.RemoteProtocolError
        self.ws = WSConnection(ConnectionType.SERVER)
        self._out: list[bytes] = []
        self._parts: list[bytes] = []
        self._done = False

    def receive(self, data: bytes) -> None:
        try:
            self.ws.receive_data(data or None)
        except self._remote as exc:
            self._reject(exc)
        except self._local:
            self._done = True

    def _reject(self, exc: Any) -> None:
        """wsproto proposes the answer to a bad request (event_hint); a server sends it."""
        hint = getattr(exc, "event_hint", None)
        if hint is not None:
            with contextlib.suppress(Exception):
                self._out.append(self.ws.send(hint))
        self._done = True

    def messages(self) -> list[tuple[bool, bytes]]:
        ev = self._ev
        out: list[tuple[bool, bytes]] = []
        try:
            for e in self.ws.events():
                if isinstance(e, ev.Request):
                    self._out.append(self.ws.send(ev.AcceptConnection(extensions=[self._deflate()])))
                elif isinstance(e, (ev.TextMessage, ev.BytesMessage)):
                    text = isinstance(e, ev.TextMessage)
                    self._parts.append(e.data.encode() if text else bytes(e.data))
                    if e.message_finished:
                        out.append((text, b"".join(self._parts)))
                        self._parts = []
                elif isinstance(e, ev.Ping):
                    self._out.append(self.ws.send(e.response()))
                elif isinstance(e, ev.CloseConnection):
                    with contextlib.suppress(self._local):
                        self._out.append(self.ws.send(e.response()))
                    self._done = True
        except self._remote as exc:
            self._reject(exc)
        except self._local:
            self._done = True
        return out

    def send_message(self, data: bytes, text: bool) -> None:
        payload: str | bytes = data.decode("utf-8") if text else data
        with contextlib.suppress(self._local):
            self._out.append(self.ws.send(self._ev.Message(data=payload)))  # type: ignore[type-var]

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def should_close(self) -> bool:
        return self._done


class WebsocketsAdapter:
    """websockets' sans-IO ServerProtocol (receive_data / events_received / data_to_send)."""

    def __init__(self) -> None:
        from websockets.exceptions import InvalidState
        from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
        from websockets.frames import CloseCode, Opcode
        from websockets.http11 import Request
        from websockets.protocol import State
        from websockets.server import ServerProtocol

        # looked up once here, not on every call: the fuzzer calls these tens of times per input
        self._data_opcodes, self._text_opcode, self._cont = (Opcode.TEXT, Opcode.BINARY), Opcode.TEXT, Opcode.CONT
        self._request, self._invalid_state, self._invalid_data = Request, InvalidState, CloseCode.INVALID_DATA
        self._closed = State.CLOSED
        self.p = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()], max_size=None)
        self._handshaken = False
        self._parts: list[bytes] = []
        self._text = False
        self._decoder: Any = None
        self._failed = False

    def receive(self, data: bytes) -> None:
        if data:
            self.p.receive_data(data)
        else:
            self.p.receive_eof()

    def messages(self) -> list[tuple[bool, bytes]]:
        out: list[tuple[bool, bytes]] = []
        for e in self.p.events_received():
            if self._failed:
                continue  # the connection layer stops reading once it failed the connection
            opcode = getattr(e, "opcode", None)
            if opcode in self._data_opcodes:
                self._text, self._parts = opcode is self._text_opcode, []
                self._decoder = codecs.getincrementaldecoder("utf-8")() if self._text else None
                self._frame(e, out)
            elif opcode is self._cont:
                self._frame(e, out)
            elif isinstance(e, self._request) and not self._handshaken:
                self._handshaken = True
                self.p.send_response(self.p.accept(e))
        return out

    def _frame(self, frame: Any, out: list[tuple[bool, bytes]]) -> None:
        """What websockets' connection layer does with a data frame: decode text as it arrives
        (its Assembler), failing the connection with 1007 on invalid UTF-8."""
        data = bytes(frame.data)
        if self._decoder is not None:
            try:
                self._decoder.decode(data, frame.fin)
            except UnicodeDecodeError as exc:
                self.p.fail(self._invalid_data, f"{exc.reason} at position {exc.start}")
                self._failed = True
                return
        self._parts.append(data)
        if frame.fin:
            out.append((self._text, b"".join(self._parts)))

    def send_message(self, data: bytes, text: bool) -> None:
        with contextlib.suppress(self._invalid_state):
            (self.p.send_text if text else self.p.send_binary)(data)

    def data_to_send(self) -> bytes:
        return b"".join(self.p.data_to_send())

    def should_close(self) -> bool:
        return self.p.state is self._closed or bool(self.p.close_expected())


class ReferenceAdapter:
    """The suite's own engine as a library (with permessage-deflate): the target every oracle
    must find conforming, and the base of the mutants that test the oracles."""

    def __init__(self, **connection_options: Any) -> None:
        self._options = connection_options
        self._buf = bytearray()
        self._out: list[bytes] = []
        self.conn: Any = None
        self._refused = False

    def receive(self, data: bytes) -> None:
        from conformance.engine.handshake import ServerHandshake
        from conformance.engine.rules import HandshakeError
        from conformance.wire.http import parse_request

        if self.conn is not None:
            self.conn.receive_data(data)
            return
        if self._refused:
            return
        self._buf += data
        parsed = parse_request(bytes(self._buf))
        if parsed is None:
            return
        from conformance.engine.deflate import OfferSelector

        selector = OfferSelector()
        hs = ServerHandshake(select_extensions=selector)
        try:
            hs.check_request(parsed[0])
            response, _ = hs.accept(parsed[0])
        except HandshakeError as exc:
            self._out.append(hs.reject(exc).serialize())
            self._refused = True
            return
        self._out.append(response.serialize())
        self.conn = self._connection(selector.agreed)
        rest = bytes(self._buf[parsed[1] :])
        if rest:
            self.conn.receive_data(rest)

    def _connection(self, params: Any) -> Any:
        from conformance.engine.connection import Connection, Role
        from conformance.engine.deflate import negotiated_codec

        codec = negotiated_codec(params, "server", None) if params is not None else None
        return Connection(Role.SERVER, deflate=codec, max_message=None, **self._options)

    def messages(self) -> list[tuple[bool, bytes]]:
        from conformance.engine import events as ev
        from conformance.wire.frames import Opcode

        if self.conn is None:
            return []
        return [(e.opcode is Opcode.TEXT, bytes(e.data)) for e in self.conn.events() if isinstance(e, ev.Message)]

    def send_message(self, data: bytes, text: bool) -> None:
        from conformance.engine.connection import State

        if self.conn is not None and self.conn.state is State.OPEN:
            self.conn.send_message(data, text=text)

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out + (self.conn.data_to_send() if self.conn is not None else b"")

    def should_close(self) -> bool:
        from conformance.engine.connection import State

        return self._refused or (self.conn is not None and self.conn.state is State.CLOSED)


ADAPTERS: dict[str, Callable[[], Adapter]] = {"wsproto": WsprotoAdapter, "websockets": WebsocketsAdapter,
                                              "reference": ReferenceAdapter}


def load_adapter(spec: str) -> Callable[[], Adapter]:
    """A built-in name, or `module:factory` for a user's own adapter."""
    if spec in ADAPTERS:
        return ADAPTERS[spec]
    module, sep, attr = spec.partition(":")
    if not sep:
        raise UsageError(f"--impl {spec!r}: use one of {', '.join(sorted(ADAPTERS))} or module:factory")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--impl {spec!r}: cannot load it: {exc}") from None
    if not callable(factory):
        raise UsageError(f"--impl {spec!r}: {attr} is not callable")
    return factory  # type: ignore[no-any-return]


@dataclasses.dataclass
class AdapterLog:
    """What went wrong inside the adapter, for the terminal: the exceptions it raised (type, message
    and where) and the connections it never answered (no opening handshake response)."""

    raised: list[str] = dataclasses.field(default_factory=list)
    unanswered: int = 0
    answered: int = 0
    by_port: dict[int, str] = dataclasses.field(default_factory=dict)  # the client's port -> what was raised

    def raised_on(self, port: int) -> str:
        """What the adapter raised on the connection from this client port ('' when nothing)."""
        return self.by_port.get(port, "")

    def summary(self) -> str:
        parts = []
        if self.raised:
            parts.append(f"the adapter raised in {len(self.raised)} connections, first: {self.raised[0]}")
        if self.unanswered and not self.answered:
            parts.append(f"it never answered in {self.unanswered} connections (the opening handshake is "
                         "the adapter's job: conformance.engine.handshake.ServerHandshake can do it)")
        return "; ".join(parts)


def _where(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    at = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{at}"


async def _serve_one(factory: Callable[[], Adapter], reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, log: AdapterLog | None = None) -> None:
    answered = got = False
    try:
        adapter = factory()
        while True:
            data = await reader.read(65536)
            got = got or bool(data)
            adapter.receive(data)
            for text, payload in adapter.messages():
                adapter.send_message(payload, text)
            out = adapter.data_to_send()
            if out:
                answered = True
                writer.write(out)
                await writer.drain()
            if not data or adapter.should_close():
                break
    except (ConnectionError, OSError):
        pass
    except Exception as exc:
        if log is not None:
            log.raised.append(_where(exc))
            peer = writer.get_extra_info("peername")
            if peer:
                log.by_port[peer[1]] = log.raised[-1]
        writer.transport.abort()  # after the log entry: the case sees the reset only once it is there
        return
    finally:
        writer.close()
    if log is not None and got:
        log.answered += answered
        log.unanswered += not answered


async def serve_impl(factory: Callable[[], Adapter], host: str = "127.0.0.1", port: int = 0,
                     ready: asyncio.Future[int] | None = None, log: AdapterLog | None = None) -> None:
    server = await asyncio.start_server(lambda r, w: _serve_one(factory, r, w, log), host, port, limit=1 << 16)
    if ready is not None:
        ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def impl_server(spec: str, log: AdapterLog | None = None) -> Iterator[str]:
    """Run the library in this process, on a thread with its own event loop; yields its URL."""
    factory = load_adapter(spec)
    port: list[int] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        ready: asyncio.Future[int] = loop.create_future()
        def on_ready(f: asyncio.Future[int]) -> None:
            port.append(f.result())
            started.set()

        ready.add_done_callback(on_ready)
        task = loop.create_task(serve_impl(factory, ready=ready, log=log))
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name=f"impl-{spec}", daemon=True)
    thread.start()
    if not started.wait(10):
        raise UsageError(f"--impl {spec!r}: the in-process server did not start")
    try:
        yield f"ws://127.0.0.1:{port[0]}/"
    finally:
        for task in asyncio.all_tasks(loop):
            loop.call_soon_threadsafe(task.cancel)
        thread.join(5)


