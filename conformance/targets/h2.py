"""WebSocket streams over HTTP/2 (RFC 8441): one HTTP/2 connection, streams that read and write
like an asyncio StreamReader and StreamWriter.

The `h2` library does the framing; this module does the I/O and the flow control. What a stream
reads is the octets of its DATA frames; the window is given back (WINDOW_UPDATE) only for what
the reader has taken, so a slow reader holds the peer back as TCP would. A write never sends more
than the peer's stream and connection windows allow: the rest waits for the peer's WINDOW_UPDATE.
END_STREAM plays the part of TCP's FIN and RST_STREAM that of a TCP reset (RFC 8441 §5), so a
reader gets b"" after the peer's END_STREAM and ConnectionResetError after its RST_STREAM.
"""

from __future__ import annotations

__all__ = ["DEFAULT_WINDOW", "H2Link", "H2Stream", "H2Target", "StreamTransport", "h2_client_context", "h2_server_context"]

import asyncio
import contextlib
import dataclasses
import functools
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from conformance.errors import UsageError
from conformance.targets.tcp import ServerTarget, _client_context, _file_version, check_loopback
from conformance.wire.uri import parse_uri

_READ = 1 << 16
_LOST, _BY_US = -1, -2  # reset_code values that are no RST_STREAM received: the connection went, we reset
# a reset after the peer's END_STREAM that leaves its data whole: NO_ERROR (RFC 9113 §8.1: "stop
# sending"), or the connection closing after the stream ended
_AFTER_END = (0, _LOST)
_INITIAL_WINDOW = 65535  # RFC 9113 §6.9.2
_BARRIER_WAIT = 5.0  # an upper bound on the PING before window is given back (a peer that never answers)
DEFAULT_WINDOW = 1 << 22  # what we let a peer send ahead of our reading, per stream and per connection
Headers = list[tuple[bytes, bytes]]


@dataclasses.dataclass(frozen=True)
class H2Target(ServerTarget):
    """A server reached over HTTP/2: http:// (cleartext, prior knowledge) or https:// (TLS, ALPN h2)."""

    @classmethod
    def from_url(cls, url: str, ca_file: str | None = None, insecure: bool = False) -> H2Target:
        scheme, sep, rest = url.partition("://")
        mapped = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(scheme.lower())
        if not sep or mapped is None:
            raise UsageError(f"bad target URL {url!r}: over HTTP/2 the scheme must be http or https")
        try:
            uri = parse_uri(f"{mapped}://{rest}")
        except Exception as exc:  # InvalidURI, with its own message
            raise UsageError(f"bad target URL {url!r}: {exc}") from None
        check_loopback(uri.host)
        return cls(url, uri, ca_file, insecure)

    @property
    def scheme(self) -> str:
        """The :scheme of the extended CONNECT (RFC 8441 §5: https for wss, http for ws)."""
        return "https" if self.uri.secure else "http"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uri.secure:
            return None
        return h2_client_context(self.ca_file, self.insecure, _file_version(self.ca_file))


@functools.lru_cache(maxsize=8)
def h2_client_context(ca_file: str | None, insecure: bool, version: tuple[int, int] | None) -> ssl.SSLContext:
    """The wss:// context of the run, offering only ALPN h2 (RFC 9113 §3.2)."""
    base = _client_context(ca_file, insecure, version)
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname, ctx.verify_mode = base.check_hostname, base.verify_mode
    ctx.set_alpn_protocols(["h2"])
    return ctx


def h2_server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    return ctx


class StreamTransport:
    """What the runner asks of `writer.transport`: abort() (RST_STREAM CANCEL) and extra info."""

    def __init__(self, stream: H2Stream) -> None:
        self._stream = stream

    def abort(self) -> None:
        self._stream.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._stream.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._stream.ended_by_me


class H2Stream:
    """One HTTP/2 stream as a reader and a writer; see the module docstring."""

    def __init__(self, link: H2Link, stream_id: int, *, owns_link: bool = False) -> None:
        self.link, self.id = link, stream_id
        self.owns_link = owns_link  # closing the stream closes the connection (one case, one connection)
        self.headers: Headers = []  # the request (server side) or the response (client side)
        self.request: Headers = []  # client side: the request this stream was opened with
        self.headers_ready = asyncio.Event()
        self.trailers: Headers = []
        self.ended_by_peer = False  # END_STREAM
        self.reset_code: int | None = None  # RST_STREAM received (or the connection was lost)
        self.ended_by_me = False  # END_STREAM or RST_STREAM sent
        self._in: deque[bytes] = deque()
        self._changed = asyncio.Event()
        self._out = bytearray()
        self._eof_pending = False
        self.transport = StreamTransport(self)

    # -- events from the link ------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        if data:
            self._in.append(data)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()

    # -- reading -------------------------------------------------------------------------------

    async def read(self, n: int = _READ) -> bytes:
        """Up to `n` octets of DATA; b"" after END_STREAM; ConnectionResetError after RST_STREAM."""
        while not self._in:
            if self.ended_by_peer and self.reset_code in _AFTER_END:
                return b""  # END_STREAM came first: what follows concerns only our direction
            if self.reset_code is not None:
                raise ConnectionResetError(self._reset_text())
            if self.ended_by_peer:
                return b""
            self._changed.clear()
            await self._changed.wait()
        data = self._in.popleft()
        if len(data) > n:
            data, rest = data[:n], data[n:]
            self._in.appendleft(rest)
        self.link.consumed(self.id, len(data))
        return data

    # -- writing -------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self.ended_by_me or self._eof_pending:
            raise ConnectionResetError("write after END_STREAM")
        if self.reset_code == _LOST:
            return  # as into a socket whose peer has closed: the octets go nowhere, no error yet
        if self.reset_code is not None:
            raise ConnectionResetError(self._reset_text())
        self._out += data
        self.link.pump()

    async def drain(self) -> None:
        """Until everything written went out within the peer's windows (or the stream died)."""
        while self._out or self._eof_pending:
            if self.reset_code == _LOST:
                return
            if self.reset_code is not None:
                raise ConnectionResetError(self._reset_text())
            self._changed.clear()
            await self._changed.wait()
        await self.link.drain()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        """END_STREAM once what was written is sent: the half-close of RFC 8441 §5."""
        if self.ended_by_me or self.reset_code is not None:
            return
        self._eof_pending = True
        self.link.pump()

    abort_code = int(h2.errors.ErrorCodes.CANCEL)  # an HTTP/3 stream: H3_REQUEST_CANCELLED

    def abort(self) -> None:
        """RST_STREAM CANCEL (RFC 8441 §5: the counterpart of a TCP reset)."""
        self._out.clear()
        self._eof_pending = False
        self.link.reset_stream(self, self.abort_code)
        if self.owns_link:
            self.link.abort()

    def close(self) -> None:
        if not self.ended_by_me and self.reset_code is None:
            self.write_eof()
        if self.owns_link:
            self.link.close_soon()

    async def wait_closed(self) -> None:
        if self.owns_link:
            await self.link.wait_closed()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "h2_stream_id":
            return self.id
        return self.link.writer.get_extra_info(name, default)

    def _ending_by_reset(self, end_reading: bool) -> bool:
        """The stream's state once we reset it (False: it had ended both ways, nothing to send)."""
        if self.ended_by_me and self.ended_by_peer:
            return False
        self.ended_by_me = True
        self._out.clear()
        self._eof_pending = False
        if self.reset_code is None and end_reading:
            self.reset_code = _BY_US  # reading ends with ConnectionResetError
        self._wake()
        return True

    def _reset_text(self) -> str:
        """What a reader or writer of the reset stream is told (an HTTP/3 stream names its own codes)."""
        return f"the HTTP/2 stream was reset ({_error_name(self.reset_code or 0)})"

    # -- for the link's sender -----------------------------------------------------------------

    def _take(self, limit: int) -> bytes:
        chunk = bytes(self._out[:limit])
        del self._out[:limit]
        return chunk


class H2Link:
    """An HTTP/2 connection over an asyncio stream pair, with a background reader."""

    def __init__(self, reader: Any, writer: Any, *, client: bool, connect_protocol: int | None = None,
                 validate: bool = True, validate_inbound: bool | None = None, window: int = DEFAULT_WINDOW,
                 survive_goaway: bool = False) -> None:
        config = h2.config.H2Configuration(
            client_side=client, header_encoding=None,
            validate_inbound_headers=validate if validate_inbound is None else validate_inbound,
            validate_outbound_headers=validate, normalize_outbound_headers=validate)
        self.reader, self.writer = reader, writer
        self.conn = h2.connection.H2Connection(config)
        codes = h2.settings.SettingCodes
        initial = {codes.MAX_CONCURRENT_STREAMS: 100, codes.INITIAL_WINDOW_SIZE: window}
        if connect_protocol is not None:  # the server's SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)
            initial[codes.ENABLE_CONNECT_PROTOCOL] = connect_protocol
        self.conn.local_settings = h2.settings.Settings(client=client, initial_values=initial)
        self._window = window
        self.streams: dict[int, H2Stream] = {}
        self.incoming: asyncio.Queue[H2Stream | None] = asyncio.Queue()  # server: new requests
        self.settings_seen = asyncio.Event()  # the peer's first SETTINGS arrived
        self.remote_settings: dict[int, int] = {}  # what the peer's SETTINGS frames said, latest value
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.error: str = ""  # why the connection ended badly
        self.closed = asyncio.Event()
        self.frames: list[tuple[int, int, int, bytes]] = []  # received: (type, flags, stream, PING data)
        self.connect_protocol_values: list[int] = []  # every SETTINGS_ENABLE_CONNECT_PROTOCOL received
        self._head = bytearray()  # received octets not yet split into frames (self.frames)
        self._client = client
        self._preface = 0 if client else 24  # a server first reads the client's 24-octet preface
        # h2 takes a GOAWAY as the end of every stream; RFC 9113 §6.8 lets the streams it does not
        # concern go on, so a server that survives it keeps GOAWAY frames away from the library
        self._survive_goaway = survive_goaway
        self._pings: dict[bytes, asyncio.Event] = {}
        # a client gives window back only after a PING round trip (see `consumed`)
        self._owed: dict[int, int] = {}  # stream -> octets read and not yet given back
        self._giving_back: asyncio.Task[None] | None = None
        self._barriers = 0
        self.on_error: Callable[[h2.exceptions.ProtocolError], None] | None = None  # the peer broke HTTP/2
        self._task: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.conn.initiate_connection()
        if self._window > _INITIAL_WINDOW:  # the connection window is raised by WINDOW_UPDATE (RFC 9113 §6.9.2)
            self.conn.increment_flow_control_window(self._window - _INITIAL_WINDOW)
        self.flush()
        self._task = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.reader.read(_READ)
                if not data:
                    self._lost("the peer closed the TCP connection")
                    return
                data = self._split_frames(data)
                try:
                    events = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError as exc:
                    self.error = f"HTTP/2 protocol error by the peer: {type(exc).__name__}: {exc}"
                    if self.on_error is not None:
                        self.on_error(exc)
                    self.flush()  # h2 queued its GOAWAY
                    self._lost(self.error)
                    self.writer.close()
                    return
                for e in events:
                    self._on_event(e)
                self.flush()
                self.pump()
        except (ConnectionError, OSError) as exc:
            self._lost(f"the TCP connection was reset ({exc})")
        except asyncio.CancelledError:
            self._lost("the connection was closed")
            raise

    def _split_frames(self, data: bytes) -> bytes:
        """Note the type, flags and stream of each frame received (RFC 9113 §4.1: a 9-octet header),
        also of frames the h2 library drops silently, such as DATA on a stream already reset.
        Returns what goes on to the library."""
        preface = b""
        if self._preface:
            preface, data = data[:self._preface], data[self._preface:]
            self._preface -= len(preface)
        self._head += data
        passed = bytearray()
        while len(self._head) >= 9:
            length = int.from_bytes(self._head[:3], "big")
            if len(self._head) < 9 + length:
                break
            ftype, flags = self._head[3], self._head[4]
            sid = int.from_bytes(self._head[5:9], "big") & 0x7FFFFFFF
            if ftype == 0x4 and sid == 0 and not flags & 0x1:  # SETTINGS (RFC 9113 §6.5.1)
                self._note_settings(bytes(self._head[9:9 + length]))
            if self._client:  # the suite's side keeps the list, for the steps that judge frames
                self.frames.append((ftype, flags, sid, bytes(self._head[9:9 + length]) if ftype == 0x6 else b""))
            if not (ftype == 0x7 and self._survive_goaway):
                passed += self._head[:9 + length]
            del self._head[:9 + length]
        if not self._survive_goaway:
            return preface + data  # the library gets the octets as they came
        return preface + bytes(passed)

    def _note_settings(self, body: bytes) -> None:
        for i in range(0, len(body) - 5, 6):
            if int.from_bytes(body[i:i + 2], "big") == int(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL):
                self.connect_protocol_values.append(int.from_bytes(body[i + 2:i + 6], "big"))

    async def ping(self, data: bytes, timeout: float) -> bool:
        """An HTTP/2 PING; True once its ACK arrived (the peer has processed every frame before it)."""
        acked = self._pings[data] = asyncio.Event()
        try:
            self.conn.ping(data)
            self.flush()
            await asyncio.wait_for(acked.wait(), timeout)
            return True
        except (TimeoutError, h2.exceptions.ProtocolError):
            return False
        finally:
            self._pings.pop(data, None)

    def write_raw_frame(self, ftype: int, flags: int, stream_id: int, body: bytes) -> None:
        """A frame the h2 library would not send in its state (a GOAWAY after which streams go on)."""
        self.writer.write(len(body).to_bytes(3, "big") + bytes([ftype, flags]) + stream_id.to_bytes(4, "big") + body)

    def _lost(self, why: str) -> None:
        self.error = self.error or why
        for s in self.streams.values():
            if not s.ended_by_peer and s.reset_code is None:
                s.reset_code = _LOST  # the connection went away under an open stream: a reset
            s.headers_ready.set()
            s._wake()
        self.settings_seen.set()
        self.incoming.put_nowait(None)
        self.closed.set()

    def close_soon(self) -> None:
        """GOAWAY NO_ERROR, then close TCP (streams still open are cut)."""
        with contextlib.suppress(Exception):
            self.conn.close_connection()
            self.flush()
        with contextlib.suppress(Exception):
            self.writer.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    async def wait_closed(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    # -- events --------------------------------------------------------------------------------

    def _on_event(self, e: h2.events.Event) -> None:
        if isinstance(e, h2.events.RemoteSettingsChanged):
            for code, cs in e.changed_settings.items():
                self.remote_settings[int(code)] = cs.new_value
            self.settings_seen.set()
            self._wake_all()  # a new initial window may let writes go on
        elif isinstance(e, h2.events.RequestReceived):
            s = self._stream(e.stream_id)
            s.headers = list(e.headers or [])
            s.headers_ready.set()
            self.incoming.put_nowait(s)
        elif isinstance(e, h2.events.ResponseReceived | h2.events.InformationalResponseReceived):
            s = self._stream(e.stream_id)
            if isinstance(e, h2.events.ResponseReceived) or not s.headers:
                s.headers = list(e.headers or [])
            s.headers_ready.set()
        elif isinstance(e, h2.events.TrailersReceived):
            self._stream(e.stream_id).trailers = list(e.headers or [])
        elif isinstance(e, h2.events.DataReceived):
            self._on_data(e)
        elif isinstance(e, h2.events.StreamEnded):
            s = self._stream(e.stream_id)
            s.ended_by_peer = True
            s.headers_ready.set()
            s._wake()
        elif isinstance(e, h2.events.StreamReset):
            s = self._stream(e.stream_id)
            s.reset_code = int(e.error_code or 0)
            s.headers_ready.set()
            s._wake()
        elif isinstance(e, h2.events.PingAckReceived):
            waiter = self._pings.get(e.ping_data or b"")
            if waiter is not None:
                waiter.set()
        elif isinstance(e, h2.events.WindowUpdated):
            self._wake_all()
        elif isinstance(e, h2.events.ConnectionTerminated):
            self.goaway = e
            for sid, s in self.streams.items():
                if e.last_stream_id is not None and sid > e.last_stream_id and s.reset_code is None:
                    s.reset_code = int(e.error_code or 0)
                    s.headers_ready.set()
                    s._wake()

    def _on_data(self, e: h2.events.DataReceived) -> None:
        s = self._stream(e.stream_id)
        data = e.data or b""
        padding = (e.flow_controlled_length or 0) - len(data)
        if padding > 0:  # padding is nobody's to read: give its window back at once
            self.conn.acknowledge_received_data(padding, e.stream_id)
        s._feed(data)

    def _stream(self, stream_id: int) -> H2Stream:
        s = self.streams.get(stream_id)
        if s is None:
            s = self.streams[stream_id] = H2Stream(self, stream_id)
        return s

    def _wake_all(self) -> None:
        for s in self.streams.values():
            s._wake()

    # -- sending -------------------------------------------------------------------------------

    def open_stream(self, headers: Headers, *, end_stream: bool = False, owns_link: bool = False) -> H2Stream:
        """A new client stream with these request headers."""
        sid = self.conn.get_next_available_stream_id()
        s = self.streams[sid] = H2Stream(self, sid, owns_link=owns_link)
        s.request = list(headers)
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        if end_stream:
            s.ended_by_me = True
        self.flush()
        return s

    def respond(self, s: H2Stream, headers: Headers, *, end_stream: bool = False) -> None:
        self.conn.send_headers(s.id, headers, end_stream=end_stream)
        if end_stream:
            s.ended_by_me = True
        self.flush()

    @staticmethod
    def end_reading(s: H2Stream) -> None:
        """After a reset by us: the reader raises ConnectionResetError once what arrived is read."""
        if s.reset_code is None:
            s.reset_code = _BY_US
        s._wake()

    def consumed(self, stream_id: int, n: int) -> None:
        """The reader took `n` octets: give them back to the peer's windows (WINDOW_UPDATE).

        A server gives them back at once. The suite's client gives them back once half of a
        window has been read, and only after a PING round trip: every DATA frame the peer sent
        before it read that PING arrives before the ACK and is counted against the windows the
        peer knew of, so a peer that ignores flow control (RFC 9113 §6.9.1) is caught whatever
        the sizes of the reads the octets came in, not only when one read holds more than a
        window. A peer that keeps to the windows waits one round trip more per half window.
        """
        if n <= 0 or self.closed.is_set():
            return
        if not self._client:
            self._give(stream_id, n)
            self.flush()
            return
        self._owed[stream_id] = self._owed.get(stream_id, 0) + n
        if self._giving_back is None and self._owing():
            self._giving_back = asyncio.get_running_loop().create_task(self._give_back())

    def _owing(self) -> bool:
        """Whether half a stream window, or half the connection window, waits to be given back."""
        half = self.conn.local_settings.initial_window_size // 2
        return any(n >= half for n in self._owed.values()) or sum(self._owed.values()) >= self._window // 2

    async def _give_back(self) -> None:
        try:
            while self._owing() and not self.closed.is_set():
                owed = dict(self._owed)
                self._barriers += 1
                await self.ping(b"window%02x" % (self._barriers & 0xFF), _BARRIER_WAIT)
                for stream_id, n in owed.items():
                    self._give(stream_id, n)
                    left = self._owed.get(stream_id, 0) - n
                    if left > 0:
                        self._owed[stream_id] = left
                    else:
                        self._owed.pop(stream_id, None)
                self.flush()
        finally:
            self._giving_back = None

    def _give(self, stream_id: int, n: int) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError):
            self.conn.acknowledge_received_data(n, stream_id)

    def reset_stream(self, s: H2Stream, code: int, *, end_reading: bool = True) -> None:
        """RST_STREAM; `end_reading`: the stream's reader raises at once (else on end_reading())."""
        if not s._ending_by_reset(end_reading):
            return
        with contextlib.suppress(Exception):
            self.conn.reset_stream(s.id, code)
            self.flush()

    def pump(self) -> None:
        """Send what the streams hold, as far as the peer's windows allow."""
        if self.closed.is_set():
            for s in self.streams.values():
                s._wake()
            return
        for s in list(self.streams.values()):
            self._pump_stream(s)
        self.flush()

    def _pump_stream(self, s: H2Stream) -> None:
        try:
            while s._out:
                room = min(self.conn.local_flow_control_window(s.id), self.conn.max_outbound_frame_size)
                if room <= 0:
                    return  # wait for the peer's WINDOW_UPDATE
                self.conn.send_data(s.id, s._take(room))
            if s._eof_pending:
                s._eof_pending = False
                s.ended_by_me = True
                self.conn.end_stream(s.id)
        except (h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError):
            s._out.clear()
            s._eof_pending = False
            if s.reset_code is None:
                s.reset_code = _LOST
        finally:
            s._wake()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()


def _error_name(code: int) -> str:
    if code == _BY_US:
        return "reset by the suite"
    if code < 0:
        return "the connection was lost"
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error code {code}"
